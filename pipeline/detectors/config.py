"""Typed settings of the detectors (``landmarks.fan`` in a build config)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["FanConfig", "DETECTOR_NAMES", "detector_note"]

#: the detectors ``landmarks.detector`` / ``--detector`` may name
DETECTOR_NAMES = ("mediapipe", "fan")


@dataclass
class FanConfig:
    """face-alignment's FAN (extra ``fan``): 68 iBUG points per frame.

    - ``landmarks``: ``2d`` (2DFAN-4) or ``3d`` (3DFAN-4 plus its depth network);
    - ``face_box``: where the face crop comes from: ``sfd`` (face-alignment's default S3FD
      detector, downloads its weights) or ``haar`` (OpenCV's frontal-face Haar cascade, which
      ships inside OpenCV: no download);
    - ``weights``: ``pretrained`` (face-alignment downloads them to torch's hub cache on first
      use) or ``random`` -- FOR TESTS ONLY: the same networks with randomly initialised
      weights (seed ``seed``), which checks the plumbing (shapes, index mapping, confidence)
      where nothing can be downloaded; its landmarks are meaningless;
    - ``flip_input``: also run the mirrored crop and average (face-alignment's default);
    - ``min_box_score``: S3FD boxes below this score are dropped; ``device``: torch device.
    """

    landmarks: Literal["2d", "3d"] = "2d"
    face_box: Literal["sfd", "haar"] = "sfd"
    weights: Literal["pretrained", "random"] = "pretrained"
    flip_input: bool = True
    min_box_score: float = 0.5
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.weights == "random" and self.face_box == "sfd":
            raise ValueError("landmarks.fan: weights 'random' needs face_box 'haar' (a randomly initialised S3FD "
                             "scores every anchor as a face)")


def detector_note(name: str, fan: FanConfig) -> str:
    """The one line a build prints (and the QA report repeats) about detector ``name``'s accuracy ("" for none)."""
    if name != "fan":
        return ""
    if fan.weights == "random":
        return ("FAN detector with RANDOM weights (tests only): the landmarks and every fit are meaningless; "
                "accuracy unmeasured")
    return ("FAN (face-alignment) detector: its landmark accuracy is not measured in this project "
            "(no pretrained weights could be fetched where it was built)")
