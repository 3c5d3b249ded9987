"""MediaPipe-478 landmark groups (from MediaPipe's FaceLandmarksConnections sets) and the
detector points that a model's landmark embedding corresponds to."""

from __future__ import annotations

import numpy as np

from emoface.morphable.mediapipe_indices import BROWS, EYES, LIPS, MEDIAPIPE_TO_IBUG68, MOUTH_PAIR, NOSE, OVAL

__all__ = ["MP_LIPS", "MP_EYES", "MP_BROWS", "MP_OVAL", "MP_NOSE", "MP_MOUTH_PAIR", "detector_indices", "landmark_weights",
           "select_landmarks"]

MP_LIPS, MP_EYES, MP_BROWS, MP_OVAL, MP_NOSE = LIPS, EYES, BROWS, OVAL, NOSE
MP_MOUTH_PAIR = MOUTH_PAIR


def detector_indices(embedding_name: str, source_index: np.ndarray) -> np.ndarray:
    """MediaPipe-478 index of each embedded landmark.

    ``mediapipe*`` embeddings are indexed by MediaPipe point already; ``ibug*`` embeddings
    are mapped through the shipped MediaPipe -> iBUG-68 correspondence.
    """
    source_index = np.asarray(source_index, dtype=np.int64)
    if embedding_name.startswith("ibug"):
        return MEDIAPIPE_TO_IBUG68[source_index].astype(np.int64)
    if source_index.max(initial=0) >= 478:
        raise ValueError(f"embedding {embedding_name!r}: source index {source_index.max()} is not a MediaPipe point")
    return source_index


def landmark_weights(mp_index: np.ndarray, lips: float, eyes: float, brows: float, oval: float, nose: float = 1.0,
                     other: float = 1.0) -> np.ndarray:
    """Per-landmark weight ``(L,)`` from the MediaPipe group each point belongs to; ``other``
    for points in none of the groups (cheeks, forehead, lid creases, ...)."""
    w = np.full(len(mp_index), float(other), dtype=np.float64)
    for group, value in ((MP_NOSE, nose), (MP_OVAL, oval), (MP_BROWS, brows), (MP_EYES, eyes), (MP_LIPS, lips)):
        w[np.isin(mp_index, group)] = value
    return w


def select_landmarks(mp_index: np.ndarray, points: np.ndarray, max_n: int) -> np.ndarray:
    """Rows of an embedding to fit when it is dense: at most ``max_n`` (0 = all).

    Every lip, eye, brow and face-oval point is kept (they carry the expression and the
    outline); the rest (cheeks, forehead, nose) are thinned by farthest-point sampling on the
    template positions ``points (L, 3)``, which keeps them evenly spread. Deterministic.
    Returns sorted row indices.
    """
    L = len(mp_index)
    if max_n <= 0 or L <= max_n:
        return np.arange(L)
    keep = np.isin(mp_index, np.concatenate([MP_LIPS, MP_EYES, MP_BROWS, MP_OVAL]))
    chosen = list(np.nonzero(keep)[0])
    rest = np.nonzero(~keep)[0]
    need = max_n - len(chosen)
    if need <= 0:
        return np.sort(np.asarray(chosen[:max_n]))
    pts = np.asarray(points, np.float64)
    dist = np.min(np.linalg.norm(pts[rest][:, None] - pts[chosen][None], axis=-1), axis=1) if chosen else np.full(len(rest), np.inf)
    for _ in range(need):
        k = int(np.argmax(dist))
        chosen.append(int(rest[k]))
        dist = np.minimum(dist, np.linalg.norm(pts[rest] - pts[rest[k]], axis=1))
        dist[k] = -1.0
    return np.sort(np.asarray(chosen))
