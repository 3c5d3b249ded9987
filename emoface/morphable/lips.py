"""The lip profile of a closable mouth, as linear constraints on a model's shape coefficients.

Used by the generated corpus (its actors' face shapes are projected onto these constraints) and by
the demo-head builder (``tools/demo_head``, which levels the template's midline lips with them).
"""

from __future__ import annotations

import numpy as np

from .mediapipe_indices import INNER_LIP_PAIRS, LOWER_LIP_MID as LO, UPPER_LIP_MID as UP

__all__ = ["lip_profile_constraints"]


def lip_profile_constraints(vertices: np.ndarray, shapedirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``(K, S)`` and targets ``(K,)`` on shape coefficients for a closable mouth.

    A shape ``b`` with ``rows @ b == targets`` has the midline inner-lip points 13 and 14
    level in x and depth and every :data:`INNER_LIP_PAIRS` pair as far apart vertically as in
    ``vertices``. ``vertices (V, 3)``, ``shapedirs (V, 3, S)`` in the same units.
    """
    s = np.asarray(shapedirs, np.float64)
    v = np.asarray(vertices, np.float64)
    rows = [(s[UP] - s[LO])[0], (s[UP] - s[LO])[2]] + [(s[u] - s[lo])[1] for u, lo in INNER_LIP_PAIRS]
    target = [-(v[UP] - v[LO])[0], -(v[UP] - v[LO])[2]] + [0.0] * len(INNER_LIP_PAIRS)
    return np.stack(rows), np.asarray(target)
