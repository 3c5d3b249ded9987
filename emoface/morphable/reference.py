"""The reference expression an actor's template holds (docs/fitting.md, "Reference expression").

One rule for both sides of every comparison: the build applies it to the expressions it fits
(:func:`pipeline.fitting.identity.fit_identity`), the measures against a generated corpus to
the true expressions (:func:`emoface.eval.truth.actor_reference_expression`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["REFERENCES", "reference_expression"]

#: ``identity.expression_reference`` values: ``median`` (the per-component median) or ``none`` (zero expression)
REFERENCES: tuple[str, ...] = ("median", "none")


def reference_expression(expressions: np.ndarray, how: str = "median") -> np.ndarray:
    """The reference expression ``(E,)`` float32 of an actor's expressions ``(N, E)`` over frames of its clips.

    ``"median"``: the per-component median over the frames, i.e. what the face shows through
    all of its clips rather than in one: a static bias of the detector on this face, or a trait
    of the face (wide eyes, a resting frown). Folded into the template, it no longer counts as
    every clip's emotion. ``"none"`` (or no frames): zero expression, an empty array.
    """
    if how not in REFERENCES:
        raise ValueError(f"expression reference {how!r}: choose one of {', '.join(REFERENCES)}")
    if how == "none" or len(expressions) == 0:
        return np.zeros(0, np.float32)
    return np.median(np.asarray(expressions, np.float64), axis=0).astype(np.float32)
