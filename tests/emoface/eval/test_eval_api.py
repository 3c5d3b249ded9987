"""`emoface.eval.evaluate` and `emoface.eval.animate` called from Python (no CLI), and the animation writers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from tools.testing.fixtures import SyntheticSpec, write_synthetic_split
from tools.testing.experiments import tiny_experiment
from emoface.data.schema import SplitReader, require_valid_split
from emoface.eval import (
    AnimateError,
    Animation,
    MissingSplitError,
    animate,
    evaluate,
    write_animation_h5,
    write_obj_sequence,
    write_vertices_npy,
)
from emoface.eval.report import write_report
from emoface.train import train

TINY = tiny_experiment("tiny-eval-api")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    import torch

    threads = torch.get_num_threads()
    root = tmp_path_factory.mktemp("eval_api")
    data = root / "data"
    write_synthetic_split(data / "train.h5", SyntheticSpec(actors=(1, 2), emotions=(0, 2), intensities=(0,),
                                                           statements=(1,), base_frames=12))
    write_synthetic_split(data / "test.h5", SyntheticSpec(actors=(5,), emotions=(0, 2), intensities=(0, 1),
                                                          statements=(1,), base_frames=12, seed=2))
    cfg = root / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    train(cfg, data, root / "run", max_steps=1)
    yield root / "run", data
    torch.set_num_threads(threads)


def test_evaluate_returns_metrics_of_run_and_floor(trained, tmp_path):
    run, data = trained
    seen = []
    result = evaluate(run, data, "test", conditions=1, progress=lambda cid, done, total: seen.append((done, total)))
    with SplitReader(data / "test.h5") as r:
        n_clips, n_frames = len(r.clip_ids), sum(r.clip_meta(c).n_frames for c in r.clip_ids)
    assert (result.n_clips, result.n_frames, result.conditions, result.speakers) == (n_clips, n_frames, [0], ["Actor_01", "Actor_02"])
    assert seen == [(k, n_clips) for k in range(1, n_clips + 1)]
    assert [m.name for m in result.methods] == ["run", "template only"]
    run_clips, floor_clips = result.methods[0].clips, result.methods[1].clips
    assert len(run_clips) == len(floor_clips) == n_clips  # one condition: one prediction per clip
    assert all(np.isfinite(c.lve_sum) and c.lve_sum > 0 for c in floor_clips)
    json_path, md_path = write_report(result, tmp_path / "report")
    assert json_path.is_file() and "template only" in md_path.read_text()
    with pytest.raises(MissingSplitError, match="val.h5: split file not found"):
        evaluate(run, data, "val")


def test_animate_returns_an_animation_and_writers_write_it(trained, tmp_path):
    run, data = trained
    wav = tmp_path / "speech.wav"
    t = np.arange(int(1.2 * 22050)) / 22050
    sf.write(str(wav), (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32), 22050)
    anim = animate(run, wav, intensity="strong", speaker="Actor_02")
    assert isinstance(anim, Animation)
    with SplitReader(data / "train.h5") as r:
        n_vertices, faces, fps = r.n_vertices, r.faces, r.fps
    assert anim.vertices.dtype == np.float32 and anim.vertices.shape[1:] == (n_vertices, 3)
    assert anim.n_frames == round(1.2 * fps) and anim.fps == fps and anim.duration == pytest.approx(1.2, abs=1e-3)
    assert np.array_equal(anim.faces, faces) and anim.sample_rate == 16000
    assert (anim.conditions.speaker, anim.conditions.intensity, anim.conditions.emotion) == (1, 1, None)
    assert anim.template_name == "Actor_02" and np.isfinite(anim.vertices).all()
    assert abs(float(anim.vertices.mean(axis=(0, 1))[1] - anim.template.mean(0)[1])) < 0.01  # a face, in metres

    npy = write_vertices_npy(anim, tmp_path / "out" / "vertices.npy")
    h5 = write_animation_h5(anim, tmp_path / "out" / "animation.h5")
    assert np.array_equal(np.load(npy), anim.vertices)
    require_valid_split(h5)
    with SplitReader(h5) as r:
        rec = r.read_clip("animation", params=False)
        assert np.array_equal(rec.vertices, anim.vertices) and rec.subject == "Actor_02" and rec.intensity == 1
    assert write_obj_sequence(anim.vertices[:2], anim.faces, tmp_path / "out" / "obj") == 2

    # the same request gives the same vertices (inference is deterministic)
    again = animate(run, wav, intensity=1.0, speaker=1)
    assert np.array_equal(again.vertices, anim.vertices)
    mixed = animate(run, wav, emotion_mix={"happy": 1.4, "sad": 0.6})  # a mapping, normalised like "happy=1.4,sad=0.6"
    assert mixed.conditions.emotion == pytest.approx({"happy": 0.7, "sad": 0.3})
    assert mixed.vertices.shape == anim.vertices.shape and not np.array_equal(mixed.vertices, anim.vertices)
    with pytest.raises(AnimateError, match="unknown speaker"):
        animate(run, wav, speaker="nobody")
