"""Nothing a user gets points outside the repository: a clone has no folder beside it.

Runtime code (``emoface/``, ``pipeline/``), the configs, the docs and the build files may not
name files kept elsewhere (the maintainers' DESIGN.md / PAPER.md / STYLE.md, ``../shared``,
absolute ``/work/`` paths) nor build paths that leave the repository (``REPO.parent / ...``,
``REPO / ".."``). Tests and benchmarks may read optional assets beside the repository when
they skip (or fall back) with a reason when these are absent, so they are not scanned here.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ["emoface", "pipeline", "configs", "docs", "README.md", "BENCHMARKS.md", "Makefile", "pyproject.toml", "setup.py", ".ci"]
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".cfg", ""}

FORBIDDEN = {
    "a maintainers' document outside the repo": re.compile(r"\b(?:DESIGN|PAPER|STYLE)\.md\b|\b(?:DESIGN|PAPER)\s+(?:section\s+)?\d"),
    "the shared folder beside the repo": re.compile(r"\.\./shared|\bshared/(?:assets|anchors)\b|[\"']shared[\"']"),
    "an absolute /work/ path": re.compile(r"(?:^|[\s\"'`(=])/work/"),
    "a path built above the repo": re.compile(r"(?:REPO|ROOT|HERE)\.parent\b|/\s*[\"']\.\.[\"']|\.parent\.parent\.parent"),
    "a relative path out of the folder": re.compile(r"(?<![\w.])\.\./"),
}
# Relative paths that stay inside a build's output folder: sidecars under OUT/work/<stage>/ name
# their artefact relative to themselves.
ALLOWED = {
    ("pipeline/stages/package.py", 'f"../../{path.name}"'),
    ("pipeline/stages/qastage.py", '"../../qa/report.json"'),
}


def _scanned_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", *SCANNED],
                            cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout ({listed.stderr.strip()}): cannot list the repository's files")
    paths = [ROOT / line for line in listed.stdout.splitlines()]
    return [p for p in paths if p.is_file() and (p.suffix in TEXT_SUFFIXES or p.name == "Makefile")]


def offending_lines(rel: str, text: str) -> list[str]:
    """``rel:line: what`` for every reference outside the repository in ``text``."""
    hits = []
    for n, line in enumerate(text.splitlines(), 1):
        for what, pattern in FORBIDDEN.items():
            if pattern.search(line) and not any(rel == f and snippet in line for f, snippet in ALLOWED):
                hits.append(f"{rel}:{n}: {what}: {line.strip()[:120]}")
    return hits


def test_patterns_catch_the_references_that_were_there():
    """The checks recognise each kind of reference this repository had (so the scan can fail)."""
    bad = {
        "configs/x.yaml": "# state follow DESIGN.md section 6 (see docs/model.md)",
        "docs/x.md": "The protocol follows PAPER.md 3.3.",
        "emoface/x.py": '"""Mesh Attention (PAPER 1.5)."""',
        "pipeline/demo.py": 'SHARED_AUDIO = REPO.parent / "shared" / "assets" / "a.wav"',
        "bench/x.py": 'CLIP = REPO / ".." / "shared" / "assets" / "v.mp4"',
        "README.md": "clips in `../shared/assets` skip",
        "Makefile": "\tcp /work/main/x .",
    }
    for rel, line in bad.items():
        assert offending_lines(rel, line), f"not caught: {line}"
    ok = ['"""Artefacts under ``<out>/work/<stage>/``."""', "split (FaceFormer's, paper §4.1)", "EmoFace §4.2"]
    assert not any(offending_lines("docs/x.md", line) for line in ok)


def test_nothing_points_outside_the_repository():
    files = _scanned_files()
    assert any(p.name == "demo.py" for p in files) and any(p.suffix == ".yaml" for p in files)
    hits = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary assets (the landmarker model)
        hits += offending_lines(path.relative_to(ROOT).as_posix(), text)
    assert not hits, "\n".join(hits)
