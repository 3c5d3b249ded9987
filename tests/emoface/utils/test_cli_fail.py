"""``emoface.utils.cli.fail``: an error is one physical line on stderr, whatever its length, with the exit code asked for."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from emoface.utils.cli import fail


def _app(message: str, code: int) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def main() -> None:
        raise fail(message, code)

    return app


def test_a_long_message_stays_one_physical_line():
    long = "/a/very/long/path/" + "x" * 300 + ".h5: the run was trained on another topology\n(see docs)"
    for code in (1, 2):
        r = CliRunner().invoke(_app(long, code), [], terminal_width=40)
        assert r.exit_code == code and isinstance(r.exception, SystemExit)
        assert r.stdout == "" and r.stderr.splitlines() == [f"error: {long.replace(chr(10), ' ')}"]
