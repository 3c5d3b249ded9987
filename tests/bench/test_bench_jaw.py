"""bench.bench_jaw: the fitted jaw against the true one, from a build's artefacts and the corpus's truth."""

import json

import numpy as np
import pytest

from bench.bench_jaw import main


def _write(tmp_path, clip, photo, jaw_true, jaw_fit, lld_fit, model="demo-head"):
    T = 50
    t = np.linspace(0, 4 * np.pi, T)
    tj = jaw_true * (1 + np.sin(t))  # mean jaw_true
    gt = tmp_path / "corpus" / "Actor_01" / "ground_truth"
    gt.mkdir(parents=True, exist_ok=True)
    expr = np.zeros((T, 3))
    np.savez(gt / f"{clip}.npz", jaw=np.stack([tj, 0 * t, 0 * t], 1), expression=expr, photo=photo, model=model,
             expression_names=np.array(["lip_press", "lower_lip_depress", "smile"]))
    (tmp_path / "build").mkdir(exist_ok=True)
    (tmp_path / "build" / "config.yaml").write_text("model: demo\n")
    sm = tmp_path / "build" / "work" / "smooth"
    sm.mkdir(parents=True, exist_ok=True)
    fe = np.zeros((T, 5))
    fe[:, 1] = lld_fit
    fj = jaw_fit / jaw_true * tj  # the same shape at another gain
    np.savez(sm / f"{clip}.npz", jaw=np.stack([fj, 0 * t, 0 * t], 1).astype(np.float32), expression=fe.astype(np.float32))


def test_bench_jaw_reports_the_fitted_share_of_the_true_jaw(tmp_path, capsys):
    _write(tmp_path, "01-01-01-01-01-01-01", "astronaut", 0.06, 0.015, 0.5)
    _write(tmp_path, "01-01-02-01-01-01-01", "grace_hopper", 0.06, 0.03, 0.2)
    _write(tmp_path, "01-01-03-01-01-01-01", "grace_hopper", 0.06, 0.06, 0.0, model="flame2023")  # another model: left out
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


def test_detector_gains_relative_to_the_nose_tip(tmp_path, monkeypatch):
    """The detector's vertical motion of the chin, lower and upper lip against the truth's, each minus the nose
    tip's (which carries the head's motion, removed), as a least-squares gain."""
    from types import SimpleNamespace

    import pipeline.qa as qa
    import pipeline.qa.oracle as oracle
    from bench.bench_jaw import detector_gains

    T = 40
    t = np.sin(np.linspace(0, 6, T))
    head = 5.0 * np.cos(np.linspace(0, 3, T))  # the head moves: both nose tips move with it
    true = np.zeros((T, 478, 3))
    true[:, :, 1] = head[:, None]
    for k, amp in ((152, 4.0), (17, 3.0), (0, 1.0)):
        true[:, k, 1] += amp * t
    det = true.copy()
    for k, gain in ((152, 1.1), (17, 1.3), (0, 0.7)):
        det[:, k, 1] = head + gain * (true[:, k, 1] - head)
    lm = tmp_path / "build" / "work" / "landmarks"
    lm.mkdir(parents=True)
    np.savez(lm / "c1.npz", landmarks=det.astype(np.float32), valid=np.ones(T, bool), scheme="mediapipe478")
    np.savez(lm / "c2.npz", landmarks=det[:, :68].astype(np.float32), valid=np.ones(T, bool), scheme="ibug68")
    gt = tmp_path / "corpus" / "ground_truth"
    gt.mkdir(parents=True)
    for c in ("c1", "c2"):
        (gt / f"{c}.npz").write_bytes(b"")
    monkeypatch.setattr(qa, "load_ground_truth", lambda p: SimpleNamespace(model="demo-head", photo="astronaut"))
    monkeypatch.setattr(oracle, "oracle_landmarks", lambda lmk, scheme, g, m, noise, seed: true)
    g = detector_gains(tmp_path / "build", tmp_path / "corpus", SimpleNamespace(name="demo-head"))
    assert list(g) == ["astronaut"]  # the iBUG track is left out
    assert g["astronaut"]["chin_gain"] == pytest.approx(1.1) and g["astronaut"]["lower_lip_gain"] == pytest.approx(1.3)
    assert g["astronaut"]["upper_lip_gain"] == pytest.approx(0.7) and g["astronaut"]["chin_r"] == pytest.approx(1.0)
    assert detector_gains(tmp_path / "build", tmp_path / "corpus", SimpleNamespace(name="flame2023")) == {}
