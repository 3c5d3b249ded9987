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
def test_box_carried_between_searches_gives_the_same_points(frames, mediapipe_points, monkeypatch):
    calls = {"search": 0}
    original = DlibDetector._search

    def counting(self, gray):
        calls["search"] += 1
        return original(self, gray)

    monkeypatch.setattr(DlibDetector, "_search", counting)
    tracked, fresh = [], []
    with make_detector("dlib", {"redetect_every": 10}) as a:
        tracked = [a.detect(f).landmarks[:, :2] for f in frames]
    assert calls["search"] == 3  # frames 0, 10 and 20; near the last box in between
    with make_detector("dlib", {"redetect_every": 1}) as b:
        fresh = [b.detect(f).landmarks[:, :2] for f in frames]
    assert calls["search"] == 3 + 30
    tracked, fresh = np.stack(tracked), np.stack(fresh)
    iod = np.linalg.norm(mediapipe_points[:, 45] - mediapipe_points[:, 36], axis=1).mean()
    # a box found near the last one moves the points by a small part of the two detectors' disagreement
    diff = np.linalg.norm(tracked - fresh, axis=-1) / iod
    assert np.median(diff) < 0.01 and diff.max() < 0.04, (np.median(diff), diff.max())
    # and the tracked points follow the face through the clip as MediaPipe's do
    err = np.linalg.norm(tracked[:, 17:] - mediapipe_points[:, 17:], axis=-1) / iod
    assert np.median(err) < 0.06


@needs_model
def test_points_are_in_continuous_pixels_and_finer_than_whole_pixels(frames, mediapipe_points):
    """Upsampled, the points fall between whole pixels, in MediaPipe's convention (pixel i spans [i, i+1)): the
    same face at half size gives half the coordinates, and the search sizes agree."""
    import cv2

    f = frames[0]
    with make_detector("dlib") as det:
        full = det.detect(f).landmarks[:, :2]
    frac = np.modf(full)[0]
    assert set(np.unique(np.round(frac, 3))) == {0.25, 0.75}  # half-pixel steps with upsample 2, centres of its pixels
    with make_detector("dlib", {"upsample": 1}) as det:
        whole = det.detect(f).landmarks[:, :2]
    np.testing.assert_array_equal(np.modf(whole)[0], 0.5)  # pixel centres
    shifts, dists = [], []
    for g in frames[:10]:  # one frame's shift is about as large as its noise; ten frames' mean is not
        small = cv2.resize(g, (g.shape[1] // 2, g.shape[0] // 2), interpolation=cv2.INTER_AREA)
        with make_detector("dlib") as a, make_detector("dlib") as b:
            big, half = a.detect(g).landmarks[:, :2], b.detect(small).landmarks[:, :2] * 2
        shifts.append((half - big)[17:].mean(0))
        dists.append(np.median(np.linalg.norm(half - big, axis=1)))
    iod = np.linalg.norm(mediapipe_points[0, 45] - mediapipe_points[0, 36])
    # no offset between the two sizes: in whole-pixel-centre coordinates the half-size points x2 would sit
    # 0.5 px off (0.25 px with the +0.5 dropped at upsample 2)
    assert np.abs(np.mean(shifts, 0)).max() < 0.15, np.mean(shifts, 0)
    assert np.median(dists) < 0.03 * iod
    with make_detector("dlib", {"detect_size": 0}) as det:  # the whole frame at its own size
        native = det.detect(f).landmarks[:, :2]
    assert np.median(np.linalg.norm(native - full, axis=1)) < 0.03 * iod


@needs_model
def test_a_face_at_the_frames_edge(frames):
    """A face cut by the frame's edge: the crops around it are clipped, the points stay finite and on the face."""
    f = frames[0]
    with make_detector("dlib") as det:
        ref = det.detect(f)
    x0 = int(ref.landmarks[:, 0].min()) + 5  # the jaw's left end just outside the frame
    cut = np.ascontiguousarray(f[:, x0:])
    with make_detector("dlib", {"redetect_every": 30}) as det:
        first, second = det.detect(cut), det.detect(cut)  # a whole-frame search, then near the box at the edge
    if first is None:
        pytest.skip("HOG finds no face cut at the edge")
    assert second is not None and np.isfinite(second.landmarks).all()
    inner = np.linalg.norm(second.landmarks[36:, :2] + [x0, 0] - ref.landmarks[36:, :2], axis=1)
    assert np.median(inner) < 2  # eyes, nose and mouth where they were, in px


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
                                         ({"upsample": 0}, "upsample"), ({"upsample": 9}, "upsample"),
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
