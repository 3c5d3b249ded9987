"""Errors of a fitted clip against the generated corpus's ground truth (``ground_truth/<clip>.npz``).

Definitions (all means are over frames and the named vertices):

- ``vertex_error_mm[region]``: mean Euclidean distance between the fitted front-facing
  mesh and the true front-facing mesh, millimetres, for ``face`` (all vertices), ``lips``
  and ``eye_region`` (the model's regions);
- ``vertex_error_aligned_mm``: the same (whole face) after one similarity transform (scale,
  rotation, translation) fitted over the whole clip: what is left once the unobservable
  overall size and the canonical frame's placement are factored out;
- ``mouth_correlation``: Pearson r between fitted and true mouth opening (inner-lip
  distance, MediaPipe points 13-14), plus its mean absolute error in mm;
- ``landmark_error_px`` / ``_iod``: mean distance between the fitted landmarks in the
  image and the true ones (the true mesh projected through the true camera and pose),
  and ``detector_error_px`` / ``_iod``: the detector's own distance to the truth;
- ``offset_error_mm[region]``: the offset errors of :mod:`emoface.eval.offsets` (fitted
  frame minus fitted template against true frame minus true template; ``total``, ``static``,
  ``dynamic`` and the truth's ``true_*`` magnitudes, mm) for ``face``, ``lips`` and
  ``eye_region``. The true template is the model at the true ``shape`` with zero jaw and
  pose, and with the same expression convention as the fitted template: when the fitted
  template holds a reference expression (it differs from its shape's zero-expression face;
  docs/fitting.md, "Reference expression"), the true template holds the actor's true one, the
  per-component median of the true ``expression`` over every frame of the actor's clips
  (:func:`emoface.eval.truth.actor_reference_expression`); otherwise zero expression. No
  offsets without a ``shape`` in the ground truth;
- ``photo``: the generator's photo id of the actor, when the ground truth records one.

The curves include ``expression_feature_fit`` / ``_true``: the clip-mean offsets over the
expression vertices (:func:`emoface.eval.recognisability.clip_feature`), from which the
report computes the corpus's emotion recognisability, and ``expression_feature_region``: which of
:data:`pipeline.qa.emotion.SPLIT_REGIONS` each of those vertices is in (1-based; 0: none), for the
report's split of the static error (:func:`pipeline.qa.emotion.static_split`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emoface.eval.truth import actor_of, actor_reference_expression
from emoface.mesh.camera import PinholeCamera

from .metrics import detected_points, mouth_opening, pearson, project_landmarks

__all__ = ["GroundTruth", "load_ground_truth", "ground_truth_metrics", "similarity_align", "model_template",
           "offset_metrics", "OFFSET_REGIONS"]

OFFSET_REGIONS = ("face", "lips", "eye_region")


@dataclass
class GroundTruth:
    """Arrays of a ground-truth npz (see docs/architecture.md)."""

    vertices: np.ndarray  # (T, V, 3) front-facing metres
    head_rotation: np.ndarray  # (T, 3)
    head_translation: np.ndarray  # (T, 3)
    camera: PinholeCamera
    mouth_opening: np.ndarray | None  # (T,) metres
    model: str
    fps: float
    shape: np.ndarray | None = None  # (S,) true shape coefficients
    photo: str | None = None  # the generator's photo id of the actor, when recorded
    reference: np.ndarray | None = None  # (E,) the actor's true reference expression (over all its clips)


def load_ground_truth(path: str | Path) -> GroundTruth:
    """Read ``ground_truth/<clip_id>.npz``; raises ``ValueError`` naming the file when malformed."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            return GroundTruth(
                vertices=z["vertices"].astype(np.float64), head_rotation=z["head_rotation"].astype(np.float64),
                head_translation=z["head_translation"].astype(np.float64), camera=PinholeCamera.from_array(z["camera"]),
                mouth_opening=z["mouth_opening"].astype(np.float64) if "mouth_opening" in z else None,
                model=str(z["model"]) if "model" in z else "", fps=float(z["fps"]) if "fps" in z else 30.0,
                shape=z["shape"].astype(np.float64).reshape(-1) if "shape" in z else None,
                photo=str(z["photo"]) if "photo" in z else None,
                reference=actor_reference_expression(str(path.parent), actor_of(path.stem)))
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable ground truth ({exc})") from exc


def similarity_align(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``src (..., 3)`` mapped by the least-squares similarity onto ``dst`` (Umeyama 1991)."""
    a = src.reshape(-1, 3)
    b = dst.reshape(-1, 3)
    ma, mb = a.mean(0), b.mean(0)
    a0, b0 = a - ma, b - mb
    u, s, vt = np.linalg.svd(b0.T @ a0 / len(a))
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt))
    R = u @ np.diag(d) @ vt
    scale = (s * d).sum() / (a0 * a0).sum(1).mean()
    return (scale * a0 @ R.T + mb).reshape(src.shape)


def _gt_landmarks(gt: GroundTruth, model, mp_index: np.ndarray, embedding: str) -> np.ndarray | None:
    """True image positions of the fitted embedding's landmarks ``(T, L, 2)`` (None if unavailable)."""
    import torch

    from emoface.mesh.camera import project, transform_points

    emb = model.landmark_embeddings.get(embedding)
    if emb is None or gt.vertices.shape[1] != model.v_template.shape[0]:
        return None
    pts = emb.points(gt.vertices, np.asarray(model.faces))  # (T, L, 3)
    d = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    cam = transform_points(d(pts), d(gt.head_rotation), d(gt.head_translation))
    return project(cam, gt.camera).numpy()


def model_template(model, shape: np.ndarray, expression: np.ndarray | None = None) -> np.ndarray:
    """:func:`pipeline.fitting.canonical.model_template` as float64 (the precision of the metrics here)."""
    from pipeline.fitting.canonical import model_template as template

    return template(model, shape, expression).astype(np.float64)


def offset_metrics(fit_vertices: np.ndarray, fit_template: np.ndarray, true_vertices: np.ndarray,
                   true_template: np.ndarray, model) -> tuple[dict, dict[str, np.ndarray]]:
    """``{region: offset errors (mm)}`` for :data:`OFFSET_REGIONS` and the two expression features.

    ``*_vertices (T, V, 3)`` and ``*_template (V, 3)`` front-facing metres (same ``T``).
    """
    from emoface.eval.offsets import offset_errors
    from emoface.eval.recognisability import EXPRESSION_REGIONS, clip_feature, feature_indices

    out = {}
    for name in OFFSET_REGIONS:
        idx = None if name == "face" else model.regions.get(name)
        if idx is None and name != "face":
            continue
        e = offset_errors(fit_vertices, fit_template, true_vertices, true_template, idx)
        out[name] = {k: v for k, v in e.as_dict().items() if k not in ("n_frames", "n_vertices")}
    feats: dict[str, np.ndarray] = {}
    if all(r in model.regions for r in EXPRESSION_REGIONS):
        from .emotion import feature_region_codes

        idx = feature_indices(model.regions)
        feats = {"expression_feature_fit": clip_feature(fit_vertices, fit_template, idx),
                 "expression_feature_true": clip_feature(true_vertices, true_template, idx),
                 "expression_feature_region": feature_region_codes(model.regions)}
    return out, feats


def ground_truth_metrics(gt: GroundTruth, vertices: np.ndarray, fit, track, model,
                         template: np.ndarray | None = None) -> tuple[dict, dict]:
    """Metrics (JSON-able) and per-frame curves of a fit against its ground truth.

    ``template (V, 3)``: the fitted template (the fit's shape and reference expression, zero pose);
    computed from ``fit.shape`` when ``None``.
    """
    T = min(len(gt.vertices), len(vertices))
    out: dict = {"gt_frames": int(len(gt.vertices)), "frames_compared": int(T)}
    curves: dict[str, np.ndarray] = {}
    if gt.vertices.shape[1:] != vertices.shape[1:]:
        out["note"] = f"ground truth has {gt.vertices.shape[1]} vertices, the fit {vertices.shape[1]}: no mesh errors"
        return out, curves
    fv = np.asarray(vertices[:T], np.float64)
    tv = gt.vertices[:T]
    dist = 1000.0 * np.linalg.norm(fv - tv, axis=-1)  # (T, V) mm
    errs = {"face": float(dist.mean())}
    for name in ("lips", "eye_region"):
        idx = model.regions.get(name)
        if idx is not None and len(idx):
            errs[name] = float(dist[:, idx].mean())
    out["vertex_error_mm"] = errs
    out["vertex_error_aligned_mm"] = float(1000.0 * np.linalg.norm(similarity_align(fv, tv) - tv, axis=-1).mean())
    curves["vertex_error_mm"] = dist.mean(1)
    if gt.photo is not None:
        out["photo"] = gt.photo
    if gt.shape is not None:
        zero = model_template(model, fit.shape)
        fit_template = zero if template is None else np.asarray(template, np.float64)
        # the truth's template follows the fitted template's convention (module docstring)
        with_reference = gt.reference is not None and not np.allclose(fit_template, zero, rtol=0.0, atol=1e-7)
        true_template = model_template(model, gt.shape, gt.reference if with_reference else None)
        out["offset_error_mm"], feats = offset_metrics(fv, fit_template, tv, true_template, model)
        out["offset_template"] = "reference expression" if with_reference else "zero expression"
        curves.update(feats)
    else:
        out["offset_note"] = "the ground truth has no shape: no offset errors"
    fm = mouth_opening(fv, model)
    if fm is not None and gt.mouth_opening is not None:
        tm = gt.mouth_opening[:T]
        out["mouth_correlation"] = pearson(fm, tm)
        out["mouth_error_mm"] = float(1000.0 * np.abs(fm - tm).mean())
        curves["mouth_fit_mm"] = 1000.0 * fm
        curves["mouth_gt_mm"] = 1000.0 * tm
    uv, mp = project_landmarks(fit, model, np.arange(T))
    true = _gt_landmarks(gt, model, mp, fit.embedding)
    if true is not None:
        from pipeline.fitting.types import inter_ocular_px

        valid = track.valid[:T]
        det, present = detected_points(track, fit, model, mp, T)
        iod = float(np.median(inter_ocular_px(track.landmarks[:T][valid], track.scheme))) if valid.any() else float("nan")
        fit_px = np.linalg.norm(uv - true, axis=-1).mean(1)
        out["landmark_error_px"] = float(fit_px.mean())
        out["landmark_error_iod"] = float(fit_px.mean() / iod)
        if valid.any():
            dist = np.linalg.norm(det - true, axis=-1)
            det_px = (dist if present.all() else dist[:, present]).mean(1)[valid]
            out["detector_error_px"] = float(det_px.mean())
            out["detector_error_iod"] = float(det_px.mean() / iod)
        curves["landmark_error_px"] = fit_px
    return out, curves
