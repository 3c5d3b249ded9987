"""bench.bench_voice_emotion: the prosodic features see pitch, loudness and duration."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is a folder of the repository, not an installed package
    sys.path.insert(0, str(REPO))

from bench.bench_voice_emotion import main, prosody_features  # noqa: E402


def _tone(f0: float, seconds: float, amp: float) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return amp * (np.sin(2 * np.pi * f0 * t) + 0.5 * np.sin(4 * np.pi * f0 * t))


def test_features_follow_pitch_loudness_and_duration():
    low, high = prosody_features(_tone(120, 1.0, 0.1)), prosody_features(_tone(240, 1.0, 0.1))
    assert np.exp(low[3]) == pytest.approx(120, rel=0.03) and np.exp(high[3]) == pytest.approx(240, rel=0.03)
    loud = prosody_features(_tone(120, 1.0, 0.4))
    assert loud[1] - low[1] == pytest.approx(20 * np.log10(4), abs=0.5)
    long = prosody_features(np.concatenate([_tone(120, 2.0, 0.1), np.zeros(8000)]))
    assert long[0] - low[0] == pytest.approx(np.log(2), abs=0.05)  # the silence is not voiced


def test_bad_corpus_is_one_line_exit_2(tmp_path, capsys):
    assert main(["--corpus", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path) in err[0]
