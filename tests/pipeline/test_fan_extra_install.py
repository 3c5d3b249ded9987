"""The ``fan`` extra installs next to mediapipe without a second OpenCV wheel: both import,
and ``cv2`` is still mediapipe's opencv-contrib-python (contrib modules present)."""

from __future__ import annotations

from importlib import metadata

import pytest


def _installed(dist: str) -> bool:
    try:
        metadata.version(dist)
        return True
    except metadata.PackageNotFoundError:
        return False


def test_face_alignment_and_mediapipe_share_one_opencv():
    pytest.importorskip("face_alignment", reason="the 'fan' extra is not installed (make venv installs it)")
    import cv2
    import face_alignment
    import mediapipe

    assert mediapipe.__version__ and face_alignment.__version__
    assert hasattr(cv2, "xfeatures2d") and hasattr(cv2, "ximgproc"), "cv2 lost its contrib modules"
    opencv = [d for d in ("opencv-python", "opencv-contrib-python", "opencv-python-headless",
                          "opencv-contrib-python-headless") if _installed(d)]
    assert opencv == ["opencv-contrib-python"], f"more than one OpenCV wheel writes cv2/: {opencv}"
    # what face-alignment itself needs from OpenCV and its own modules
    from face_alignment.detection.sfd.net_s3fd import s3fd  # noqa: F401
    from face_alignment.models import FAN  # noqa: F401
    from face_alignment.utils import crop, get_preds_fromhm  # noqa: F401

    assert cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml").empty() is False
