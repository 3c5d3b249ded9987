"""End to end: a tiny trained run, then ``emoface evaluate``, ``animate`` and ``render`` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from emoface.cli import app

REPO = Path(__file__).resolve().parents[3]
SPEECH = REPO / ".." / "shared" / "assets" / "speech" / "faceformer_demo_test.wav"
runner = CliRunner()
# One torch thread: the tiny model's small ops run several times faster than with intra-op
# threads on a shared 2-core machine (and the CLI option is exercised).
T1 = ["--threads", "1"]


@pytest.fixture(autouse=True, scope="module")
def _restore_torch_threads():
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _gl_or_skip() -> None:
    from emoface.render.gl import RenderUnavailable, offscreen_renderer

    try:
        offscreen_renderer(16, 16).delete()
    except RenderUnavailable as exc:
        pytest.skip(f"no offscreen OpenGL here: {exc}")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """Fixture splits and two tiny runs trained with the real trainer: EmoFace and the `add` ablation."""
    from tools.testing.fixtures import write_synthetic_splits
    from emoface.train.config import ExperimentConfig
    from emoface.train.trainer import Trainer
    from emoface.utils.config import load_yaml

    root = tmp_path_factory.mktemp("tiny")
    write_synthetic_splits(root / "data", train_actors=(1, 2), val_actors=(3,), test_actors=(5,), emotions=(0, 2),
                           intensities=(0, 1), statements=(1,), base_frames=15)
    # 3 epochs fed back their own predictions from the start at a low rate: enough to beat the template floor
    common = {"train.epochs": 3, "schedule.theta": 0, "optim.lr": 1e-4, "optim.lr_schedule": "constant",
              "train.device": "cpu", "train.threads": 1, "train.val_max_clips": 2,
              "model.feature_dim": 32, "model.mesh_attention.channels": 4}
    runs = {}
    for name, extra in (("emoface", {}), ("add", {"model.fusion": "add"})):
        cfg = load_yaml(ExperimentConfig, REPO / "configs" / "emoface-small.yaml", {**common, **extra, "name": name})
        Trainer(cfg, root / "data", root / "runs" / name, max_steps=None if name == "emoface" else 2).run()
        runs[name] = root / "runs" / name
    return root / "data", runs


def test_evaluate_writes_table_with_baselines_and_floor(tiny, tmp_path):
    data, runs = tiny
    out = tmp_path / "eval"
    res = runner.invoke(app, ["evaluate", *T1, "--run", str(runs["emoface"]), "--data", str(data), "--split", "test",
                              "--baselines", str(runs["add"]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "metrics.json").read_text())
    names = [m["name"] for m in summary["methods"]]
    assert names == ["emoface", "add", "template only"]
    emo, add, floor = summary["methods"]
    assert emo["overall"]["n_conditions"] == 2 and floor["overall"]["n_conditions"] == 1
    assert set(emo["per_condition"]) == {"Actor_01", "Actor_02"}
    assert "add instead of Mesh Attention" in add["description"]
    assert emo["checkpoint"].endswith(".pt") and emo["first_frame"] is True
    for m in summary["methods"]:
        for k in ("lve", "eve"):
            assert np.isfinite(m["overall"][k]["mean"]) and m["overall"][k]["mean"] >= 0
    # the trained run predicts the unseen test actor's lips and expression better than the template alone
    # (measured: LVE 1.5 vs 4.5 mm, EVE 0.5 vs 1.8 mm)
    assert emo["overall"]["lve"]["mean"] < 0.6 * floor["overall"]["lve"]["mean"]
    assert emo["overall"]["eve"]["mean"] < floor["overall"]["eve"]["mean"]
    assert set(emo["per_emotion"]) == {"neutral", "happy"} and set(emo["per_intensity"]) == {"normal", "strong"}
    md = (out / "table.md").read_text()
    assert "| emoface |" in md and "| add |" in md and "| template only |" in md
    assert "Per emotion: EVE" in md
    # a missing run is a setup error: one physical line naming it, exit 2
    res = runner.invoke(app, ["evaluate", "--run", str(tmp_path / "nope"), "--data", str(data), "--out", str(out)])
    assert res.exit_code == 2 and [ln for ln in res.output.splitlines() if ln.strip()] == [
        f"error: {tmp_path / 'nope'}: not a run folder (no checkpoints/) and not a checkpoint file"]
    # data of another topology (the same vertices, one triangle fewer): the run is refused, not evaluated
    from tools.testing.fixtures import SyntheticSpec, synthetic_mesh, write_synthetic_split

    v0, faces, regions = synthetic_mesh()
    other = tmp_path / "other-topology"
    write_synthetic_split(other / "test.h5", SyntheticSpec(actors=(5,), emotions=(0,), intensities=(0,), statements=(1,),
                                                           base_frames=15), mesh=(v0, faces[:-1], regions))
    res = runner.invoke(app, ["evaluate", *T1, "--run", str(runs["emoface"]), "--data", str(other), "--split", "test",
                              "--out", str(tmp_path / "eval-other")])
    assert res.exit_code == 2 and not (tmp_path / "eval-other" / "metrics.json").exists()
    assert [ln for ln in res.output.splitlines() if ln.strip()] == [
        f"error: {runs['emoface']}: the run was trained on topology 'fixture-468', which differs from the data's"]


def test_animate_real_speech_mp4_with_audio(tiny, tmp_path):
    if not SPEECH.is_file():
        pytest.skip(f"{SPEECH} absent (the shared assets folder is not next to the repository)")
    _gl_or_skip()
    import imageio_ffmpeg

    from emoface.data.schema import validate_split
    from emoface.utils.media import probe_video

    _, runs = tiny
    out = tmp_path / "anim"
    res = runner.invoke(app, ["animate", *T1, "--run", str(runs["emoface"]), "--audio", str(SPEECH), "--emotion", "happy",
                              "--intensity", "strong", "--speaker", "1", "--out", str(out), "--size", "96", "--obj"])
    assert res.exit_code == 0, res.output
    duration = sf.info(str(SPEECH)).duration
    n, _ = imageio_ffmpeg.count_frames_and_secs(str(out / "animation.mp4"))
    assert abs(n - 30 * duration) <= 1
    info = probe_video(out / "animation.mp4")
    assert info.has_audio and info.fps == pytest.approx(30)
    verts = np.load(out / "vertices.npy")
    assert verts.shape[0] == n and np.isfinite(verts).all()
    assert validate_split(out / "animation.h5") == []
    assert len(list((out / "obj").glob("*.obj"))) == n


def speech_like(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """Generated speech-like audio: a glottal pulse train (f0 gliding around 90-170 Hz) through three
    formant resonators whose frequencies move from syllable to syllable, ~4 syllables/s, pauses between phrases."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    f0 = 130 + 40 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6)) + 5 * rng.standard_normal(n).cumsum() / np.sqrt(sr)
    phase = np.cumsum(np.clip(f0, 70, 250)) / sr
    source = np.diff(np.floor(phase), prepend=0.0) + 0.02 * rng.standard_normal(n)  # pulses plus breath noise
    out = np.zeros(n)
    syllable = int(0.25 * sr)
    for start in range(0, n, syllable):
        seg = slice(start, min(n, start + syllable))
        x = source[seg]
        formants = rng.uniform((300, 900, 2200), (800, 2200, 3000))
        for f, bw in zip(formants, (80, 120, 160)):
            r = np.exp(-np.pi * bw / sr)
            x = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / sr), r * r], x)
        out[seg] = x * np.hanning(len(x))
    phrase = (np.sin(2 * np.pi * t / 3.0) > -0.6).astype(float)  # about 1 s of silence every 3 s
    out *= phrase
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def test_animate_60s_stereo_48k_and_emotion_mix(tiny, tmp_path):
    """Generated speech-like audio, so that the test runs without the shared assets."""
    _, runs = tiny
    long = speech = speech_like(60, 48000)
    wav60 = tmp_path / "long.wav"
    sf.write(str(wav60), np.stack([long, 0.5 * long], axis=1), 48000)  # 60 s, stereo, 48 kHz
    res = runner.invoke(app, ["animate", *T1, "--run", str(runs["emoface"]), "--audio", str(wav60), "--out", str(tmp_path / "a60"),
                              "--no-video", "--speaker", "Actor_02"])
    assert res.exit_code == 0, res.output
    v60 = np.load(tmp_path / "a60" / "vertices.npy")
    assert v60.shape[0] == 1800 and np.isfinite(v60).all()

    short = tmp_path / "short.wav"
    sf.write(str(short), speech[: 2 * 48000], 48000)
    outs = {}
    for name, args in (("happy", ["--emotion", "happy"]), ("mix1", ["--emotion-mix", "happy=1.0"]),
                       ("mix", ["--emotion-mix", "happy=0.5,sad=0.5"])):
        res = runner.invoke(app, ["animate", *T1, "--run", str(runs["emoface"]), "--audio", str(short), "--out",
                                  str(tmp_path / name), "--no-video", *args])
        assert res.exit_code == 0, res.output
        outs[name] = np.load(tmp_path / name / "vertices.npy")
    np.testing.assert_array_equal(outs["happy"], outs["mix1"])  # a mix of one emotion is that emotion
    assert not np.array_equal(outs["happy"], outs["mix"])  # and the mix does change the output
    res = runner.invoke(app, ["animate", *T1, "--run", str(runs["emoface"]), "--audio", str(short), "--out", str(tmp_path / "x"),
                              "--emotion", "bored"])
    assert res.exit_code == 1 and "unknown emotion" in res.output


def test_render_gt_and_prediction_side_by_side(tiny, tmp_path):
    _gl_or_skip()
    import imageio_ffmpeg

    from emoface.data.schema import SplitReader

    data, runs = tiny
    with SplitReader(data / "test.h5") as r:
        clip = r.clip_ids[0]
        n_frames = r.clip_meta(clip).n_frames
    out = tmp_path / "cmp.mp4"
    res = runner.invoke(app, ["render", *T1, "--data", str(data), "--clip", clip, "--run", str(runs["emoface"]), "--out", str(out),
                              "--size", "96"])
    assert res.exit_code == 0, res.output
    gen = imageio_ffmpeg.read_frames(str(out))
    meta = next(gen)
    assert meta["size"] == (288, 96)  # three panels: GT | prediction | error heat map
    frames = [np.frombuffer(f, np.uint8).reshape(96, 288, 3) for f in gen]
    assert len(frames) == n_frames
    heat = frames[-1][:, 192:].astype(int)
    assert (np.abs(heat[..., 0] - heat[..., 2]) > 60).any()  # coloured, unlike the grey panels
    res = runner.invoke(app, ["render", "--data", str(data), "--clip", "no-such-clip"])
    assert res.exit_code == 1 and "no-such-clip" in res.output
