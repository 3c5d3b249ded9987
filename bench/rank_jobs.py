"""Running the ranking experiment's commands (bench/rank.py, bench/rank_stages.py): ``python -m`` argv,
jobs a few at a time with their output to a log, a stage's failures as one error, atomic JSON.

The tests replace :func:`_run_parallel` here (``bench.rank_jobs._run_parallel``) to record the jobs instead of running them.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _cli(module: str, *args: object) -> list[str]:
    return [sys.executable, "-m", module, *map(str, args)]


def _run(argv: list[str], log: Path | None = None) -> int:
    """Run one command (its output to ``log`` when given); its exit code."""
    return _run_parallel([(argv, log)], 1)[0]


def _run_parallel(jobs: Sequence[tuple[list[str], Path | None]], width: int) -> list[int]:
    """Run ``(argv, log)`` jobs, ``width`` at a time; their exit codes in order."""
    codes: list[int | None] = [None] * len(jobs)
    running: dict[int, tuple[subprocess.Popen, object]] = {}
    todo = list(range(len(jobs)))
    while todo or running:
        while todo and len(running) < width:
            i = todo.pop(0)
            argv, log = jobs[i]
            print("$ " + " ".join(argv).replace(sys.executable + " -m ", "") + (f"   (log: {log})" if log else ""), flush=True)
            if log is not None:
                log.parent.mkdir(parents=True, exist_ok=True)
            out = open(log, "ab") if log is not None else None  # noqa: SIM115 - closed when the process ends
            running[i] = (subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT if out else None), out)
        for i, (p, out) in list(running.items()):
            if p.poll() is not None:
                codes[i] = p.returncode
                if out is not None:
                    out.close()
                del running[i]
        time.sleep(0.2)
    return [int(c) for c in codes]  # type: ignore[arg-type]


def _run_stage(jobs: Sequence[tuple[list[str], Path | None]], width: int, what: str) -> None:
    """Run a stage's jobs, ``width`` at a time (:attr:`RankPlan.width`); a ``RuntimeError`` naming the logs of those that failed."""
    codes = _run_parallel(jobs, width)
    failed = [str(j[1]) for j, c in zip(jobs, codes) if c != 0]
    if failed:
        raise RuntimeError(f"{what} failed; see {', '.join(failed)}")


def _write_json(path: Path, data: dict) -> None:
    from emoface.utils.atomic import write_json_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, data)
