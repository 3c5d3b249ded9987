"""Paths and helpers shared by the build tests (imported by name: a module called ``conftest``
is ambiguous when several test folders have one)."""

from __future__ import annotations

import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURE = HERE.parents[1] / "data" / "ravdess" / "actor05_neutral_1s.mp4"
SHARED_CLIP = HERE.parents[2] / ".." / "shared" / "assets" / "ravdess" / "video" / "01-01-01-01-02-01-05.mp4"
BACKEND = "buildtest_backend:DetectorBackend"


def make_corpus(root: Path, clips: dict[str, Path]) -> Path:
    """``clips``: ``"Actor_XX/<name>.mp4" -> source file`` copied into a RAVDESS layout under ``root``."""
    for rel, source in clips.items():
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, dest)
    return root
