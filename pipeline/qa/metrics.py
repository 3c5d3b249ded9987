"""Per-clip quality metrics that need no ground truth (vectorised, with exact definitions)."""

from __future__ import annotations

import numpy as np
import torch

from emoface.morphable.mediapipe_indices import MOUTH_PAIR

__all__ = ["project_landmarks", "reprojection_errors", "jitter", "av_mismatch_s", "mouth_opening", "pearson",
           "detected_points"]


def project_landmarks(fit, model, frames: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The fitted model's embedded landmarks in the image: ``(uv (T, L, 2) px, mp_index (L,))``.

    Uses the fit's embedding, camera and per-frame parameters (float64).
    """
    from pipeline.fitting.clip import landmark_model_for
    from pipeline.fitting.config import FitConfig, ModelConfig

    E = fit.expression.shape[1]
    S = min(len(fit.shape), model.shapedirs.shape[-1])
    # every point of the embedding, whatever subset the fit used
    lm = landmark_model_for(model, FitConfig(model=ModelConfig(n_shape=S, n_expression=E, max_landmarks=0)), fit.embedding, torch.float64)
    sel = slice(None) if frames is None else frames
    d = lambda a: torch.as_tensor(np.asarray(a, np.float64))  # noqa: E731
    cam = fit.camera
    with torch.no_grad():
        ev = lm.evaluate(d(fit.shape[:S]), d(fit.expression[sel]), d(fit.jaw[sel]), d(fit.head_rotation[sel]),
                         d(fit.head_translation[sel]), cam.fx, cam.fy, cam.cx, cam.cy)
    return ev.uv.numpy(), lm.mp_index


def reprojection_errors(fit, track, model) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-frame mean distance between fitted and detected landmarks.

    Returns ``(px (T,), iod_fraction (T,), iod_px)``; NaN where the frame had no detection.
    The inter-ocular distance is the clip median of the detected outer eye corners.
    """
    from pipeline.fitting.types import inter_ocular_px

    uv, mp = project_landmarks(fit, model)
    det, present = detected_points(track, fit, model, mp)
    dist = np.linalg.norm(uv - det, axis=-1)
    px = (dist if present.all() else dist[:, present]).mean(1)
    px[~track.valid] = np.nan
    iod = float(np.median(inter_ocular_px(track.landmarks[track.valid], track.scheme))) if track.valid.any() else float("nan")
    return px, px / iod, iod


def detected_points(track, fit, model, mp_index: np.ndarray, frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The detected point matched to each embedded landmark ``(T, L, 2)`` float64, and which
    landmarks have one ``(L,)`` (all for a MediaPipe track; see :func:`pipeline.fitting.schemes.track_columns`)."""
    from pipeline.fitting.schemes import track_columns

    source = model.landmark_embeddings[fit.embedding].source_index
    cols, present = track_columns(track.scheme, fit.embedding, source, mp_index)
    lmk = track.landmarks if frames is None else track.landmarks[:frames]
    return lmk[:, cols, :2].astype(np.float64), present


def jitter(vertices: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean vertex acceleration of a mesh sequence ``(T, V, 3)`` metres.

    ``a[t] = mean_v |v[t+1] - 2 v[t] + v[t-1]|`` in millimetres per frame^2 for
    ``t = 1 .. T-2``; returns ``(mean_t a[t], a (T,))`` with NaN at both ends (0.0 mean for
    clips shorter than 3 frames).
    """
    v = np.asarray(vertices, np.float64)
    a = np.full(len(v), np.nan)
    if len(v) < 3:
        return 0.0, a
    a[1:-1] = 1000.0 * np.linalg.norm(v[2:] - 2 * v[1:-1] + v[:-2], axis=-1).mean(1)
    return float(np.nanmean(a)), a


def av_mismatch_s(n_frames: int, fps: float, audio_duration_s: float) -> float:
    """Video length minus audio length in seconds (``n_frames / fps - audio_duration_s``)."""
    return float(n_frames) / float(fps) - float(audio_duration_s)


def mouth_opening(vertices: np.ndarray, model) -> np.ndarray | None:
    """Inner-lip distance ``(T,)`` metres: MediaPipe points 13 (upper) and 14 (lower) of the mesh.

    ``None`` when the model has no ``mediapipe`` embedding holding both points.
    """
    emb = model.landmark_embeddings.get("mediapipe")
    if emb is None:
        return None
    rows = [np.nonzero(emb.source_index == k)[0] for k in MOUTH_PAIR]
    if any(len(r) == 0 for r in rows):
        return None
    faces = np.asarray(model.faces)
    pts = []
    for r in rows:
        tri = faces[emb.face_idx[r[0]]]
        pts.append(np.einsum("tkc,k->tc", np.asarray(vertices, np.float64)[:, tri], emb.bary[r[0]].astype(np.float64)))
    return np.linalg.norm(pts[0] - pts[1], axis=-1)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two series (NaN when either is constant)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")
