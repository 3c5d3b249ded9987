"""A toy stage for the registry tests: the mean front-facing vertex of each frame, from the canonical artefact."""

from __future__ import annotations

import numpy as np

from pipeline.stages.store import ClipError

#: clip ids for which the toy stage fails (a bad-input failure, cached like any other)
FAIL: set[str] = set()


def toy_stage(ctx, clip, memo):
    if clip.clip_id in FAIL:
        raise ClipError("toy: refused")
    canonical = memo.get("canonical") or ctx.store.load_npz("canonical", clip.clip_id)
    return ctx.store.write_npz("toy", clip.clip_id, {"centroid": np.asarray(canonical["vertices"]).mean(axis=1)})


def toy_media_stage(ctx, clip, memo):
    """A media-task stage after the frame pass: the clip's audio RMS, from the decode artefact."""
    if clip.clip_id in FAIL:
        raise ClipError("toy_media: refused")
    audio = np.asarray(ctx.store.load_npz("decode", clip.clip_id)["audio"], np.float64)
    return ctx.store.write_npz("toy_media", clip.clip_id, {"rms": np.array([np.sqrt(np.mean(audio ** 2))])})
