"""The units of work the executors run: one function per task kind, each a chain of stages.

========== ============================== =====================================================
task       key                            stages (each with its own artefact and sidecar)
========== ============================== =====================================================
media      clip id                        decode, landmarks (one streamed pass over the frames),
                                          then any media stage declared after them
identity   actor (``Actor_XX``)           identity (barrier: all of the actor's landmarks)
fit        clip id                        fit, smooth, canonical, qa
report     ``report``                     the QA report (barrier: every clip)
package    split (``train``/``val``/...)  package (barrier: every clip of the split)
========== ============================== =====================================================

The stages of a task, their order and what each reads come from
:mod:`pipeline.stages.registry`. A stage's input hash is built from exactly what it reads
(:func:`clip_input`), so the same functions decide, in the main process, which tasks need
to run at all (:mod:`pipeline.build` plans a no-op rerun without starting a worker).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.sources.manifest import SourceClip
from pipeline.stages.decode import decode_clip, stream_frames
from pipeline.stages.outcome import Outcome, TaskResult, check_stage, run_stage
from pipeline.stages.registry import FRAME_PASS, Stage, resolve
from pipeline.stages.runtime import TaskContext
from pipeline.stages.store import ClipError, combine_hashes

if TYPE_CHECKING:
    from pipeline.stages.landmarks import LandmarkCollector

__all__ = [
    "clip_input",
    "identity_input",
    "run_media_task",
    "run_identity_task",
    "run_fit_task",
    "check_media_task",
    "check_fit_task",
]


# -- input hashes (shared by planning and running) ----------------------------------------------
def _gt_signature(clip: SourceClip) -> str | None:
    if not clip.ground_truth:
        return None
    try:
        st = Path(clip.ground_truth).stat()
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


def clip_input(ctx: TaskContext, stage: str, clip: SourceClip, known: dict[str, str | None]) -> str | None:
    """The input hash of a per-clip ``stage``: what it ``reads`` in order (``None`` while an upstream hash is unknown).

    Clip facts: ``clip_id``; ``source`` (the file's sha256); ``fps`` (frames are sampled at
    ``decode.fps``); ``ground_truth`` (size and mtime of the corpus's ground truth, if any).
    """
    facts = {"clip_id": lambda: clip.clip_id, "source": lambda: clip.sha256, "fps": lambda: ctx.cfg.decode.fps,
             "ground_truth": lambda: _gt_signature(clip)}
    parts: list[object] = []
    for name in ctx.stages[stage].reads:
        if name in facts:
            parts.append(facts[name]())
        elif known.get(name):
            parts.append(known[name])
        else:
            return None
    return combine_hashes(*parts)


def identity_input(members: list[tuple[str, str]]) -> str:
    """``members``: ``(clip_id, landmarks hash)`` of the actor's clips with landmarks."""
    return combine_hashes(sorted(members))


# -- planning ------------------------------------------------------------------------------------
def _check_chain(ctx: TaskContext, task: str, clip: SourceClip, upstream: dict[str, str | None]) -> TaskResult | None:
    """The result of ``task``'s stages for ``clip`` when all are up to date (or a cached failure ends them)."""
    known = dict(upstream)
    outcomes: list[Outcome] = []
    for stage in ctx.stages.of_task(task):
        input_hash = clip_input(ctx, stage.name, clip, known)
        o = None if input_hash is None else check_stage(ctx, stage.name, clip.clip_id, input_hash)
        if o is None:
            return None
        outcomes.append(o)
        if not o.ok:
            break
        known[stage.name] = o.output_sha256
    return TaskResult(task, clip.clip_id, outcomes)


def check_media_task(ctx: TaskContext, clip: SourceClip) -> TaskResult | None:
    """The media task's result when nothing needs to run, else ``None``."""
    return _check_chain(ctx, "media", clip, {})


def check_fit_task(ctx: TaskContext, clip: SourceClip, upstream: dict[str, str | None]) -> TaskResult | None:
    return _check_chain(ctx, "fit", clip, upstream)


# -- media: decode + landmarks -------------------------------------------------------------------
class _TimedSink:
    """Feeds frames to the landmark collector, timing it and keeping its first error (decoding goes on)."""

    def __init__(self, collector: LandmarkCollector):
        self.collector = collector
        self.error: BaseException | None = None
        self.seconds = 0.0

    def __call__(self, index: int, frame: np.ndarray) -> None:
        if self.error is not None or self.collector is None:
            return
        t0 = time.perf_counter()
        try:
            self.collector.feed(index, frame)
        except Exception as exc:  # noqa: BLE001 - reported as the landmarks stage's failure
            self.error = exc
        self.seconds += time.perf_counter() - t0


def run_media_task(ctx: TaskContext, clip: SourceClip) -> TaskResult:
    """The clip's pass over its frames (decode, landmarks), then the media task's other stages in registry order.

    Those stages (declared after the frame pass, each with its run function) run like the fit
    task's: they read what the pass wrote back from the store.
    """
    outcomes = _frame_pass(ctx, clip)
    if all(o.ok for o in outcomes):
        known = {o.stage: o.output_sha256 for o in outcomes}
        outcomes += _run_chain(ctx, [s for s in ctx.stages.of_task("media") if s.name not in FRAME_PASS], clip, known, {})
    return TaskResult("media", clip.clip_id, outcomes)


def _frame_pass(ctx: TaskContext, clip: SourceClip) -> list[Outcome]:
    """Decode the clip and track its landmarks in one pass over the frames (each stage resumable)."""
    from pipeline.stages.landmarks import LandmarkCollector

    store = ctx.store
    cid = clip.clip_id
    inputs = {"decode": clip_input(ctx, "decode", clip, {}), "landmarks": clip_input(ctx, "landmarks", clip, {})}
    dec = check_stage(ctx, "decode", cid, inputs["decode"])
    if dec is not None and not dec.ok:
        return [dec]
    lmk = check_stage(ctx, "landmarks", cid, inputs["landmarks"])
    if dec is not None and lmk is not None:
        return [dec, lmk]

    with contextlib.ExitStack() as stack:
        collector = None
        collector_error: BaseException | None = None
        if lmk is None:
            try:
                collector = stack.enter_context(LandmarkCollector(ctx.cfg.landmarks, ctx.cfg.decode.fps, ctx.detectors))
            except Exception as exc:  # noqa: BLE001
                collector_error = exc
        sink = _TimedSink(collector)
        sink.error = collector_error

        if dec is None:
            def compute_decode() -> tuple[str, str]:
                arrays = decode_clip(clip.path, ctx.cfg.decode, sink if collector is not None else None, ctx.ffmpeg_threads,
                                     tmp_dir=store.folder("decode"))
                return store.write_npz("decode", cid, arrays)

            dec = run_stage(ctx, "decode", cid, inputs["decode"], compute_decode)
            if not dec.ok:
                return [dec]
            if sink.seconds:  # the landmarker's share of the fused pass is the landmarks stage's time
                dec = Outcome(dec.stage, dec.key, dec.status, dec.output_sha256, dec.reason, max(0.0, dec.seconds - sink.seconds))
        elif collector is not None:
            try:
                stream_frames(clip.path, ctx.cfg.decode.fps, sink, ctx.ffmpeg_threads)
            except Exception as exc:  # noqa: BLE001
                sink.error = sink.error or exc

        if lmk is None:
            def compute_landmarks() -> tuple[str, str]:
                if sink.error is not None:
                    raise sink.error
                return store.write_npz("landmarks", cid, collector.arrays())

            t_feed = sink.seconds
            lmk = run_stage(ctx, "landmarks", cid, inputs["landmarks"], compute_landmarks)
            lmk = Outcome(lmk.stage, lmk.key, lmk.status, lmk.output_sha256, lmk.reason, lmk.seconds + t_feed, lmk.cached_failure)
    return [dec, lmk]


# -- identity ------------------------------------------------------------------------------------
def run_identity_task(ctx: TaskContext, actor: str, members: list[tuple[str, str]]) -> TaskResult:
    """Fit one actor's shape (and camera) from the landmark tracks of its clips."""
    from pipeline.stages import fitstages

    def compute() -> tuple[str, str]:
        return fitstages.identity_stage(ctx, actor, [cid for cid, _ in sorted(members)])

    return TaskResult("identity", actor, [run_stage(ctx, "identity", actor, identity_input(members), compute)])


# -- fit, smooth, canonical, qa (and any stage the registry adds to the fit task) ------------------
def run_fit_task(ctx: TaskContext, clip: SourceClip, upstream: dict[str, str | None]) -> TaskResult:
    """``upstream``: content hashes of the clip's earlier artefacts (``decode``, ``landmarks``, its actor's ``identity``).

    Runs the fit task's stages in registry order; each stage's run function gets a shared
    ``memo`` so that the next stage need not read back what the previous one just wrote.
    """
    return TaskResult("fit", clip.clip_id, _run_chain(ctx, ctx.stages.of_task("fit"), clip, dict(upstream), {}))


def _run_chain(ctx: TaskContext, stages: Sequence[Stage], clip: SourceClip, known: dict[str, str | None],
               memo: dict[str, object]) -> list[Outcome]:
    """Run ``stages`` (each with its run function) for ``clip`` in order, until one fails."""
    cid = clip.clip_id
    outcomes: list[Outcome] = []
    for stage in stages:
        input_hash = clip_input(ctx, stage.name, clip, known)
        if input_hash is None:
            raise ClipError(f"{cid}: stage {stage.name} started without its inputs ({', '.join(stage.reads)})")
        body = resolve(stage.run)  # type: ignore[arg-type]  # the registry checks clip stages have one
        o = run_stage(ctx, stage.name, cid, input_hash, lambda: body(ctx, clip, memo))
        outcomes.append(o)
        if not o.ok:
            break
        known[stage.name] = o.output_sha256
    return outcomes
