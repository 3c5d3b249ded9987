"""Stage building blocks: decoding by timestamps, sidecars and resume rules, artefact hashing."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from buildtest_support import BACKEND
from emoface.utils.media import ffmpeg_exe
from pipeline.qa.config import QAConfig
from pipeline.stages.config import BuildConfig, DecodeConfig, stage_config_hash, stages_from
from pipeline.stages.decode import MediaReader, decode_clip
from pipeline.stages.outcome import run_stage
from pipeline.stages.runtime import TaskContext
from pipeline.stages.store import ClipError, Store, cleanup_temporaries, content_hash


def _index_video(path, n: int, rate: str = "30000/1001") -> None:
    """A 32x32 grey video whose frame j has grey level 4 * (j % 60) (to read frame indices back)."""
    frames = np.zeros((n, 32, 32, 3), np.uint8)
    frames[:] = (4 * (np.arange(n) % 60)).astype(np.uint8)[:, None, None, None]
    cmd = [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "32x32",
           "-r", rate, "-i", "pipe:0", "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", str(path)]
    subprocess.run(cmd, input=frames.tobytes(), check=True)


def test_29_97_fps_becomes_30_fps_by_timestamps(tmp_path):
    path = tmp_path / "index.mp4"
    _index_video(path, 900)  # 30.03 s at 29.97 fps
    got = np.array([int(round(f[..., 0].mean())) for _, f in MediaReader(path, fps=30.0)])
    assert len(got) == 901  # 30.03 s at 30 fps
    index = np.round(got / 4).astype(int)  # source frame index modulo 60
    exact = np.minimum(np.arange(len(got)) * 1000 / 1001, 899)  # where output frame k (time k / 30) falls in the source
    offset = (index - exact + 30) % 60 - 30
    assert np.abs(offset).max() <= 0.501  # the source frame nearest in time (ties, to timestamp rounding, either way)
    assert ((np.diff(index) % 60) == 0).sum() == 1  # one frame in ~1000 is shown twice
    assert set(np.diff(index) % 60) == {0, 1}  # and none is skipped


def test_decode_artefact_of_the_fixture(media):
    a = decode_clip(media["good"], DecodeConfig(thumbnails=3, thumbnail_width=160))
    assert int(a["n_frames"]) == 30 and float(a["src_fps"]) == pytest.approx(29.97)
    assert a["audio"].dtype == np.float32 and a["audio"].shape == (16000,) and np.abs(a["audio"]).max() <= 1.0
    assert a["thumbnails"].shape == (3, 90, 160, 3) and a["thumbnail_frames"].tolist() == [7, 14, 22]
    assert float(a["thumbnail_scale"]) == pytest.approx(160 / 1280)
    with pytest.raises(ClipError, match="at least 60"):
        decode_clip(media["good"], DecodeConfig(min_frames=60))
    with pytest.raises(ClipError, match="corrupt video: .* decoder error"):
        decode_clip(media["corrupt"], DecodeConfig())


def test_truncated_stream_is_detected(tmp_path, media):
    data = media["faststart"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.5)])
    with pytest.raises(ClipError, match="corrupt video|truncated"):
        decode_clip(cut, DecodeConfig())


def _ctx(tmp_path, force=frozenset(), **cfg) -> TaskContext:
    return TaskContext(str(tmp_path), BuildConfig(**cfg), force)


def test_run_stage_skips_caches_failures_and_forces(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return Store(tmp_path).write_npz("decode", "c1", {"x": np.arange(3)})

    ctx = _ctx(tmp_path)
    first = run_stage(ctx, "decode", "c1", "in-1", compute)
    assert first.status == "ran" and first.output_sha256 == content_hash({"x": np.arange(3)})
    assert run_stage(ctx, "decode", "c1", "in-1", compute).status == "cached" and len(calls) == 1
    assert run_stage(ctx, "decode", "c1", "in-2", compute).status == "ran" and len(calls) == 2  # new input
    assert run_stage(_ctx(tmp_path, qa=QAConfig(max_jitter_mm=1.0)), "decode", "c1", "in-2", compute).status == "cached"  # not decode's config
    thumbs = DecodeConfig(thumbnails=2)
    assert run_stage(_ctx(tmp_path, decode=thumbs), "decode", "c1", "in-2", compute).status == "ran"  # decode's config
    later = _ctx(tmp_path, force=stages_from("landmarks"), decode=thumbs)
    assert run_stage(later, "decode", "c1", "in-2", compute).status == "cached"  # decode comes before landmarks
    forced = _ctx(tmp_path, force=stages_from("decode"), decode=thumbs)
    assert run_stage(forced, "decode", "c1", "in-2", compute).status == "ran" and len(calls) == 4

    # a missing artefact is rebuilt even when its sidecar matches
    Store(tmp_path).artefact("decode", "c1").unlink()
    assert run_stage(forced.__class__(str(tmp_path), BuildConfig(decode=thumbs)), "decode", "c1", "in-2", compute).status == "ran"
    assert len(calls) == 5


def test_bad_input_failures_are_cached_other_errors_retried(tmp_path):
    ctx = _ctx(tmp_path)
    attempts = []

    def bad():
        attempts.append("bad")
        raise ClipError("no audio track")

    def bug():
        attempts.append("bug")
        raise KeyError("oops")

    o = run_stage(ctx, "decode", "c1", "in", bad)
    assert o.status == "failed" and o.reason == "no audio track" and not o.cached_failure
    again = run_stage(ctx, "decode", "c1", "in", bad)
    assert again.status == "failed" and again.cached_failure and attempts == ["bad"]
    o = run_stage(ctx, "landmarks", "c1", "in", bug)
    assert o.status == "failed" and o.reason.startswith("KeyError: 'oops'")
    run_stage(ctx, "landmarks", "c1", "in", bug)
    assert attempts == ["bad", "bug", "bug"]
    sidecar = json.loads(Store(tmp_path).sidecar_path("landmarks", "c1").read_text())
    assert sidecar["status"] == "failed" and sidecar["cacheable"] is False


def test_config_hash_covers_only_what_a_stage_reads():
    a, b = BuildConfig(), BuildConfig(qa=QAConfig(max_jitter_mm=1.0))
    assert stage_config_hash(a, "fit") == stage_config_hash(b, "fit")
    assert stage_config_hash(a, "qa") != stage_config_hash(b, "qa")
    assert stage_config_hash(a, "fit") == stage_config_hash(BuildConfig(device="cuda:0"), "fit")
    assert stages_from("canonical") == {"canonical", "qa", "report", "package"}
    with pytest.raises(ValueError, match="unknown stage"):
        stages_from("render")


def test_content_hash_ignores_file_bytes_and_cleanup(tmp_path):
    s = Store(tmp_path)
    _, h1 = s.write_npz("fit", "k", {"a": np.ones(3, np.float32), "b": np.int64(2)})
    _, h2 = s.write_npz("fit", "k", {"b": np.int64(2), "a": np.ones(3, np.float32)})
    assert h1 == h2 and h1 != content_hash({"a": np.ones(3, np.float64), "b": np.int64(2)})
    (tmp_path / "work" / "fit" / ".k.npz.abc123.tmp.npz").write_bytes(b"half")
    assert cleanup_temporaries(tmp_path) == 1 and sorted(p.name for p in (tmp_path / "work" / "fit").iterdir()) == ["k.npz"]


def test_code_versions_are_per_stage_group():
    from pipeline.stages import REGISTRY
    from pipeline.stages.backend import DefaultBackend

    b = DefaultBackend()
    fit = {b.code_version(REGISTRY[s]) for s in ("identity", "fit", "smooth", "canonical")}
    assert len(fit) == 1
    assert b.code_version(REGISTRY["qa"]) == b.code_version(REGISTRY["report"]) != b.code_version(REGISTRY["fit"])
    assert b.code_version(REGISTRY["package"]) not in fit | {b.code_version(REGISTRY["qa"])}
    assert "pipeline.qa" not in REGISTRY["fit"].numerics and "pipeline.fitting" not in REGISTRY["qa"].numerics


def test_a_qa_code_change_redoes_qa_and_report_only(tmp_path, media, monkeypatch):
    import buildtest_backend

    from pipeline.build import build_ravdess
    from pipeline.stages import runtime
    from pipeline.stages.config import BuildConfig

    root = tmp_path / "ravdess"
    (root / "Actor_01").mkdir(parents=True)
    shutil.copy(media["good"], root / "Actor_01" / "01-01-03-01-01-01-01.mp4")
    out, cfg = tmp_path / "out", BuildConfig(backend=BACKEND)
    assert build_ravdess(root, out, cfg).exit_code == 0
    before = (out / "train.h5").stat().st_mtime_ns
    orig = buildtest_backend.DetectorBackend.code_version
    monkeypatch.setattr(buildtest_backend.DetectorBackend, "code_version",
                        lambda self, stage: orig(self, stage) + ("-qa-v2" if stage.name in ("qa", "report") else ""))
    runtime.code_version.cache_clear()
    try:
        s = build_ravdess(root, out, cfg)
    finally:
        runtime.code_version.cache_clear()
    assert s.exit_code == 0
    assert s.stages["qa"]["ran"] == 1, s.stages
    assert all("ran" not in s.stages.get(k, {}) for k in ("decode", "landmarks", "identity", "fit", "smooth", "canonical", "package"))
    assert s.stages["fit"]["cached"] == 1 and s.stages["package"]["cached"] == 1
    assert (out / "train.h5").stat().st_mtime_ns == before
