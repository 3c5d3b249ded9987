"""`make demo` animates speech it has itself (no folder beside the repository is read)."""

from __future__ import annotations

import soundfile as sf

from tools.testing.fixtures import SyntheticSpec, write_synthetic_split
from emoface.data.schema import SplitReader
from pipeline.demo import _prepare_audio, plan_demo


def test_demo_animates_a_generated_test_clip_by_default(tmp_path):
    plan = plan_demo(tmp_path / "demo", epochs=1)
    animate = plan.steps[-1]
    audio = animate.argv[animate.argv.index("--audio") + 1]
    assert audio == str(tmp_path / "demo" / "demo_audio.wav") == str(plan.generated_audio)
    assert "generated test clip" in animate.title
    # before the animate step, the speech of the first test clip is written there
    test_h5 = write_synthetic_split(tmp_path / "demo" / "3d-dataset" / "test.h5", SyntheticSpec(actors=(6,), base_frames=10))
    _prepare_audio(plan)
    written, sr = sf.read(audio, dtype="float32")
    with SplitReader(test_h5) as r:
        expected = r.read_clip(r.clip_ids[0], params=False).audio
    assert sr == 16000 and written.shape == expected.shape


def test_demo_audio_option_is_used_as_given(tmp_path):
    wav = tmp_path / "speech.wav"
    plan = plan_demo(tmp_path / "demo", epochs=1, audio=wav)
    animate = plan.steps[-1]
    assert animate.argv[animate.argv.index("--audio") + 1] == str(wav) and plan.generated_audio is None
    _prepare_audio(plan)
    assert not (tmp_path / "demo" / "demo_audio.wav").exists()
