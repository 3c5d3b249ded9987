"""Evaluation and inference: :func:`evaluate` (metrics of runs on a split) and :func:`animate` (-> :class:`Animation`).

The outputs are written by separate functions: ``emoface.eval.report.write_report`` for an evaluation (imported from there: it loads torch);
:func:`write_vertices_npy`, :func:`write_animation_h5`, :func:`write_obj_sequence` and
:func:`write_video` for an animation.
"""

from emoface.eval.animation import (
    AnimateError,
    Animation,
    Conditions,
    write_animation_h5,
    write_obj_sequence,
    write_vertices_npy,
    write_video,
)
from emoface.eval.workflow import MissingSplitError, animate, evaluate

__all__ = [
    "animate",
    "evaluate",
    "Animation",
    "Conditions",
    "AnimateError",
    "MissingSplitError",
    "write_vertices_npy",
    "write_animation_h5",
    "write_obj_sequence",
    "write_video",
]
