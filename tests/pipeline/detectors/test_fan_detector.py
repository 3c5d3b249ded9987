"""face-alignment's FAN behind the detector interface, on RANDOM weights (nothing can be
downloaded here): shapes, scheme, confidence range, the face box, the one-line error when
its weights cannot be fetched. Its accuracy is not measured anywhere in this project."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("face_alignment", reason="the 'fan' extra is not installed (make venv installs it)")

from dataclasses import asdict  # noqa: E402

from pipeline.detectors import DetectorError, make_detector  # noqa: E402
from pipeline.detectors.fan import FanConfig  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "ravdess" / "actor05_neutral_1s.mp4"
RANDOM = FanConfig(weights="random", face_box="haar", flip_input=False)


def fan(cfg: FanConfig):
    """The ``fan`` detector as the landmarks stage makes it (``landmarks.options`` = ``cfg``)."""
    return make_detector("fan", asdict(cfg))


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """The first frame of the committed 1 s RAVDESS clip (RGB uint8, 1280x720)."""
    from pipeline.stages.decode import stream_frames

    frames: list[np.ndarray] = []
    stream_frames(FIXTURE, 30.0, lambda i, f: frames.append(f) if not frames else None, 1)
    return frames[0]


def test_random_weights_give_68_points_with_confidence(frame):
    with fan(RANDOM) as det:
        assert det.scheme == "ibug68" and det.n_points == 68 and det.has_confidence and not det.has_transform
        assert "accuracy unmeasured" in det.accuracy_note
        d = det.detect(frame, 0)
        box = det._box(frame)
    assert d is not None and d.landmarks.shape == (68, 3) and d.landmarks.dtype == np.float32
    assert d.confidence.shape == (68,) and (d.confidence >= 0).all() and (d.confidence <= 1).all()
    assert d.blendshapes is None and d.transform is None and (d.landmarks[:, 2] == 0).all()  # 2D network
    # the Haar box is on the face of the 1280x720 clip; FAN's points land in its (enlarged) crop
    x0, y0, x1, y1 = box
    assert 300 < x0 < x1 < 1000 and 50 < y0 < y1 < 700
    side = (x1 - x0 + y1 - y0) / 195.0 * 200.0 / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    assert (np.abs(d.landmarks[:, 0] - cx) <= side + 2).all() and (np.abs(d.landmarks[:, 1] - cy) <= side + 60).all()


def test_same_seed_same_points_and_3d_depth(frame):
    with fan(RANDOM) as a, fan(RANDOM) as b:
        np.testing.assert_array_equal(a.detect(frame).landmarks, b.detect(frame).landmarks)
    with fan(FanConfig(weights="random", face_box="haar", flip_input=False, landmarks="3d")) as c:
        d = c.detect(frame)
    assert d.landmarks.shape == (68, 3) and np.isfinite(d.landmarks).all() and (d.landmarks[:, 2] != 0).any()


def test_no_face_gives_none():
    with fan(RANDOM) as det:
        assert det.detect(np.full((240, 320, 3), 128, np.uint8)) is None


def test_weights_that_cannot_be_downloaded_give_one_line(monkeypatch):
    import urllib.error

    import face_alignment.utils

    def offline(url, *a, **k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(face_alignment.utils, "load_file_from_url", offline)
    with pytest.raises(DetectorError) as err:
        fan(FanConfig(face_box="haar"))
    msg = str(err.value)
    assert "\n" not in msg and "could not download its 2DFAN-4 weights" in msg and "hub cache" in msg


def test_random_weights_need_the_haar_box():
    with pytest.raises(ValueError, match="face_box 'haar'"):
        FanConfig(weights="random", face_box="sfd")
