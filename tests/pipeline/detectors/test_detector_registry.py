"""The detector registry: a detector declared once (one ``DetectorSpec``) is usable everywhere --
by ``make_detector``, by the build config's check (name and ``landmarks.options``) and by the
landmarks stage -- and the shipped detectors are declared there and nowhere else."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from emoface.utils.config import ConfigError, dump_yaml
from pipeline.detectors import DETECTORS, Detection, Detector, DetectorError, DetectorSpec, make_detector
from pipeline.stages.config import LandmarksConfig, load_build_config
from pipeline.stages.landmarks import LandmarkCollector


@dataclasses.dataclass
class ToySettings:
    offset: float = 1.0
    missing_every: int = 0  # every n-th frame has no face (0: none missing)

    def __post_init__(self) -> None:
        if self.offset < 0:
            raise ValueError("offset must be >= 0")


class ToyDetector:
    """68 points on a diagonal, shifted by ``offset``; confidence 0.5."""

    scheme = "ibug68"
    n_points = 68
    blendshape_names: tuple[str, ...] = ()
    has_transform = False
    has_confidence = True
    accuracy_note = "toy detector: accuracy unmeasured"

    def __init__(self, settings: ToySettings):
        self.settings = settings
        self.calls = 0

    def detect(self, frame: np.ndarray, timestamp_ms: int) -> Detection | None:
        self.calls += 1
        n = self.settings.missing_every
        if n and self.calls % n == 0:
            return None
        pts = np.stack([np.arange(68), np.arange(68), np.zeros(68)], 1).astype(np.float32) + self.settings.offset
        return Detection(pts, np.full(68, 0.5, np.float32))

    def close(self) -> None:
        pass

    def __enter__(self) -> "ToyDetector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: the one declaration of the toy detector
TOY = DetectorSpec("toy", f"{__name__}:ToyDetector", f"{__name__}:ToySettings", note="toy detector: accuracy unmeasured")
WITH_TOY = DETECTORS.with_detector(TOY)


def test_a_detector_declared_once_is_made_and_accepted_by_the_config(tmp_path):
    cfg_file = tmp_path / "toy.yaml"
    cfg_file.write_text("landmarks:\n  detector: toy\n  options: {offset: 2.5}\n")
    cfg = load_build_config(cfg_file, detectors=WITH_TOY)
    assert cfg.landmarks.detector == "toy"
    assert cfg.landmarks.options == {"offset": 2.5, "missing_every": 0}  # resolved: defaults included
    with make_detector(cfg.landmarks.detector, cfg.landmarks.options, WITH_TOY) as det:
        assert isinstance(det, ToyDetector) and isinstance(det, Detector)
        assert det.settings == ToySettings(offset=2.5)
        d = det.detect(np.zeros((8, 8, 3), np.uint8), 0)
    assert d.landmarks[0, 0] == 2.5
    # the resolved config written by a build loads back as the same config
    (tmp_path / "resolved.yaml").write_text(dump_yaml(cfg))
    assert load_build_config(tmp_path / "resolved.yaml", detectors=WITH_TOY) == cfg


def test_the_landmarks_stage_runs_a_declared_detector():
    cfg = LandmarksConfig(detector="toy", options={"missing_every": 4}, min_detection_rate=0.5)
    with LandmarkCollector(cfg, 30.0, WITH_TOY) as col:
        for i in range(8):
            col.feed(i, np.zeros((16, 16, 3), np.uint8))
        out = col.arrays()
    assert str(out["scheme"]) == "ibug68" and str(out["detector"]) == "toy"
    assert out["landmarks"].shape == (8, 68, 3) and out["confidence"].shape == (8, 68)
    assert out["valid"].tolist() == [True, True, True, False] * 2
    assert "blendshapes" not in out and "transforms" not in out
    assert str(out["detector_note"]) == "toy detector: accuracy unmeasured"


def test_the_config_check_names_the_file_and_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("landmarks:\n  detector: toy\n  options: {offset: -1.0}\n")
    with pytest.raises(ConfigError, match=rf"^{bad}: landmarks.options: offset must be >= 0$"):
        load_build_config(bad, detectors=WITH_TOY)
    bad.write_text("landmarks:\n  detector: toy\n  options: {offest: 1.0}\n")
    with pytest.raises(ConfigError, match=rf"^{bad}: landmarks.options: unknown key\(s\) offest"):
        load_build_config(bad, detectors=WITH_TOY)
    bad.write_text("landmarks:\n  detector: toy\n")
    # without the declaration the name is refused, naming the registered ones
    with pytest.raises(ConfigError, match=rf"^{bad}: landmarks.detector: unknown detector 'toy' \(choose one of mediapipe, fan, dlib\)$"):
        load_build_config(bad)
    bad.write_text("landmarks:\n  options: {weights: random}\n")  # a fan setting given to mediapipe
    with pytest.raises(ConfigError, match=rf"^{bad}: landmarks.options: unknown key\(s\) weights"):
        load_build_config(bad)


def test_shipped_detectors_resolve_and_the_default_config_holds_their_settings():
    assert DETECTORS.names[0] == DETECTORS.default == "mediapipe"
    for spec in DETECTORS:
        assert callable(spec.settings_class()), spec.name
        assert dataclasses.is_dataclass(spec.settings_class())
    cfg = load_build_config(None)
    assert cfg.landmarks.detector == "mediapipe" and cfg.landmarks.options == {"min_confidence": 0.5}
    fan = load_build_config(None, {"landmarks.detector": "fan", "landmarks.options.face_box": "haar"})
    assert fan.landmarks.options["face_box"] == "haar" and fan.landmarks.options["weights"] == "pretrained"


def test_registry_refuses_duplicates_and_unknown_names():
    with pytest.raises(ValueError, match="unique"):
        WITH_TOY.with_detector(TOY)
    with pytest.raises(DetectorError, match=r"unknown detector 'nope' \(choose one of mediapipe, fan, dlib, toy\)"):
        make_detector("nope", None, WITH_TOY)
    with pytest.raises(DetectorError, match="cannot be loaded"):
        DetectorSpec("broken", "no_such_module:X").make()


def test_a_detector_without_a_version_is_named_by_its_name():
    from pipeline.detectors.registry import DETECTORS, DetectorSpec

    assert DetectorSpec("toy2", "pipeline.detectors.mediapipe:MediaPipeDetector").tool_version() == "toy2"
    assert DETECTORS["fan"].tool_version().startswith("face-alignment ")
    bad = DetectorSpec("toy3", "pipeline.detectors.mediapipe:MediaPipeDetector", version="pipeline.detectors.dlib68:_MODEL")
    with pytest.raises(DetectorError, match=r"detector 'toy3': version 'pipeline.detectors.dlib68:_MODEL' is not callable"):
        bad.tool_version()
    missing = DetectorSpec("toy4", "pipeline.detectors.mediapipe:MediaPipeDetector", version="pipeline.detectors.dlib68:nope")
    with pytest.raises(DetectorError, match="toy4"):
        missing.tool_version()
