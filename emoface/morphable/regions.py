"""Vertex regions of a morphable model (which vertices are the lips, the eye region, ...).

FLAME ships them as ``FLAME_masks.pkl`` (a plain pickled dict of vertex-index arrays: ``lips``
254, ``eye_region`` 751, ``forehead`` 133, ``face`` 1787, ``nose``, ``left_eye_region``, ...).
The demo head stores its own in its npz. The metrics use (paper §4.2):

- LVE: ``lips``;
- EVE: ``eye_region ∪ forehead`` (the helper name ``"eve"``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["load_flame_masks", "region", "region_names", "COMPOSITE_REGIONS"]

# Named unions of stored regions.
COMPOSITE_REGIONS: dict[str, tuple[str, ...]] = {
    "eve": ("eye_region", "forehead"),
    "lve": ("lips",),
}


def load_flame_masks(path: str | Path, n_vertices: int | None = None) -> dict[str, np.ndarray]:
    """Read ``FLAME_masks.pkl`` -> ``{name: int32 sorted unique indices}`` (restricted unpickler)."""
    from .pickle_io import load_pickle, to_plain

    path = Path(path)
    data = to_plain(load_pickle(path))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict of vertex-index arrays, got {type(data).__name__}")
    out: dict[str, np.ndarray] = {}
    for name, idx in data.items():
        arr = np.unique(np.asarray(idx).astype(np.int64).reshape(-1))
        if n_vertices is not None and len(arr) and (arr.min() < 0 or arr.max() >= n_vertices):
            raise ValueError(f"{path}: region '{name}' has indices outside [0, {n_vertices})")
        out[str(name)] = arr.astype(np.int32)
    return out


def region_names(model) -> list[str]:
    """Stored region names plus the composite ones whose parts exist."""
    names = sorted(model.regions)
    names += [c for c, parts in COMPOSITE_REGIONS.items() if all(p in model.regions for p in parts)]
    return names


def region(model, name: str) -> np.ndarray:
    """Vertex indices ``(N,) int32`` of region ``name``.

    ``name`` is a stored region, a composite (``"eve"`` = eye_region ∪ forehead, ``"lve"`` =
    lips), or a union written with ``+`` (``"cheeks+eye_region"``).
    """
    if "+" in name:
        return np.unique(np.concatenate([region(model, part) for part in name.split("+")])).astype(np.int32)
    if name in model.regions:
        return np.asarray(model.regions[name], dtype=np.int32)
    if name in COMPOSITE_REGIONS:
        parts = COMPOSITE_REGIONS[name]
        missing = [p for p in parts if p not in model.regions]
        if missing:
            raise KeyError(f"{model.name}: region '{name}' needs {missing}, which the model lacks")
        return np.unique(np.concatenate([model.regions[p] for p in parts])).astype(np.int32)
    raise KeyError(f"{model.name}: no region '{name}' (available: {region_names(model)})")
