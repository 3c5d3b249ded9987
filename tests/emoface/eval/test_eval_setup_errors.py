"""Setup errors of ``emoface animate`` and ``emoface render``: one physical line naming the run, exit 2."""

from __future__ import annotations

import numpy as np
import soundfile as sf
from typer.testing import CliRunner

from emoface.cli import app
from tools.testing.fixtures import SyntheticSpec, write_synthetic_split


def test_animate_and_render_refuse_a_missing_run(tmp_path):
    missing = tmp_path / "runs" / "nope"
    line = f"error: {missing}: not a run folder (no checkpoints/) and not a checkpoint file"
    wav = tmp_path / "speech.wav"
    sf.write(str(wav), np.zeros(1600, np.float32), 16000)
    r = CliRunner().invoke(app, ["animate", "--run", str(missing), "--audio", str(wav), "--out", str(tmp_path / "anim"),
                                 "--no-video"])
    assert r.exit_code == 2 and r.output.splitlines() == [line], r.output
    assert not (tmp_path / "anim").exists()

    write_synthetic_split(tmp_path / "data" / "test.h5", SyntheticSpec(actors=(5,), emotions=(0,), intensities=(0,),
                                                                      statements=(1,), base_frames=8))
    from emoface.data.schema import SplitReader

    with SplitReader(tmp_path / "data" / "test.h5") as rd:
        clip = rd.clip_ids[0]
    r = CliRunner().invoke(app, ["render", "--data", str(tmp_path / "data"), "--clip", clip, "--run", str(missing),
                                 "--out", str(tmp_path / "cmp.mp4")])
    assert r.exit_code == 2 and r.output.splitlines() == [line], r.output
