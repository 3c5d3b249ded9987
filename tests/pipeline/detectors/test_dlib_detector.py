"""dlib's 68-point shape predictor behind the detector interface, with its real model (extra ``dlib``):
its points on a real RAVDESS face against MediaPipe's, the box carried between HOG detections, a frame
without a face, and the one-line errors of a missing or unreadable model file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dlib", reason="the 'dlib' extra is not installed (make venv installs it)")

from pipeline.detectors import DetectorError, make_detector  # noqa: E402
from pipeline.detectors.dlib68 import DlibDetector, default_predictor  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "ravdess" / "actor05_neutral_1s.mp4"

try:
    HAVE_MODEL = default_predictor().is_file()
except DetectorError:
    HAVE_MODEL = False
needs_model = pytest.mark.skipif(not HAVE_MODEL, reason="face_recognition_models (the 'dlib' extra) is not installed")


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """The 30 frames of the committed 1 s RAVDESS clip (RGB uint8, 1280x720)."""
    from pipeline.stages.decode import stream_frames

    out: list[np.ndarray] = []
    stream_frames(FIXTURE, 30.0, lambda i, f: out.append(f.copy()), 1)
    return out


@pytest.fixture(scope="module")
def mediapipe_points(frames) -> np.ndarray:
    """MediaPipe's points of the same frames at the 68 iBUG places ``(30, 68, 2)``."""
    from emoface.morphable.mediapipe_indices import MEDIAPIPE_TO_IBUG68

    with make_detector("mediapipe") as det:
        pts = [det.detect(f, 33 * i).landmarks[MEDIAPIPE_TO_IBUG68, :2] for i, f in enumerate(frames)]
    return np.stack(pts)


@needs_model
def test_points_on_a_real_face_agree_with_mediapipe(frames, mediapipe_points):
    with make_detector("dlib") as det:
        assert det.scheme == "ibug68" and det.n_points == 68 and not det.has_confidence and not det.has_transform
        assert det.accuracy_note == ""  # measured in this project (docs/fitting.md)
        d = det.detect(frames[0], 0)
    assert d is not None and d.landmarks.shape == (68, 3) and d.landmarks.dtype == np.float32
    assert d.confidence is None and d.blendshapes is None and d.transform is None and (d.landmarks[:, 2] == 0).all()
    mp = mediapipe_points[0]
    iod = np.linalg.norm(mp[45] - mp[36])
    err = np.linalg.norm(d.landmarks[:, :2] - mp, axis=1) / iod
    # the two detectors place the inner face's points (brows, eyes, nose, mouth) within a few % of the
    # inter-ocular distance of each other; the jaw line is a contour each draws its own way
    assert np.median(err[17:]) < 0.06 and err[17:].max() < 0.2, np.round(err, 3)
    assert np.median(err[:17]) < 0.2


@needs_model
def test_box_carried_between_detections_gives_the_same_points(frames, mediapipe_points, monkeypatch):
    calls = {"hog": 0}
    original = DlibDetector._search

    def counting(self, gray):
        calls["hog"] += 1
        return original(self, gray)

    monkeypatch.setattr(DlibDetector, "_search", counting)
    tracked, fresh = [], []
    with make_detector("dlib", {"redetect_every": 30}) as a, make_detector("dlib", {"redetect_every": 1}) as b:
        for f in frames:
            tracked.append(a.detect(f).landmarks[:, :2])
            fresh.append(b.detect(f).landmarks[:, :2])
    assert calls["hog"] == 1 + 30  # one whole-frame search for the tracked detector, one per frame for the other
    tracked, fresh = np.stack(tracked), np.stack(fresh)
    iod = np.linalg.norm(mediapipe_points[:, 45] - mediapipe_points[:, 36], axis=1).mean()
    # a carried box moves the points by a small part of the detectors' own disagreement
    assert np.median(np.linalg.norm(tracked - fresh, axis=-1)) / iod < 0.02
    # and the tracked points follow the face through the clip as MediaPipe's do
    err = np.linalg.norm(tracked[:, 17:] - mediapipe_points[:, 17:], axis=-1) / iod
    assert np.median(err) < 0.06


@needs_model
def test_a_frame_without_a_face_is_none_and_the_next_face_is_found_again(frames):
    with make_detector("dlib", {"redetect_every": 30}) as det:
        assert det.detect(frames[0]) is not None
        assert det.detect(np.zeros_like(frames[0])) is None  # no face near the last box, nor anywhere
        assert det._box is None
        again = det.detect(frames[1])
    assert again is not None and np.isfinite(again.landmarks).all()


def test_missing_or_unreadable_model_is_one_line(tmp_path):
    missing = tmp_path / "nope.dat"
    with pytest.raises(DetectorError, match=r"nope\.dat: no such dlib shape model"):
        make_detector("dlib", {"predictor": str(missing)})
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"not a model")
    with pytest.raises(DetectorError) as exc:
        make_detector("dlib", {"predictor": str(bad)})
    assert "bad.dat: not a dlib shape model" in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("options,key", [({"detect_size": -1}, "detect_size"), ({"redetect_every": 0}, "redetect_every"),
                                         ({"box": "hog"}, "box")])
def test_bad_options_name_the_key(options, key):
    from emoface.utils.config import ConfigError
    from pipeline.detectors.registry import DETECTORS

    with pytest.raises(ConfigError, match=rf"landmarks\.options.*{key}|{key}.*landmarks\.options"):
        DETECTORS["dlib"].parse(options)


def test_wrong_frame_is_a_value_error():
    if not HAVE_MODEL:
        pytest.skip("face_recognition_models (the 'dlib' extra) is not installed")
    with make_detector("dlib") as det, pytest.raises(ValueError, match="RGB uint8"):
        det.detect(np.zeros((10, 10), np.uint8))
