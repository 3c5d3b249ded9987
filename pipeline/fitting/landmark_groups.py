"""MediaPipe-478 landmark groups (from MediaPipe's FaceLandmarksConnections sets) and the
detector points that a model's landmark embedding corresponds to."""

from __future__ import annotations

import numpy as np

__all__ = ["MP_LIPS", "MP_EYES", "MP_BROWS", "MP_OVAL", "MP_NOSE", "detector_indices", "landmark_weights",
           "select_landmarks"]

MP_LIPS = np.array([0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191, 267,
                    269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415])
MP_EYES = np.array([249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466,
                    7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246])
MP_BROWS = np.array([276, 282, 283, 285, 293, 295, 296, 300, 334, 336, 46, 52, 53, 55, 63, 65, 66, 70, 105, 107])
MP_OVAL = np.array([10, 21, 54, 58, 67, 93, 103, 109, 127, 132, 136, 148, 149, 150, 152, 162, 172, 176, 234, 251,
                    284, 288, 297, 323, 332, 338, 356, 361, 365, 377, 378, 379, 389, 397, 400, 454])
MP_NOSE = np.array([1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294, 326, 327, 344,
                    440])
# MediaPipe inner-lip midpoints (upper 13, lower 14): the mouth opening
MP_MOUTH_PAIR = (13, 14)


def detector_indices(embedding_name: str, source_index: np.ndarray) -> np.ndarray:
    """MediaPipe-478 index of each embedded landmark.

    ``mediapipe*`` embeddings are indexed by MediaPipe point already; ``ibug*`` embeddings
    are mapped through the shipped MediaPipe -> iBUG-68 correspondence.
    """
    source_index = np.asarray(source_index, dtype=np.int64)
    if embedding_name.startswith("ibug"):
        from emoface.morphable.landmarks import MEDIAPIPE_TO_IBUG68

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
