"""The lip profile of a closable mouth, as linear constraints on a model's shape coefficients.

Used by the generated corpus (its actors' face shapes are projected onto these constraints) and by
the demo-head builder (``tools/demo_head``, which levels the template's midline lips with them).
"""

from __future__ import annotations

import numpy as np

from .landmarks import INNER_LIP_PAIRS

__all__ = ["lip_profile_constraints"]


def lip_profile_constraints(vertices: np.ndarray, shapedirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``(K, S)`` and targets ``(K,)`` on shape coefficients for a closable mouth.

    A shape ``b`` with ``rows @ b == targets`` has the midline inner-lip points 13 and 14
    level in x and depth and every :data:`INNER_LIP_PAIRS` pair as far apart vertically as in
    ``vertices``. ``vertices (V, 3)``, ``shapedirs (V, 3, S)`` in the same units.
    """
    s = np.asarray(shapedirs, np.float64)
    v = np.asarray(vertices, np.float64)
    rows = [(s[13] - s[14])[0], (s[13] - s[14])[2]] + [(s[u] - s[lo])[1] for u, lo in INNER_LIP_PAIRS]
    target = [-(v[13] - v[14])[0], -(v[13] - v[14])[2]] + [0.0] * len(INNER_LIP_PAIRS)
    return np.stack(rows), np.asarray(target)
