"""The oracle: the build's own fit given the true landmark positions instead of the detector's.

Where the corpus has ground truth, the oracle separates what the detector's landmarks miss
from what the fit loses: the same identity fit, per-clip fit, smoother, canonical meshes and
QA metrics, run on tracks whose landmarks are the true mesh's landmarks projected with the
clip's true head pose and camera, plus Gaussian noise of ``noise_px`` pixels (docs/fitting.md,
"The oracle"). Everything else in the track (its blendshape scores, frame size, scheme, ...)
stays the detector's.

- :func:`oracle_landmarks`: a track's landmark array with the true positions in it (shared by
  the build's report and the benchmarks, so both draw the same noise);
- :func:`oracle_arrays`: a stored landmarks artefact turned into the oracle's;
- :func:`oracle_actor`: the oracle of one actor's clips through a :class:`pipeline.stages.backend.Fitter`
  (the build's report runs it per actor when ``oracle.enabled`` is on).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["oracle_landmarks", "oracle_arrays", "oracle_actor", "ORACLE_ARRAYS"]

#: the QA arrays the report keeps of an oracle clip (its expression features and their regions)
ORACLE_ARRAYS = ("gt_expression_feature_fit", "gt_expression_feature_true", "gt_expression_feature_region")


def oracle_landmarks(landmarks: np.ndarray, scheme_name: str, gt, model, noise_px: float,
                     seed: int) -> np.ndarray:
    """``landmarks (T, N, C)`` of a track in scheme ``scheme_name`` with the true image positions
    (+ ``noise_px`` Gaussian noise, ``numpy.random.default_rng(seed)``) in x, y of every point that
    has a MediaPipe vertex (an iBUG-68 track gets the true positions of their MediaPipe points;
    MediaPipe's 10 iris points have no vertex and stay as detected). Returns ``(T', N, C)``,
    ``T' = min(T, truth's frames)``.
    """
    from pipeline.fitting.schemes import scheme

    from .ground_truth import _gt_landmarks

    true = _gt_landmarks(gt, model, np.arange(468), "mediapipe")
    if true is None:
        raise ValueError("the ground truth's vertices do not match the model, or the model has no MediaPipe embedding")
    T = min(len(true), len(landmarks))
    mp = scheme(scheme_name).mediapipe
    cols = np.flatnonzero(mp < 468)
    out = np.array(landmarks[:T], copy=True)
    pts = true[:T][:, mp[cols]]
    out[:, cols, :2] = pts + np.random.default_rng(seed).normal(size=pts.shape) * noise_px
    return out


def oracle_arrays(arrays: Mapping[str, np.ndarray], gt, model, noise_px: float, seed: int) -> dict[str, np.ndarray]:
    """The fields of a landmarks artefact (:meth:`pipeline.fitting.LandmarkTrack.arrays`) with the true
    landmarks in place of the detected ones (:func:`oracle_landmarks`), every frame valid. Per-frame
    fields are cut to the frames the truth has."""
    from pipeline.fitting.schemes import DEFAULT_SCHEME

    lmk = np.asarray(arrays["landmarks"])
    scheme_name = str(arrays["scheme"]) if "scheme" in arrays else DEFAULT_SCHEME
    new = oracle_landmarks(lmk, scheme_name, gt, model, noise_px, seed)
    T, n = len(new), len(lmk)
    out: dict[str, np.ndarray] = {}
    for k, v in arrays.items():
        v = np.asarray(v)
        out[k] = v[:T] if v.ndim and len(v) == n and T < n else v
    out["landmarks"] = new.astype(lmk.dtype)
    out["valid"] = np.ones(T, bool)
    return out


def oracle_actor(backend, model, tracks: Sequence[object], ground_truths: Sequence[str], fit_cfg, smooth_cfg,
                 qa_cfg, device: str = "cpu", decoded: Sequence[Mapping[str, np.ndarray] | None] | None = None
                 ) -> list[dict[str, Any]]:
    """The oracle of one actor's clips: ``tracks`` (the back end's, from :func:`oracle_arrays`) and their
    ``ground_truths`` (paths) through ``backend``'s identity fit, clip fit, smoother, canonical meshes
    and per-clip QA, as the build runs them. Returns one ``{"qa": {metrics, flags, status}, "arrays":
    {...}}`` per clip (the arrays: :data:`ORACLE_ARRAYS`); no pictures or thumbnails are made.
    Raises what the back end raises, or ``ValueError`` when a fit diverges.
    """
    from pipeline.stages.backend import QAInputs

    qc = dataclasses.replace(qa_cfg, pair_size=0, thumbnail_size=0)
    identity = backend.fit_identity(list(tracks), model, fit_cfg, device)
    reason = backend.divergence(identity)
    if reason:
        raise ValueError(f"oracle identity fit: {reason}")
    out = []
    for i, (track, gt) in enumerate(zip(tracks, ground_truths)):
        raw = backend.fit_clip(track, identity, model, fit_cfg, device)
        reason = backend.divergence(raw)
        if reason:
            raise ValueError(f"oracle fit: {reason}")
        fit = backend.smooth_clip(raw, smooth_cfg)
        vertices, template = backend.canonicalize(fit, identity, model)
        dec = dict((decoded[i] if decoded else None) or {})
        dec = {k: dec[k] for k in ("fps", "audio_duration_s") if k in dec}  # no thumbnails: no overlay
        inputs = QAInputs(clip_id=str(getattr(track, "clip_id", i)), subject="", decoded=dec, track=track,
                          raw_fit=raw, fit=fit, vertices=vertices, template=template, model=model,
                          ground_truth=str(gt), source=None)
        res = dict(backend.clip_qa(inputs, qc))
        arrays = res.pop("arrays", None) or {}
        out.append({"qa": res, "arrays": {k: np.asarray(arrays[k]) for k in ORACLE_ARRAYS if k in arrays}})
    return out
