"""The stage registry: one declaration per stage, from which the scheduler, hashes, progress bars and report derive."""

from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from buildtest_support import BACKEND, HERE, make_corpus
from pipeline.stages import REGISTRY, Stage, StageRegistry, TaskKind
from pipeline.stages.config import BuildConfig, stage_config_hash, stages_from
from pipeline.stages.registry import FIT, MEDIA
from pipeline.stages.runtime import TaskContext, stage_hashes

ROOT = HERE.parents[2]
TOY = Stage("toy", FIT, ("clip_id", "canonical"), (), ("buildtest_toystage",), run="buildtest_toystage:toy_stage")
#: a media-task stage after the frame pass (decode, landmarks), with its run function
TOY_MEDIA = Stage("toy_media", MEDIA, ("clip_id", "decode"), ("decode",), ("buildtest_toystage",),
                  run="buildtest_toystage:toy_media_stage")
CLIPS = ("Actor_01/01-01-03-01-01-01-01.mp4", "Actor_21/01-01-05-01-01-01-21.mp4")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_import_lists_the_stages_without_torch_or_mediapipe():
    r = _run("import sys, pipeline.stages as s; print(s.REGISTRY); print(sorted({'torch', 'mediapipe', 'cv2'} & set(sys.modules)))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"StageRegistry({', '.join(REGISTRY.names)})", "[]"]
    listed = subprocess.run([sys.executable, "-m", "pipeline.stages"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and [line.split()[0] for line in listed.stdout.splitlines()[1:]] == list(REGISTRY.names)


def test_planning_with_the_default_back_end_imports_no_torch():
    """Loading the config (typed fit/smooth/qa sections) and every stage's hashes stay cheap in the main process."""
    code = f"""
import sys
from pipeline.build import build_ravdess
from pipeline.stages.config import load_build_config
from pipeline.stages.runtime import TaskContext, stage_hashes
from pipeline.stages.tasks import check_media_task
from pipeline.sources.ravdess import SourceClip
cfg = load_build_config({str(ROOT / 'configs' / 'ravdess.yaml')!r}, {{"fit.landmarks.noise_iod": 0.02, "qa.max_jitter_mm": 1.0}})
ctx = TaskContext("/nonexistent-out", cfg)
for s in ctx.stages:
    stage_hashes(ctx, s.name, "in", {{"split": "train"}} if s.name == "package" else None)
clip = SourceClip("01-01-03-01-01-01-01", "/x.mp4", 1, 3, 1, 1, 1, 1, "0" * 64)
assert check_media_task(ctx, clip) is None
print(sorted({{"torch", "mediapipe", "cv2", "pipeline.fitting.clip", "pipeline.qa.clip"}} & set(sys.modules)))
"""
    r = _run(code)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[]"


def test_registry_checks_its_declarations():
    with pytest.raises(ValueError, match="reads nope"):
        REGISTRY.with_stage(dataclasses.replace(TOY, reads=("nope",)))
    with pytest.raises(ValueError, match="reads toy"):
        REGISTRY.with_stage(dataclasses.replace(TOY, name="early", reads=("toy",)), after="decode").with_stage(TOY)
    with pytest.raises(ValueError, match="needs a run function"):
        REGISTRY.with_stage(dataclasses.replace(TOY, run=None))
    with pytest.raises(ValueError, match="unique"):
        REGISTRY.with_stage(dataclasses.replace(TOY, name="fit"))
    with pytest.raises(ValueError, match="'toy_media' of the clip task 'media' needs a run function"):
        REGISTRY.with_stage(dataclasses.replace(TOY_MEDIA, run=None), after="landmarks")
    with pytest.raises(ValueError, match="media task runs after its pass over the frames: declare it after 'landmarks'"):
        REGISTRY.with_stage(TOY_MEDIA, after="decode")


def test_each_registry_field_is_read_by_the_build_code():
    """Every field of Stage and TaskKind is read by the build code (a field nothing reads would be a lie).

    Reads count in every module of ``pipeline`` but, in the registry itself, only in ``StageRegistry``'s methods
    other than ``describe`` (the listing)."""
    read: set[str] = set()
    for path in (ROOT / "pipeline").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if path.relative_to(ROOT).as_posix() == "pipeline/stages/registry.py":
            cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "StageRegistry")
            tree = ast.Module([n for n in cls.body if getattr(n, "name", "") != "describe"], [])
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                read.add(node.attr)
    fields = {f.name for cls in (Stage, TaskKind) for f in dataclasses.fields(cls)}
    assert fields - read == set()


def test_each_field_changes_what_it_should():
    ctx = TaskContext("/tmp/unused", BuildConfig())
    base = {s.name: stage_hashes(ctx, s.name, "in") for s in REGISTRY if s.name != "package"}

    def changed(stages: StageRegistry, name: str, cfg: BuildConfig | None = None) -> tuple[bool, bool]:
        h = stage_hashes(TaskContext("/tmp/unused", cfg or BuildConfig(), stages=stages), name, "in")
        return h[1] != base[name][1], h[2] != base[name][2]

    assert changed(REGISTRY.replaced("smooth", format_version=2), "smooth") == (False, True)
    assert changed(REGISTRY.replaced("smooth", modules=("pipeline.stages.tasks",)), "smooth") == (False, True)
    assert changed(REGISTRY.replaced("smooth", numerics=("pipeline.qa",)), "smooth") == (False, True)
    assert changed(REGISTRY.replaced("decode", tool_version="pipeline.stages.runtime:detector_version"), "decode") == (False, True)
    assert changed(REGISTRY.replaced("smooth", sections=("model", "qa")), "smooth") == (True, False)
    assert stage_config_hash(BuildConfig(), "smooth", stages=REGISTRY.replaced("smooth", sections=("decode",))) == \
        stage_config_hash(BuildConfig(device="cuda:0"), "smooth", stages=REGISTRY.replaced("smooth", sections=("decode",)))
    assert stages_from("report") == {"report", "package"} and stages_from("toy", REGISTRY.with_stage(TOY)) == {"toy"}


def test_a_new_stage_is_one_declaration_plus_its_function(tmp_path, media, monkeypatch):
    import buildtest_toystage

    from pipeline.build import build_ravdess
    from pipeline.executors import progress as progress_mod

    root = make_corpus(tmp_path / "ravdess", {c: media["good"] for c in CLIPS})
    out, cfg = tmp_path / "out", BuildConfig(backend=BACKEND)
    stages = REGISTRY.with_stage(TOY, after="qa")
    bars: dict[str, list[int]] = {}

    class Recording(progress_mod.BuildProgress):
        def add(self, name, total, unit="clips"):
            bars.setdefault(name, [0, 0])[0] += total

        def advance(self, name, n=1):
            bars[name][1] += n

    monkeypatch.setattr(progress_mod, "BuildProgress", Recording)
    s = build_ravdess(root, out, cfg, stages=stages)
    assert s.exit_code == 0 and list(s.stages) == [n for n in stages.names if n in s.stages]
    assert s.stages["toy"]["ran"] == 2 and list(s.stages).index("toy") == list(s.stages).index("qa") + 1
    assert json.loads((out / "build.json").read_text())["stages"]["toy"]["ran"] == 2
    z = np.load(out / "work" / "toy" / "01-01-03-01-01-01-01.npz")
    assert z["centroid"].shape == (30, 3)
    sidecar = json.loads((out / "work" / "toy" / "01-01-03-01-01-01-01.sidecar.json").read_text())
    assert sidecar["status"] == "ok" and sidecar["code_version"]
    assert bars[FIT.bar] == [2, 2] and set(bars) == {t.bar for t in stages.tasks().values()}

    again = build_ravdess(root, out, cfg, stages=stages)
    assert all("ran" not in v for v in again.stages.values()) and again.stages["toy"]["cached"] == 2
    forced = build_ravdess(root, out, cfg, stages=stages, force="toy")
    assert forced.stages["toy"]["ran"] == 2 and all("ran" not in forced.stages.get(k, {}) for k in stages.names[:stages.names.index("toy")])
    assert forced.stages["package"]["ran"] == 2  # declared after it: --force redoes every later stage
    bumped = build_ravdess(root, out, cfg, stages=stages.replaced("toy", format_version=2))
    assert bumped.stages["toy"]["ran"] == 2 and all("ran" not in v for k, v in bumped.stages.items() if k != "toy")

    # its failures are reported like any other stage's, in build.json and the QA report
    monkeypatch.setattr(buildtest_toystage, "FAIL", {"01-01-05-01-01-01-21"})
    failed = build_ravdess(root, out, cfg, stages=stages.replaced("toy", format_version=3))
    assert [(f.clip_id, f.stage, f.reason) for f in failed.failures] == [("01-01-05-01-01-01-21", "toy", "toy: refused")]
    report = json.loads((out / "qa" / "report.json").read_text())
    assert [(f["clip_id"], f["stage"]) for f in report["failures"]] == [("01-01-05-01-01-01-21", "toy")]


def test_a_new_media_stage_is_one_declaration_plus_its_function(tmp_path, media, monkeypatch):
    """A stage declared in the media task runs after the frame pass, and later stages read its hash."""
    import buildtest_toystage

    from pipeline.build import build_ravdess

    root = make_corpus(tmp_path / "ravdess", {c: media["good"] for c in CLIPS})
    out, cfg = tmp_path / "out", BuildConfig(backend=BACKEND)
    stages = REGISTRY.with_stage(TOY_MEDIA, after="landmarks").with_stage(
        dataclasses.replace(TOY, reads=("clip_id", "toy_media", "canonical")), after="qa")
    s = build_ravdess(root, out, cfg, stages=stages)
    assert s.exit_code == 0 and not s.failures
    assert s.stages["toy_media"]["ran"] == 2 and s.stages["toy"]["ran"] == 2
    assert list(s.stages).index("toy_media") == list(s.stages).index("landmarks") + 1
    for clip in ("01-01-03-01-01-01-01", "01-01-05-01-01-01-21"):
        audio = np.load(out / "work" / "decode" / f"{clip}.npz")["audio"].astype(np.float64)
        rms = np.load(out / "work" / "toy_media" / f"{clip}.npz")["rms"]
        assert rms[0] == pytest.approx(np.sqrt(np.mean(audio ** 2))) and rms[0] > 0

    again = build_ravdess(root, out, cfg, stages=stages)
    assert all("ran" not in v for v in again.stages.values()) and again.stages["toy_media"]["cached"] == 2
    # a new version of the media stage reruns it alone (same content: what reads it stays up to date)
    bumped = build_ravdess(root, out, cfg, stages=stages.replaced("toy_media", format_version=2))
    assert {k for k, v in bumped.stages.items() if "ran" in v} == {"toy_media"}

    monkeypatch.setattr(buildtest_toystage, "FAIL", {"01-01-05-01-01-01-21"})
    failed = build_ravdess(root, out, cfg, stages=stages.replaced("toy_media", format_version=3))
    assert [(f.clip_id, f.stage, f.reason) for f in failed.failures] == [("01-01-05-01-01-01-21", "toy_media", "toy_media: refused")]


def test_registry_is_picklable_for_worker_processes():
    import pickle

    stages = REGISTRY.with_stage(TOY)
    assert pickle.loads(pickle.dumps(stages)) == stages and isinstance(stages, StageRegistry)
    assert Path(sys.modules["pipeline.stages.registry"].__file__).name == "registry.py"


def test_the_landmarks_stage_carries_the_detectors_version(tmp_path):
    """The landmarks stage's code version holds the configured detector's package and model: MediaPipe's string as it
    was, and for dlib the digest of the model file its settings name, so a new file at the same path redoes the
    landmarks while the config hash stays."""
    import os

    from pipeline.stages.config import LandmarksConfig
    from pipeline.detectors.mediapipe import tool_version as mediapipe_version
    from pipeline.stages.runtime import detector_version

    from pipeline.detectors.registry import DETECTORS
    from pipeline.stages.backend import sources_hash

    assert detector_version(TaskContext("/tmp/unused", BuildConfig())) == \
        f"{mediapipe_version()}; code {sources_hash(*DETECTORS['mediapipe'].code_modules)}"
    assert mediapipe_version().startswith("mediapipe ") and "; model " in mediapipe_version()
    model = tmp_path / "shape.dat"
    model.write_bytes(b"one model")

    def hashes():
        cfg = BuildConfig(landmarks=LandmarksConfig(detector="dlib", options={"predictor": str(model)}))
        return stage_hashes(TaskContext("/tmp/unused", cfg), "landmarks", "in")

    first = hashes()
    model.write_bytes(b"another model")
    os.utime(model, ns=(1, 1))
    second = hashes()
    assert second[1] == first[1] and second[2] != first[2]
    assert hashes() == second  # the same file, the same version
    model.unlink()
    assert "model missing" in detector_version(TaskContext("/tmp/unused", BuildConfig(
        landmarks=LandmarksConfig(detector="dlib", options={"predictor": str(model)}))))


def test_one_detectors_code_is_in_its_own_landmarks_version_only(tmp_path, monkeypatch):
    """The landmarks stage hashes the detectors' shared modules; each detector's own modules enter its tool version,
    so an edit of one detector's source redoes its landmarks and not another detector's."""
    import sys

    from pipeline.detectors.registry import DETECTORS, DetectorSpec
    from pipeline.stages.config import LandmarksConfig

    shared = set(REGISTRY["landmarks"].modules)
    assert not shared & {m for d in DETECTORS for m in d.code_modules}
    assert DETECTORS["mediapipe"].code_modules == ("pipeline.detectors.mediapipe", "pipeline.landmarker")
    assert DETECTORS["dlib"].code_modules == ("pipeline.detectors.dlib68",)
    module = tmp_path / "toy_detector_code.py"
    module.write_text("class Toy:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    detectors = DETECTORS.with_detector(DetectorSpec("toy", "toy_detector_code:Toy"))

    def version(detector: str) -> str:
        cfg = BuildConfig(landmarks=LandmarksConfig(detector=detector))
        return stage_hashes(TaskContext("/tmp/unused", cfg, detectors=detectors), "landmarks", "in")[2]

    before = {d: version(d) for d in ("toy", "mediapipe")}
    module.write_text("class Toy:\n    edited = True\n")  # the toy detector's code changes
    sys.modules.pop("toy_detector_code", None)
    from pipeline.stages import runtime

    runtime.code_version.cache_clear()
    assert version("toy") != before["toy"]
    assert version("mediapipe") == before["mediapipe"]


def test_sources_hash_of_a_packages_init_alone(tmp_path, monkeypatch):
    from pipeline.stages.backend import sources_hash

    pkg = tmp_path / "toy_pkg_for_hash"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("X = 1\n")
    (pkg / "part.py").write_text("Y = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    init, whole = sources_hash("toy_pkg_for_hash.__init__"), sources_hash("toy_pkg_for_hash")
    assert init != whole
    (pkg / "part.py").write_text("Y = 2\n")  # a submodule changes: the whole package's hash, not the __init__'s
    assert sources_hash("toy_pkg_for_hash.__init__") == init and sources_hash("toy_pkg_for_hash") != whole
    (pkg / "__init__.py").write_text("X = 2\n")
    assert sources_hash("toy_pkg_for_hash.__init__") != init
