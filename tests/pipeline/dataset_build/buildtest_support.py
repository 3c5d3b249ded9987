"""Paths and helpers shared by the build tests (imported by name: a module called ``conftest``
is ambiguous when several test folders have one)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

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


def datasets(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 file, by its path in the file (to compare two builds' splits array for array)."""
    import h5py

    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def proc_stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of a live process, None once it is gone (or a zombie). Reads /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[1]), fields[19]) if fields[0] != "Z" else None


def descendants(root: int) -> dict[int, str]:
    """Every live process below ``root`` (pid -> start time, so a reused pid is not mistaken for it)."""
    children: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := proc_stat(int(entry))) is not None:
            children.setdefault(st[0], []).append(int(entry))
            starts[int(entry)] = st[1]
    found: dict[int, str] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found[pid] = starts[pid]
        todo.extend(children.get(pid, []))
    return found


def cmdline(pid: int) -> str:
    """A process's command line ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
