"""The units of work the executors run: one function per task kind, each a chain of stages.

========== ============================== =====================================================
task       key                            stages (each with its own artefact and sidecar)
========== ============================== =====================================================
media      clip id                        decode, landmarks (one streamed pass over the frames)
identity   actor (``Actor_XX``)           identity (barrier: all of the actor's landmarks)
fit        clip id                        fit, smooth, canonical, qa
report     ``report``                     the QA report (barrier: every clip)
package    split (``train``/``val``/...)  package (barrier: every clip of the split)
========== ============================== =====================================================

A stage's input hash is built from the content hashes of exactly the artefacts it reads, so
the same functions decide, in the main process, which tasks need to run at all
(:mod:`pipeline.build` plans a no-op rerun without starting a worker).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.sources.ravdess import SourceClip
from pipeline.stages.decode import decode_clip, stream_frames
from pipeline.stages.outcome import Outcome, TaskResult, check_stage, run_stage
from pipeline.stages.runtime import TaskContext
from pipeline.stages.store import ClipError, combine_hashes

__all__ = [
    "media_inputs",
    "identity_input",
    "fit_inputs",
    "run_media_task",
    "run_identity_task",
    "run_fit_task",
    "check_media_task",
    "check_fit_task",
]


# -- input hashes (shared by planning and running) ----------------------------------------------
def media_inputs(ctx: TaskContext, clip: SourceClip) -> dict[str, str]:
    """Decode reads the source; landmarks reads the source's frames at the decode fps."""
    return {
        "decode": combine_hashes(clip.clip_id, clip.sha256),
        "landmarks": combine_hashes(clip.clip_id, clip.sha256, ctx.cfg.decode.fps),
    }


def identity_input(members: list[tuple[str, str]]) -> str:
    """``members``: ``(clip_id, landmarks hash)`` of the actor's clips with landmarks."""
    return combine_hashes(sorted(members))


def _gt_signature(clip: SourceClip) -> str | None:
    if not clip.ground_truth:
        return None
    try:
        st = Path(clip.ground_truth).stat()
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


def fit_inputs(clip: SourceClip, upstream: dict[str, str | None]) -> dict[str, str] | None:
    """Input hashes of fit, smooth, canonical and qa from the hashes known so far (``None`` = unknown)."""
    lmk, ident = upstream.get("landmarks"), upstream.get("identity")
    if lmk is None or ident is None:
        return None
    out = {"fit": combine_hashes(clip.clip_id, lmk, ident)}
    if upstream.get("fit"):
        out["smooth"] = combine_hashes(upstream["fit"])
    if upstream.get("smooth"):
        out["canonical"] = combine_hashes(upstream["smooth"], ident)
    if upstream.get("canonical"):
        out["qa"] = combine_hashes(
            upstream.get("decode"), lmk, upstream["fit"], upstream["smooth"], upstream["canonical"], _gt_signature(clip)
        )
    return out


# -- planning ------------------------------------------------------------------------------------
def check_media_task(ctx: TaskContext, clip: SourceClip) -> TaskResult | None:
    """The media task's result when nothing needs to run, else ``None``."""
    inputs = media_inputs(ctx, clip)
    dec = check_stage(ctx, "decode", clip.clip_id, inputs["decode"])
    if dec is None:
        return None
    if not dec.ok:
        return TaskResult("media", clip.clip_id, [dec])
    lmk = check_stage(ctx, "landmarks", clip.clip_id, inputs["landmarks"])
    return TaskResult("media", clip.clip_id, [dec, lmk]) if lmk is not None else None


def check_fit_task(ctx: TaskContext, clip: SourceClip, upstream: dict[str, str | None]) -> TaskResult | None:
    known = dict(upstream)
    outcomes: list[Outcome] = []
    for stage in ("fit", "smooth", "canonical", "qa"):
        inputs = fit_inputs(clip, known)
        if inputs is None or stage not in inputs:
            return None
        o = check_stage(ctx, stage, clip.clip_id, inputs[stage])
        if o is None:
            return None
        outcomes.append(o)
        if not o.ok:
            return TaskResult("fit", clip.clip_id, outcomes)
        known[stage] = o.output_sha256
    return TaskResult("fit", clip.clip_id, outcomes)


# -- media: decode + landmarks -------------------------------------------------------------------
class _TimedSink:
    """Feeds frames to the landmark collector, timing it and keeping its first error (decoding goes on)."""

    def __init__(self, collector: Any):
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
    """Decode the clip and track its landmarks in one pass over the frames (each stage resumable)."""
    from pipeline.stages.landmarks import LandmarkCollector

    store = ctx.store
    cid = clip.clip_id
    inputs = media_inputs(ctx, clip)
    dec = check_stage(ctx, "decode", cid, inputs["decode"])
    if dec is not None and not dec.ok:
        return TaskResult("media", cid, [dec])
    lmk = check_stage(ctx, "landmarks", cid, inputs["landmarks"])
    if dec is not None and lmk is not None:
        return TaskResult("media", cid, [dec, lmk])

    with contextlib.ExitStack() as stack:
        collector = None
        collector_error: BaseException | None = None
        if lmk is None:
            try:
                collector = stack.enter_context(LandmarkCollector(ctx.cfg.landmarks, ctx.cfg.decode.fps))
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
                return TaskResult("media", cid, [dec])
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
    return TaskResult("media", cid, [dec, lmk])


# -- identity ------------------------------------------------------------------------------------
def run_identity_task(ctx: TaskContext, actor: str, members: list[tuple[str, str]]) -> TaskResult:
    """Fit one actor's shape (and camera) from the landmark tracks of its clips."""
    from pipeline.stages import fitstages

    def compute() -> tuple[str, str]:
        return fitstages.identity_stage(ctx, actor, [cid for cid, _ in sorted(members)])

    return TaskResult("identity", actor, [run_stage(ctx, "identity", actor, identity_input(members), compute)])


# -- fit, smooth, canonical, qa --------------------------------------------------------------------
def run_fit_task(ctx: TaskContext, clip: SourceClip, upstream: dict[str, str | None]) -> TaskResult:
    """``upstream``: content hashes of the clip's ``decode`` and ``landmarks`` and its actor's ``identity``."""
    from pipeline.stages import fitstages, qastage

    cid = clip.clip_id
    known = dict(upstream)
    memo: dict[str, Any] = {}
    outcomes: list[Outcome] = []
    bodies = {
        "fit": lambda: fitstages.fit_stage(ctx, clip, memo),
        "smooth": lambda: fitstages.smooth_stage(ctx, clip, memo),
        "canonical": lambda: fitstages.canonical_stage(ctx, clip, memo),
        "qa": lambda: qastage.qa_stage(ctx, clip, memo),
    }
    for stage in ("fit", "smooth", "canonical", "qa"):
        inputs = fit_inputs(clip, known)
        if inputs is None:
            raise ClipError(f"{cid}: the fit task started without its landmarks or identity")
        o = run_stage(ctx, stage, cid, inputs[stage], bodies[stage])
        outcomes.append(o)
        if not o.ok:
            break
        known[stage] = o.output_sha256
    return TaskResult("fit", cid, outcomes)
