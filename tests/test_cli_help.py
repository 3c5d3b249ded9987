"""Both console scripts answer --help, list every command, and every command line the docs show
names options the command has."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
ENV = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
COMMANDS = {
    "emoface": {"validate", "export-faceformer", "evaluate", "diagnose", "animate", "render", "train"},
    "build-dataset": {"ravdess", "synth", "vocaset"},
}
MODULE = {"emoface": "emoface", "build-dataset": "pipeline"}


def _app(script: str) -> typer.Typer:
    if script == "emoface":
        from emoface.cli import app
    else:
        from pipeline.cli import app
    return app


def _listed_commands(help_text: str) -> set[str]:
    """The command names in the ``Commands`` panel of a Typer help page."""
    panel = help_text.split("Commands", 1)[1]
    return set(re.findall(r"^\W*([a-z][a-z-]+)\s{2,}", panel, re.M))


@pytest.mark.parametrize("script", sorted(COMMANDS))
def test_help_lists_every_command(script):
    out = subprocess.run([sys.executable, "-m", MODULE[script], "--help"], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, **ENV}, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.lstrip().startswith("Usage:")
    assert _listed_commands(out.stdout) == COMMANDS[script]


def _documented_command_lines() -> list[tuple[str, str, str, str]]:
    """``(script, command, options text, where)`` for every command line in README.md and docs/*.md.

    A line starting with ``emoface CMD`` or ``build-dataset CMD`` is continued by lines ending in
    a backslash and by indented lines that start with ``[`` or ``-`` (a synopsis).
    """
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            m = re.match(r"^\s*(emoface|build-dataset) ([a-z][a-z-]*)(.*)$", line)
            if not m:
                continue
            text, j = m.group(3), i
            while j + 1 < len(lines) and (lines[j].rstrip().endswith("\\") or re.match(r"^\s+[\[-]", lines[j + 1])):
                j += 1
                text += " " + lines[j]
            found.append((m.group(1), m.group(2), text.split("#")[0], f"{path.relative_to(ROOT)}:{i + 1}"))
    return found


def test_documented_command_lines_match_the_clis():
    documented = _documented_command_lines()
    assert {(s, c) for s, c, _, _ in documented} >= {("build-dataset", "ravdess"), ("build-dataset", "synth"),
                                                    ("emoface", "train"), ("emoface", "evaluate"), ("emoface", "animate")}
    runner = CliRunner()
    pages: dict[tuple[str, str], str] = {}
    problems = []
    for script, command, text, where in documented:
        if command not in COMMANDS[script]:
            problems.append(f"{where}: {script} has no command {command!r}")
            continue
        if (script, command) not in pages:
            res = runner.invoke(_app(script), [command, "--help"], env=ENV)
            assert res.exit_code == 0, f"{script} {command} --help: {res.output}"
            assert f"Usage: {script} {command} " in res.output, res.output[:300]
            pages[script, command] = res.output
        known = set(re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", pages[script, command]))
        for option in re.findall(r"(?<![\w./-])(--?[a-z][a-z0-9-]*)", text):
            if option not in known:
                problems.append(f"{where}: {script} {command} has no option {option}")
    assert not problems, "\n".join(problems)
