"""End to end: a 2-clip generated corpus decodes as RAVDESS-like video with matching ground truth."""

import json

import numpy as np
import pytest
import torch

from emoface.data.ravdess import parse_name
from emoface.mesh.camera import PinholeCamera, axis_angle_to_matrix, project
from emoface.utils.media import probe_video, run_ffmpeg
from pipeline.sources.synth.corpus import clip_paths, generate_corpus, plan_names

GT_KEYS = {
    "fps", "model", "shape", "expression", "jaw", "head_rotation", "head_translation", "vertices", "camera",
    "mouth_opening", "brow_raise", "phonemes", "audio_sample_rate",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    result = generate_corpus(out, actors=[2], clips_per_actor=2, seed=0, workers=1)
    assert not result.failed, result.failed
    return out, result


def _frames(video, w, h):
    raw = run_ffmpeg(["-i", str(video), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], what=video)
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


def test_layout_names_and_manifest(corpus):
    out, result = corpus
    assert result.count("done") == 2
    videos = sorted(out.glob("Actor_*/*.mp4"))
    assert [parse_name(v.name) for v in videos] == plan_names([2], 2)
    assert sorted(p.stem for p in (out / "ground_truth").glob("*.npz")) == [v.stem for v in videos]
    assert not list(out.rglob("*.tmp*")), "temporary files left behind"
    manifest = json.loads((out / "synth_manifest.json").read_text())
    assert manifest["seed"] == 0 and sorted(manifest["clips"]) == [v.stem for v in videos]


def test_video_audio_and_ground_truth_agree(corpus):
    from pipeline.landmarker import FaceLandmarker

    out, _ = corpus
    for name in plan_names([2], 2):
        video, gt_path = clip_paths(out, name)
        info = probe_video(video)
        assert (info.width, info.height, info.codec) == (1280, 720, "h264") and info.fps == pytest.approx(30.0)
        assert info.audio_codec is not None and "aac" in info.audio_codec
        probe = run_ffmpeg(["-i", str(video), "-map", "0:a:0", "-f", "null", "-"], what=video)  # decodes cleanly
        assert probe == b""
        gt = np.load(gt_path)
        assert GT_KEYS <= set(gt.files)
        t = gt["vertices"].shape[0]
        frames = _frames(video, 1280, 720)
        assert frames.shape[0] == t == gt["expression"].shape[0] == gt["jaw"].shape[0] == gt["mouth_opening"].shape[0]
        assert 3.0 <= t / 30.0 <= 4.5 and info.duration_s == pytest.approx(t / 30.0, abs=0.1)
        assert int(gt["audio_sample_rate"]) == 48000
        pcm = run_ffmpeg(["-i", str(video), "-map", "0:a:0", "-f", "s16le", "-acodec", "pcm_s16le", "pipe:1"], what=video)
        assert abs(len(pcm) / 2 / 48000 - t / 30.0) < 0.1  # audio at 48 kHz as long as the video
        assert gt["vertices"].shape[1:] == (468, 3) and np.isfinite(gt["vertices"]).all()
        assert str(gt["model"]) == "demo-head" and gt["camera"].shape == (6,)
        phon = json.loads(str(gt["phonemes"]))
        assert phon and all({"phoneme", "start_s", "end_s"} <= set(p) for p in phon)
        assert 0.3 < phon[0]["start_s"] < phon[-1]["end_s"] < t / 30.0
        # the mouth opens wide while speaking and is (nearly) closed before speech
        m = gt["mouth_opening"]
        assert m[: int(phon[0]["start_s"] * 30) - 4].max() < 0.004 and m.max() > 0.008
        # the detector finds the face in every frame, where the ground truth (camera-space
        # vertices R @ X + t projected with the stored camera, docs/architecture.md) puts it
        with FaceLandmarker(mode="video") as lm:
            dets = [lm.detect(f, int(k * 1000 / 30)) for k, f in enumerate(frames)]
        lost = sum(d is None for d in dets)
        assert lost == 0, f"{video.name}: face lost in {lost} frames"
        cam = PinholeCamera.from_array(gt["camera"])
        rot = axis_angle_to_matrix(torch.as_tensor(gt["head_rotation"], dtype=torch.float64))
        x = torch.as_tensor(gt["vertices"], dtype=torch.float64) @ rot.transpose(-1, -2)
        uv = project(x + torch.as_tensor(gt["head_translation"], dtype=torch.float64)[:, None], cam).numpy()
        err = [np.linalg.norm(d.landmarks[:468, :2] - uv[k], axis=1).mean() for k, d in enumerate(dets)]
        assert np.median(err) < 8.0, f"{video.name}: detector is {np.median(err):.1f} px from the ground truth"


def test_rerun_skips_finished_clips_and_finishes_a_killed_run(corpus):
    out, _ = corpus
    again = generate_corpus(out, actors=[2], clips_per_actor=2, seed=0, workers=1)
    assert again.count("skipped") == 2 and again.count("done") == 0
    # what a run killed while writing the second clip's video leaves: its ground truth, a
    # temporary video and ffmpeg's scratch folder, but no video under the final name
    name = plan_names([2], 2)[1]
    video, gt = clip_paths(out, name)
    gt_before = np.load(gt)["vertices"].copy()
    video.rename(video.parent / f".{video.name}.abc123.tmp.mp4")
    (video.parent / ".synth-xyz").mkdir()
    again = generate_corpus(out, actors=[2], clips_per_actor=2, seed=0, workers=1)
    assert again.count("skipped") == 1 and again.count("done") == 1
    assert video.is_file() and not list(out.rglob("*.tmp*")) and not list(out.rglob(".synth-*"))
    assert np.array_equal(np.load(gt)["vertices"], gt_before)
    with pytest.raises(ValueError, match="another seed"):
        generate_corpus(out, actors=[2], clips_per_actor=2, seed=5, workers=1)


def test_same_seed_same_ground_truth_different_seed_differs(corpus, tmp_path):
    out, _ = corpus
    name = plan_names([2], 1)[0]
    # the same seed in worker processes (spawned, other history) gives the same ground truth
    same = generate_corpus(tmp_path / "same", actors=[2], clips_per_actor=2, seed=0, workers=2)
    other = generate_corpus(tmp_path / "other", actors=[2], clips_per_actor=1, seed=1, workers=1)
    assert not same.failed and not other.failed
    ref = np.load(clip_paths(out, name)[1])
    a = np.load(clip_paths(tmp_path / "same", name)[1])
    b = np.load(clip_paths(tmp_path / "other", name)[1])
    for key in GT_KEYS:
        assert np.array_equal(ref[key], a[key]), key
    second = plan_names([2], 2)[1]
    assert np.array_equal(np.load(clip_paths(out, second)[1])["head_rotation"], np.load(clip_paths(tmp_path / "same", second)[1])["head_rotation"])
    # another seed: another actor shape and another performance (the clips' lengths may differ too,
    # so the motion is compared over the frames both have)
    assert not np.array_equal(ref["shape"], b["shape"])
    n = min(len(ref["vertices"]), len(b["vertices"]))
    assert n > 0
    for key in ("vertices", "expression", "head_rotation"):
        assert not np.allclose(ref[key][:n], b[key][:n]), key
