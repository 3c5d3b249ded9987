"""The machine a benchmark ran on, and the load around it (the machine may be shared).

Every result that ``bench.run_all`` writes carries ``meta``: the machine (cores, CPU model
from ``/proc/cpuinfo``, memory, GPUs seen by ``torch.cuda``, software versions), the start and
end time, the wall time of the section and the load average (1, 5, 15 min) at its start and
end, so that a reader can judge numbers taken while other jobs ran.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path


def cpu_model() -> str:
    """The ``model name`` of the first CPU in ``/proc/cpuinfo`` (else ``platform.processor()``)."""
    from emoface.utils.cpu import cpuinfo

    return cpuinfo().get("model name") or platform.processor() or platform.machine()


def memory_gib() -> float | None:
    """Total memory in GiB from ``/proc/meminfo``."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def gpus() -> list[str]:
    """Names of the CUDA devices torch sees (empty on a CPU-only machine or build)."""
    try:
        import torch

        if torch.cuda.is_available():
            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # a broken CUDA setup is "no GPU" for the record
        pass
    return []


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    """Cores, CPU model, memory, GPUs and the versions that matter for the numbers."""
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "arch": platform.machine(),
        "memory_gib": memory_gib(),
        "gpus": gpus(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {d: _version(d) for d in ("torch", "transformers", "mediapipe", "opencv-contrib-python", "numpy")},
    }


def machine_label(info: dict) -> str:
    """One short line, e.g. ``2 cores, Intel(R) Xeon(R) Processor, no GPU``."""
    g = info.get("gpus") or []
    gpu = f"{len(g)}x {g[0]}" if g else "no GPU"
    return f"{info.get('cores')} cores, {info.get('cpu_model')}, {gpu}"


def load_average() -> list[float]:
    """The 1-, 5- and 15-minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def git_commit(root: Path | None = None, dirty: str = "+changes") -> str | None:
    """The short commit of the git checkout whose top is ``root`` (default: this repository), with ``dirty``
    appended when its tracked files differ from it; None outside git, and for a folder that is not a
    checkout's top (an export inside another checkout has no commit of its own)."""
    import subprocess

    root = (root or Path(__file__).resolve().parents[1]).resolve()

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:
            return None
        head = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return head + (dirty if changed else "") if head else None


@contextmanager
def section(name: str, command: str) -> Iterator[dict]:
    """Times a benchmark section; yields its ``meta`` dict, completed on exit.

    ``meta`` holds ``name``, ``command`` (what reproduces the section alone), ``machine``,
    ``started``/``finished`` (local ISO time), ``date``, ``wall_s``, ``load_start``/
    ``load_end`` (1/5/15-minute load averages) and ``commit`` (:func:`git_commit`).
    """
    meta = {
        "name": name,
        "command": command,
        "machine": machine_info(),
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "date": dt.date.today().isoformat(),
        "load_start": load_average(),
        "commit": git_commit(),
    }
    t0 = time.perf_counter()
    try:
        yield meta
    finally:
        meta["wall_s"] = round(time.perf_counter() - t0, 1)
        meta["finished"] = dt.datetime.now().isoformat(timespec="seconds")
        meta["load_end"] = load_average()
