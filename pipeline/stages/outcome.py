"""Results of stages and tasks as plain records, and the one helper that runs a stage with its sidecar."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.stages.runtime import TaskContext, stage_hashes
from pipeline.stages.store import ClipError

__all__ = ["Outcome", "TaskResult", "run_stage", "check_stage", "is_bad_input"]


@dataclass(frozen=True)
class Outcome:
    """One stage for one key. ``status``: ``ran`` (computed now), ``cached`` (up to date), ``failed``."""

    stage: str
    key: str
    status: str
    output_sha256: str | None = None
    reason: str | None = None
    seconds: float = 0.0
    cached_failure: bool = False

    @property
    def ok(self) -> bool:
        return self.status in ("ran", "cached")


@dataclass
class TaskResult:
    """What a task sends back to the scheduler (no arrays)."""

    task: str
    key: str
    outcomes: list[Outcome] = field(default_factory=list)

    def failure(self) -> Outcome | None:
        return next((o for o in self.outcomes if not o.ok), None)

    def get(self, stage: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.stage == stage), None)

    def output(self, stage: str) -> str | None:
        o = self.get(stage)
        return o.output_sha256 if o is not None and o.ok else None


def is_bad_input(exc: BaseException) -> bool:
    """Deterministic failures of the data (cached in the sidecar) versus errors worth retrying."""
    if isinstance(exc, ClipError):
        return True
    return type(exc).__name__ in ("FitError", "RavdessNameError", "MediaError", "AudioError")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ClipError) or is_bad_input(exc):
        return str(exc) or type(exc).__name__
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


def run_stage(
    ctx: TaskContext,
    stage: str,
    key: str,
    input_hash: str,
    compute: Callable[[], tuple[str, str]],
    extra: dict | None = None,
) -> Outcome:
    """Skip ``stage`` for ``key`` when its sidecar matches, else run ``compute`` and record the result.

    ``compute`` writes the artefact atomically and returns ``(file name, content hash)``; the file
    name is relative to ``work/<stage>/``. Exceptions become failed outcomes (bad input is cached).
    """
    store = ctx.store
    hashes = stage_hashes(ctx, stage, input_hash, extra)
    if stage not in ctx.force:
        sc = store.up_to_date(stage, key, *hashes)
        if sc is not None:
            if sc.ok:
                return Outcome(stage, key, "cached", sc.output_sha256, seconds=sc.seconds)
            return Outcome(stage, key, "failed", reason=sc.reason, seconds=sc.seconds, cached_failure=True)
    t0 = time.perf_counter()
    try:
        output, digest = compute()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure of one clip is recorded, never fatal
        bad = is_bad_input(exc)
        sc = store.record_failed(stage, key, hashes, _reason(exc), cacheable=bad, seconds=time.perf_counter() - t0)
        return Outcome(stage, key, "failed", reason=sc.reason, seconds=sc.seconds)
    sc = store.record_ok(stage, key, hashes, output, digest, time.perf_counter() - t0)
    return Outcome(stage, key, "ran", digest, seconds=sc.seconds)


def check_stage(ctx: TaskContext, stage: str, key: str, input_hash: str, extra: dict | None = None) -> Outcome | None:
    """The outcome of ``stage`` if it is up to date (planning without running), else ``None``."""
    if stage in ctx.force:
        return None
    sc = ctx.store.up_to_date(stage, key, *stage_hashes(ctx, stage, input_hash, extra))
    if sc is None:
        return None
    if sc.ok:
        return Outcome(stage, key, "cached", sc.output_sha256, seconds=sc.seconds)
    return Outcome(stage, key, "failed", reason=sc.reason, seconds=sc.seconds, cached_failure=True)
