"""Checks of a command's result in the CLI tests (``typer.testing.CliRunner``)."""

from __future__ import annotations

from click.testing import Result

__all__ = ["one_line_error"]


def one_line_error(result: Result, code: int, *needles: str, alone: bool = False) -> str:
    """Assert that the command exited with ``code`` through one ``error:`` line holding every needle, no traceback.

    ``alone``: that line is all the command printed (blank lines aside). Returns the line.
    """
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not an uncaught exception
    assert "Traceback" not in result.output, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and (not alone or lines == errors), result.output
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]
