"""Stages ``identity``, ``fit``, ``smooth`` and ``canonical``: thin wrappers around the back end.

The numbers come from ``pipeline.fitting`` (through the :class:`pipeline.stages.backend.Fitter` protocol);
these functions load the upstream artefacts, call the back end, refuse non-finite results
(a diverged fit is recorded as the clip's failure, never packaged) and write the artefacts:

- ``work/identity/Actor_XX.npz``: the actor's ``IdentityFit`` (shape, camera, ...);
- ``work/fit/<clip_id>.npz`` and ``work/smooth/<clip_id>.npz``: ``ClipFit`` before and after
  the Kalman/RTS smoother;
- ``work/canonical/<clip_id>.npz``: ``vertices (T, V, 3)`` front-facing metres and the
  actor's ``template (V, 3)`` (fitted shape and reference expression, zero pose).
"""

from __future__ import annotations

import numpy as np

from pipeline.sources.manifest import SourceClip
from pipeline.stages.runtime import TaskContext
from pipeline.stages.store import ClipError, content_hash

__all__ = ["identity_stage", "fit_stage", "smooth_stage", "canonical_stage", "load_track", "load_fit"]


def _save(ctx: TaskContext, stage: str, key: str, obj: object) -> tuple[str, str]:
    path = ctx.store.artefact(stage, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    ctx.backend.save(obj, path)
    with np.load(path, allow_pickle=False) as z:
        digest = content_hash({k: z[k] for k in z.files})
    return path.name, digest


def _check(ctx: TaskContext, obj: object, what: str) -> None:
    reason = ctx.backend.divergence(obj)
    if reason:
        raise ClipError(f"{what}: {reason}" if not reason.startswith(what) else reason)


def load_track(ctx: TaskContext, clip_id: str) -> object:
    """The back end's track of ``clip_id`` (opaque here: only handed back to the back end)."""
    return ctx.backend.make_track(ctx.store.load_npz("landmarks", clip_id), clip_id)


def load_fit(ctx: TaskContext, stage: str, clip_id: str) -> object:
    return ctx.backend.load_fit(ctx.store.artefact(stage, clip_id))


def _identity(ctx: TaskContext, actor: str, memo: dict[str, object]) -> object:
    if "identity" not in memo:
        memo["identity"] = ctx.backend.load_identity(ctx.store.artefact("identity", actor))
    return memo["identity"]


def identity_stage(ctx: TaskContext, actor: str, clip_ids: list[str]) -> tuple[str, str]:
    if not clip_ids:
        raise ClipError(f"no clip of {actor} has landmarks")
    tracks = [load_track(ctx, cid) for cid in clip_ids]
    identity = ctx.backend.fit_identity(tracks, ctx.model(), ctx.cfg.fit, ctx.device)
    _check(ctx, identity, "identity fit")
    return _save(ctx, "identity", actor, identity)


def fit_stage(ctx: TaskContext, clip: SourceClip, memo: dict) -> tuple[str, str]:
    import torch

    torch.manual_seed(0)
    track = memo.get("track") or load_track(ctx, clip.clip_id)
    memo["track"] = track
    fit = ctx.backend.fit_clip(track, _identity(ctx, clip.subject, memo), ctx.model(), ctx.cfg.fit, ctx.device)
    _check(ctx, fit, "fit")
    memo["fit"] = fit
    return _save(ctx, "fit", clip.clip_id, fit)


def smooth_stage(ctx: TaskContext, clip: SourceClip, memo: dict) -> tuple[str, str]:
    fit = memo.get("fit") or load_fit(ctx, "fit", clip.clip_id)
    memo["fit"] = fit
    smoothed = ctx.backend.smooth_clip(fit, ctx.cfg.smooth)
    _check(ctx, smoothed, "smooth")
    memo["smooth"] = smoothed
    return _save(ctx, "smooth", clip.clip_id, smoothed)


def canonical_stage(ctx: TaskContext, clip: SourceClip, memo: dict) -> tuple[str, str]:
    smoothed = memo.get("smooth") or load_fit(ctx, "smooth", clip.clip_id)
    memo["smooth"] = smoothed
    vertices, template = ctx.backend.canonicalize(smoothed, _identity(ctx, clip.subject, memo), ctx.model())
    vertices = np.asarray(vertices, np.float32)
    template = np.asarray(template, np.float32)
    if vertices.ndim != 3 or vertices.shape[1:] != template.shape:
        raise ClipError(f"canonical: vertices {vertices.shape} do not match template {template.shape}")
    if not (np.all(np.isfinite(vertices)) and np.all(np.isfinite(template))):
        raise ClipError("canonical: non-finite vertices (the fit diverged)")
    memo["canonical"] = {"vertices": vertices, "template": template}
    return ctx.store.write_npz("canonical", clip.clip_id, {"vertices": vertices, "template": template})

