"""How an ``emoface`` command ends on an error: one ``error: ...`` line on stderr, then an exit code."""

from __future__ import annotations

import typer

__all__ = ["fail"]


def fail(message: object, code: int, label: str = "error") -> typer.Exit:
    """Print ``label: message`` to stderr as one physical line and return the Exit for the caller to raise.

    The line is never wrapped, whatever the terminal's width (line breaks inside ``message`` become
    spaces). ``code``: 2 for a setup or usage error (nothing was done), 1 for a run that failed.
    """
    text = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    typer.echo(f"{label}: {text}", err=True)
    return typer.Exit(code)
