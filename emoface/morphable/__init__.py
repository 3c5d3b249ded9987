"""FLAME-format morphable models: loading (pkl/npz, no chumpy), LBS, landmarks, regions, demo head.

``load("demo")`` returns the bundled demo head (built from the MediaPipe canonical mesh; it
is NOT FLAME); ``load("flame")`` / ``load(path)`` read a user's FLAME files.
See docs/architecture.md, "Morphable model API".
"""

from .landmarks import MEDIAPIPE_TO_IBUG68, LandmarkEmbedding
from .lbs import MorphableLayer, MorphableOutput, lbs
from .model import FlameNotFoundError, MorphableModel, face_groups_for, load, save_npz
from .pickle_io import UnsafePickleError
from .regions import load_flame_masks, region, region_names

__all__ = [
    "load",
    "save_npz",
    "MorphableModel",
    "MorphableLayer",
    "MorphableOutput",
    "LandmarkEmbedding",
    "MEDIAPIPE_TO_IBUG68",
    "lbs",
    "region",
    "region_names",
    "load_flame_masks",
    "face_groups_for",
    "UnsafePickleError",
    "FlameNotFoundError",
]
