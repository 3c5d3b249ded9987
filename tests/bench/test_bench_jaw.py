"""bench.bench_jaw: the fitted jaw against the true one, from a build's artefacts and the corpus's truth."""

import json

import numpy as np
import pytest

from bench.bench_jaw import main


def _write(tmp_path, clip, photo, jaw_true, jaw_fit, lld_fit):
    T = 50
    t = np.linspace(0, 4 * np.pi, T)
    tj = jaw_true * (1 + np.sin(t))  # mean jaw_true
    gt = tmp_path / "corpus" / "Actor_01" / "ground_truth"
    gt.mkdir(parents=True, exist_ok=True)
    expr = np.zeros((T, 3))
    np.savez(gt / f"{clip}.npz", jaw=np.stack([tj, 0 * t, 0 * t], 1), expression=expr, photo=photo, model="demo-head",
             expression_names=np.array(["lip_press", "lower_lip_depress", "smile"]))
    sm = tmp_path / "build" / "work" / "smooth"
    sm.mkdir(parents=True, exist_ok=True)
    fe = np.zeros((T, 5))
    fe[:, 1] = lld_fit
    fj = jaw_fit / jaw_true * tj  # the same shape at another gain
    np.savez(sm / f"{clip}.npz", jaw=np.stack([fj, 0 * t, 0 * t], 1).astype(np.float32), expression=fe.astype(np.float32))


def test_bench_jaw_reports_the_fitted_share_of_the_true_jaw(tmp_path, capsys):
    _write(tmp_path, "01-01-01-01-01-01-01", "astronaut", 0.06, 0.015, 0.5)
    _write(tmp_path, "01-01-02-01-01-01-01", "grace_hopper", 0.06, 0.03, 0.2)
    out = tmp_path / "s.json"
    assert main(["--build", str(tmp_path / "build"), "--corpus", str(tmp_path / "corpus"), "--json", str(out)]) == 0
    s = json.loads(out.read_text())
    assert s["astronaut"]["jaw_ratio"] == pytest.approx(0.25) and s["astronaut"]["slope"] == pytest.approx(0.25)
    assert s["grace_hopper"]["jaw_ratio"] == pytest.approx(0.5) and s["all"]["clips"] == 2
    assert s["astronaut"]["expression"][0] == ["lower_lip_depress", pytest.approx(0.5), 0.0]
    assert "| astronaut | 1 | 0.0150 / 0.0600 | 0.25 | 0.25 | lower_lip_depress 0.50 vs 0.00" in capsys.readouterr().out


def test_bench_jaw_names_what_is_missing(tmp_path):
    with pytest.raises(SystemExit):
        main(["--build", str(tmp_path), "--corpus", str(tmp_path)])
    _write(tmp_path, "01-01-01-01-01-01-01", "astronaut", 0.06, 0.015, 0.5)
    with pytest.raises(SystemExit):  # a corpus without that clip's truth
        main(["--build", str(tmp_path / "build"), "--corpus", str(tmp_path / "nothing")])
