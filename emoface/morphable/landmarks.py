"""Landmark embeddings: which surface point of a model corresponds to which detector landmark.

A :class:`LandmarkEmbedding` places ``L`` points on the mesh by triangle index and
barycentric coordinates; ``source_index[l]`` says which detector landmark point ``l`` is
(a MediaPipe-478 index for ``mediapipe`` embeddings, an iBUG-68 index (0-based) for
``ibug68``/``ibug51``).

File formats read here (user-supplied files next to FLAME, see docs/fitting.md):

- DECA ``landmark_embedding.npy``: a pickled dict with ``static_lmk_faces_idx (51,)``,
  ``static_lmk_bary_coords (51,3)`` (iBUG points 17..67), ``full_lmk_faces_idx (1,68)``,
  ``full_lmk_bary_coords (1,68,3)`` and dynamic-contour entries (pickled torch tensors,
  ``dynamic_lmk_faces_idx (79,17)``, ``dynamic_lmk_bary_coords (79,17,3)``: per yaw angle
  bin, the 17 jaw-contour points), returned separately.
- MediaPipe embedding npz (metrical-tracker / MICA): ``lmk_face_idx (105,)``,
  ``lmk_b_coords (105,3)``, ``landmark_indices (105,)`` (MediaPipe indices).

``MEDIAPIPE_TO_IBUG68`` (iBUG-68 point k -> MediaPipe-478 index, its source and caveats) and
``INNER_LIP_PAIRS`` live with every other MediaPipe index in :mod:`.mediapipe_indices` and
are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .mediapipe_indices import INNER_LIP_PAIRS, MEDIAPIPE_TO_IBUG68

__all__ = [
    "LandmarkEmbedding",
    "MEDIAPIPE_TO_IBUG68",
    "INNER_LIP_PAIRS",
    "vertex_embedding",
    "identity_embedding",
    "load_deca_embedding",
    "load_mediapipe_embedding",
]



@dataclass(frozen=True)
class LandmarkEmbedding:
    """``face_idx (L,) int64``, ``bary (L,3) float32`` (rows sum to 1), ``source_index (L,) int64``."""

    face_idx: np.ndarray
    bary: np.ndarray
    source_index: np.ndarray

    def __post_init__(self) -> None:
        fi = np.asarray(self.face_idx, dtype=np.int64).reshape(-1)
        b = np.asarray(self.bary, dtype=np.float32).reshape(-1, 3)
        si = np.asarray(self.source_index, dtype=np.int64).reshape(-1)
        if not (len(fi) == len(b) == len(si)):
            raise ValueError(f"landmark embedding: face_idx {fi.shape}, bary {b.shape}, source_index {si.shape} disagree")
        object.__setattr__(self, "face_idx", fi)
        object.__setattr__(self, "bary", b)
        object.__setattr__(self, "source_index", si)

    def __len__(self) -> int:
        return len(self.face_idx)

    def points(self, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """Landmarks ``(..., L, 3)`` from ``vertices (..., V, 3)`` (numpy)."""
        tri = np.asarray(faces)[self.face_idx]
        return np.einsum("...lkc,lk->...lc", vertices[..., tri, :], self.bary)

    def validate(self, n_faces: int, what: str = "embedding") -> None:
        if len(self) and (self.face_idx.min() < 0 or self.face_idx.max() >= n_faces):
            raise ValueError(f"{what}: face index out of range [0, {n_faces})")
        if len(self) and not np.allclose(self.bary.sum(1), 1.0, atol=1e-3):
            raise ValueError(f"{what}: barycentric rows do not sum to 1")


def vertex_embedding(faces: np.ndarray, vertex_ids: np.ndarray, source_index: np.ndarray) -> LandmarkEmbedding:
    """Embedding that puts landmark l exactly on vertex ``vertex_ids[l]`` (one-hot barycentrics)."""
    faces = np.asarray(faces)
    vertex_ids = np.asarray(vertex_ids, dtype=np.int64)
    n_v = max(int(faces.max()), int(vertex_ids.max())) + 1
    first = np.full(n_v, -1, dtype=np.int64)
    uniq, pos = np.unique(faces.ravel(), return_index=True)  # first use of each vertex
    first[uniq] = pos
    if (first[vertex_ids] < 0).any():
        raise ValueError("vertex_embedding: some vertices belong to no face")
    first_face, corner = first // 3, first % 3
    bary = np.zeros((len(vertex_ids), 3), dtype=np.float32)
    bary[np.arange(len(vertex_ids)), corner[vertex_ids]] = 1.0
    return LandmarkEmbedding(first_face[vertex_ids], bary, source_index)


def identity_embedding(faces: np.ndarray, n: int = 468) -> LandmarkEmbedding:
    """MediaPipe embedding of a mesh whose vertex i is MediaPipe landmark i (i < n)."""
    ids = np.arange(n)
    return vertex_embedding(faces, ids, ids)


def load_deca_embedding(path: str | Path) -> tuple[dict[str, LandmarkEmbedding], dict[str, np.ndarray]]:
    """DECA ``landmark_embedding.npy`` -> (``{"ibug68", "ibug51"}``, dynamic-contour arrays).

    The dynamic entries are decoded only when they are plain tensors (through torch's
    restricted loader); otherwise they are left out.
    """
    from .pickle_io import load_object_npy, to_plain

    path = Path(path)
    data = to_plain(load_object_npy(path, allow_torch=True))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a pickled dict (DECA landmark_embedding.npy), got {type(data).__name__}")
    out: dict[str, LandmarkEmbedding] = {}
    try:
        if "full_lmk_faces_idx" in data:
            out["ibug68"] = LandmarkEmbedding(
                np.asarray(data["full_lmk_faces_idx"]).reshape(-1),
                np.asarray(data["full_lmk_bary_coords"]).reshape(-1, 3),
                np.arange(68),
            )
        if "static_lmk_faces_idx" in data:
            n = np.asarray(data["static_lmk_faces_idx"]).size
            out["ibug51"] = LandmarkEmbedding(
                np.asarray(data["static_lmk_faces_idx"]).reshape(-1),
                np.asarray(data["static_lmk_bary_coords"]).reshape(-1, 3),
                np.arange(68 - n, 68),
            )
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: malformed landmark embedding ({exc})") from exc
    if not out:
        raise ValueError(f"{path}: no static_lmk_* or full_lmk_* entries")
    dynamic = {}
    for key in ("dynamic_lmk_faces_idx", "dynamic_lmk_bary_coords"):
        if key in data and isinstance(data[key], np.ndarray):
            dynamic[key] = data[key]
    return out, dynamic


def load_mediapipe_embedding(path: str | Path) -> LandmarkEmbedding:
    """The 105-point MediaPipe embedding npz (``lmk_face_idx``, ``lmk_b_coords``, ``landmark_indices``)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            return LandmarkEmbedding(z["lmk_face_idx"], z["lmk_b_coords"], z["landmark_indices"])
    except KeyError as exc:
        raise ValueError(f"{path}: missing key {exc} (need lmk_face_idx, lmk_b_coords, landmark_indices)") from exc
