"""Offset errors: the motion of a mesh sequence (each frame minus its template) against the truth.

A talking-face model learns offsets from an actor's neutral template, not absolute vertex
positions (which also carry the face's identity and size, which a video cannot show). For a
fitted sequence ``F (T, V, 3)`` with its template ``F0 (V, 3)`` and the true sequence
``G (T, V, 3)`` with its template ``G0 (V, 3)`` (metres), over a region ``R`` of vertices::

    f[t, v] = F[t, v] - F0[v]                    fitted offset
    g[t, v] = G[t, v] - G0[v]                    true offset
    f_bar[v] = mean_t f[t, v],  g_bar[v] = mean_t g[t, v]      clip-mean offsets (the held expression)

    total   = mean_{t, v in R} || f[t, v] - g[t, v] ||
    static  = mean_{v in R}    || f_bar[v] - g_bar[v] ||
    dynamic = mean_{t, v in R} || (f[t, v] - f_bar[v]) - (g[t, v] - g_bar[v]) ||

and the truth's own magnitudes beside them (what an error is to be compared with)::

    true_total   = mean_{t, v in R} || g[t, v] ||
    true_static  = mean_{v in R}    || g_bar[v] ||
    true_dynamic = mean_{t, v in R} || g[t, v] - g_bar[v] ||

All in millimetres (Euclidean norms of 3-vectors). Because the norms are taken after the
split, ``total <= static + dynamic`` (triangle inequality) but not ``total = static + dynamic``.
A fit equal to the truth up to a constant offset per vertex has ``dynamic = 0``; one whose
error oscillates around zero over the clip has ``static = 0``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["OffsetErrors", "offset_errors", "region_offset_errors", "mean_offset", "MEASURE_KEYS"]

MEASURE_KEYS = ("total", "static", "dynamic", "true_total", "true_static", "true_dynamic")


@dataclass(frozen=True)
class OffsetErrors:
    """Offset errors of one clip over one region, millimetres (definitions: module docstring)."""

    total: float
    static: float
    dynamic: float
    true_total: float
    true_static: float
    true_dynamic: float
    n_frames: int
    n_vertices: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _seq(x: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(x, np.float64)
    if a.ndim != 3 or a.shape[-1] != 3 or a.shape[0] == 0:
        raise ValueError(f"{name}: expected (T, V, 3) with T > 0, got {a.shape}")
    return a


def _template(x: np.ndarray, n_vertices: int, name: str) -> np.ndarray:
    a = np.asarray(x, np.float64)
    if a.shape != (n_vertices, 3):
        raise ValueError(f"{name}: expected ({n_vertices}, 3), got {a.shape}")
    return a


def mean_offset(vertices: np.ndarray, template: np.ndarray, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """Clip-mean offset ``mean_t (vertices[t] - template)`` over ``indices`` (all if None): ``(R, 3)`` metres.

    ``vertices (T, V, 3)``, ``template (V, 3)``, metres.
    """
    v = _seq(vertices, "vertices")
    t = _template(template, v.shape[1], "template")
    idx = np.arange(v.shape[1]) if indices is None else np.asarray(indices, np.int64)
    return v[:, idx].mean(0) - t[idx]


def offset_errors(fit: np.ndarray, fit_template: np.ndarray, true: np.ndarray, true_template: np.ndarray,
                  indices: Sequence[int] | np.ndarray | None = None) -> OffsetErrors:
    """Total, static and dynamic offset errors of ``fit`` against ``true`` over ``indices`` (all if None).

    ``fit``, ``true``: ``(T, V, 3)`` metres, frame ``t`` of one is frame ``t`` of the other
    (both are cut to the shorter); templates ``(V, 3)`` metres. Returns millimetres.
    """
    f = _seq(fit, "fit")
    g = _seq(true, "true")
    if f.shape[1] != g.shape[1]:
        raise ValueError(f"fit has {f.shape[1]} vertices, true {g.shape[1]}")
    T = min(len(f), len(g))
    idx = np.arange(f.shape[1]) if indices is None else np.asarray(indices, np.int64)
    if idx.size == 0:
        raise ValueError("offset_errors: empty vertex region")
    fo = f[:T, idx] - _template(fit_template, f.shape[1], "fit_template")[idx]
    go = g[:T, idx] - _template(true_template, g.shape[1], "true_template")[idx]
    fb, gb = fo.mean(0), go.mean(0)
    mm = lambda a: float(1000.0 * np.linalg.norm(a, axis=-1).mean())  # noqa: E731
    return OffsetErrors(total=mm(fo - go), static=mm(fb - gb), dynamic=mm((fo - fb) - (go - gb)),
                        true_total=mm(go), true_static=mm(gb), true_dynamic=mm(go - gb),
                        n_frames=int(T), n_vertices=int(idx.size))


def region_offset_errors(fit: np.ndarray, fit_template: np.ndarray, true: np.ndarray, true_template: np.ndarray,
                         regions: Mapping[str, Sequence[int] | np.ndarray]) -> dict[str, OffsetErrors]:
    """:func:`offset_errors` for every named region (``{name: vertex indices}``; ``None``: all vertices)."""
    return {name: offset_errors(fit, fit_template, true, true_template, idx) for name, idx in regions.items()}
