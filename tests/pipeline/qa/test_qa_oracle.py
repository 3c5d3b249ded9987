"""The oracle (``oracle.enabled``, ``--oracle``): the build's fit from the true landmarks, reported beside the build's measures."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.qa import write_report
from pipeline.qa.ground_truth import _gt_landmarks, load_ground_truth
from pipeline.qa.oracle import ORACLE_ARRAYS, oracle_arrays

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def clips(demo, tmp_path_factory):
    """Two clips of one actor (the same shape and camera) with their ground truth files; 1 px detector noise."""
    sys.path.insert(0, str(HERE.parent / "fitting"))
    from synthetic_tracks import make_clip, write_ground_truth

    from emoface.mesh.camera import PinholeCamera

    cam = PinholeCamera.from_fov(1280, 720, 26.0)
    shape = np.random.default_rng(3).normal(size=demo.n_shape) * 0.5
    d = tmp_path_factory.mktemp("gt")
    out = []
    for k in range(2):
        cid = f"01-01-0{3 + k}-01-01-01-01"
        c = make_clip(demo, shape, cam, n_frames=30, seed=10 + k, noise_px=1.0, clip_id=cid)
        path = d / f"{cid}.npz"
        write_ground_truth(path, demo, c, photo="astronaut")
        out.append((c, path))
    return out


def test_oracle_arrays_hold_the_true_landmarks_and_keep_the_rest(demo, clips):
    c, path = clips[0]
    gt = load_ground_truth(path)
    arrays = c.track.arrays()
    n = len(arrays["landmarks"])
    arrays["landmarks"] = arrays["landmarks"] + 7.0  # a detector 7 px off everywhere
    arrays["valid"] = np.zeros_like(arrays["valid"])
    arrays["blendshapes"] = np.zeros((n, 3), np.float32)
    arrays["blendshape_names"] = np.array(["a", "b", "c"])
    arrays["confidence"] = np.full(arrays["landmarks"].shape[:2], 0.5, np.float32)
    arrays["detector"] = np.str_("mediapipe")
    o = oracle_arrays(arrays, gt, demo, 0.0, 0)
    true = _gt_landmarks(gt, demo, np.arange(468), "mediapipe")
    np.testing.assert_allclose(o["landmarks"][:, :468, :2], true, atol=1e-3)
    np.testing.assert_array_equal(o["landmarks"][:, 468:], arrays["landmarks"][:, 468:])  # iris: no vertex, as detected
    assert o["valid"].all() and o["width"] == arrays["width"] and str(o["scheme"]) == str(arrays["scheme"])
    # what the detector says besides the positions is gone (the fit starts from a closed jaw); the rest is kept
    assert not {"confidence", "blendshapes", "blendshape_names", "detector"} & set(o) and o["fps"] == arrays["fps"]
    # with noise: N(0, noise_px) per coordinate from numpy's generator seeded with the seed
    noisy = oracle_arrays(arrays, gt, demo, 2.0, 5)["landmarks"][:, :468, :2]
    np.testing.assert_allclose(noisy - true, 2.0 * np.random.default_rng(5).normal(size=true.shape), atol=1e-3)
    # a truth shorter than the track: every per-frame field cut to its frames, nothing else
    short = dict(np.load(path))
    for k in ("vertices", "head_rotation", "head_translation", "expression", "jaw", "mouth_opening"):
        short[k] = short[k][:3]
    np.savez(path.parent / "short.npz", **short)
    arrays["transforms"] = np.tile(np.eye(4, dtype=np.float32), (n, 1, 1))
    arrays["other"] = np.arange(n)  # a field of the clip's length that is not per frame
    o = oracle_arrays(arrays, load_ground_truth(path.parent / "short.npz"), demo, 0.0, 0)
    assert len(o["landmarks"]) == len(o["valid"]) == len(o["transforms"]) == 3 and len(o["other"]) == n
    from pipeline.fitting import LandmarkTrack

    assert LandmarkTrack.from_arrays(o).n_frames == 3


def _ctx(demo, store=None):
    from types import SimpleNamespace

    from pipeline.stages.backend import DefaultBackend
    from pipeline.stages.config import BuildConfig

    return SimpleNamespace(backend=DefaultBackend(), model=lambda: demo, cfg=BuildConfig(), device="cpu", store=store)


def test_oracle_actor_fits_the_true_landmarks(demo, clips):
    from pipeline.fitting import LandmarkTrack
    from pipeline.stages.qastage import oracle_actor

    tracks, gts = [], []
    for i, (c, path) in enumerate(clips):
        arrays = c.track.arrays()
        arrays["landmarks"][:, :, :2] += np.random.default_rng(i).normal(size=arrays["landmarks"][:, :, :2].shape) * 6.0
        tracks.append(LandmarkTrack.from_arrays(oracle_arrays(arrays, load_ground_truth(path), demo, 1.0, i), c.track.clip_id))
        gts.append(str(path))
    res = oracle_actor(_ctx(demo), tracks, gts, [{"fps": np.float64(30.0)}] * 2)
    assert len(res) == 2
    for r in res:
        assert set(r["arrays"]) == set(ORACLE_ARRAYS)
        g = r["qa"]["metrics"]["ground_truth"]
        lips = g["offset_error_mm"]["lips"]
        assert lips["total"] < 0.5 * lips["true_total"]  # the 6 px noise is gone: the fit follows the truth
        assert g["mouth_correlation"] > 0.9


def test_add_oracle_groups_by_actor_and_keeps_one_actors_failure_to_it(demo, clips, monkeypatch, tmp_path):
    from pipeline.qa.oracle import OracleError
    from pipeline.stages import qastage
    from pipeline.stages.store import ClipError

    np.savez(tmp_path / "decode.npz", fps=np.float64(30.0), audio=np.zeros(16000, np.float32))

    class Store:
        def load_npz(self, stage, key):
            assert stage == "landmarks"
            return dict(clips[0][0].track.arrays())

        def artefact(self, stage, key):
            return tmp_path / f"{stage}.npz"

    calls, decoded_seen = [], []

    def fake(ctx, tracks, gts, decoded):
        calls.append([t.clip_id for t in tracks])
        decoded_seen.append(sorted(decoded[0]))
        if tracks[0].clip_id.endswith("-02"):
            raise ClipError("oracle identity fit: diverged")
        return [{"qa": {"metrics": {"n": t.clip_id}}, "arrays": {"lmk": t.landmarks}} for t in tracks]

    monkeypatch.setattr(qastage, "oracle_actor", fake)
    gt = str(clips[0][1])
    rows = [{"clip_id": f"01-01-0{e}-01-01-01-{a}", "subject": f"Actor_{a}"} for a in ("01", "02") for e in (3, 4)]
    rows.append({"clip_id": "01-01-05-01-01-01-03", "subject": "Actor_03"})  # no ground truth: no oracle
    gts = {r["clip_id"]: (gt if r["subject"] != "Actor_03" else None) for r in rows}
    ctx = _ctx(demo, Store())
    qastage.add_oracle(ctx, rows, gts)
    assert calls == [["01-01-03-01-01-01-01", "01-01-04-01-01-01-01"], ["01-01-03-01-01-01-02", "01-01-04-01-01-01-02"]]
    assert [r["oracle"]["qa"]["metrics"]["n"] for r in rows[:2]] == [rows[0]["clip_id"], rows[1]["clip_id"]]
    assert rows[0]["oracle"]["noise_px"] == 1.0
    # the same detections and truth, two clip ids: two noise draws
    assert not np.allclose(rows[0]["oracle"]["arrays"]["lmk"], rows[1]["oracle"]["arrays"]["lmk"])
    assert rows[2]["oracle"] == rows[3]["oracle"] == {"error": "Actor_02: oracle identity fit: diverged"}
    assert "oracle" not in rows[4]

    assert calls and decoded_seen == [["fps"], ["fps"]]  # the timing of the decode artefact, not its audio

    def broken(ctx, tracks, gts, decoded):
        raise ValueError("operands could not be broadcast")  # a bug, not the data

    monkeypatch.setattr(qastage, "oracle_actor", broken)  # not the data's fault: the report task fails (retried)
    with pytest.raises(ValueError, match="broadcast"):
        qastage.add_oracle(ctx, [dict(r) for r in rows[:2]], gts)
    # a back end whose model has no MediaPipe embedding, a missing truth: each actor named, no oracle
    custom = _ctx(object(), Store())
    again = [dict(r) for r in rows[:2]]
    qastage.add_oracle(custom, again, gts)
    assert again[0]["oracle"]["error"].startswith("Actor_01: the back end's model (object) has no landmark embeddings")
    again = [dict(r) for r in rows[:2]]
    qastage.add_oracle(ctx, again, {r["clip_id"]: str(tmp_path / "missing.npz") for r in again})
    assert "missing.npz" in again[0]["oracle"]["error"] and again[1]["oracle"] == again[0]["oracle"]
    assert issubclass(OracleError, ValueError)


def _row(cid, actor, emotion, feat_fit, feat_true, lips_total, oracle_feat=None, oracle_lips=None, codes=None):
    lips = dict(total=lips_total, static=1.0, dynamic=1.0, true_total=3.0, true_static=2.0, true_dynamic=2.0)
    gt = {"frames_compared": 100, "offset_error_mm": {"lips": lips}, "photo": "astronaut", "mouth_correlation": 0.9}
    arrays = {"gt_expression_feature_fit": np.asarray(feat_fit, np.float32),
              "gt_expression_feature_true": np.asarray(feat_true, np.float32)}
    if codes is not None:
        arrays["gt_expression_feature_region"] = codes
    row = {"clip_id": cid, "subject": f"Actor_{actor:02d}", "emotion": emotion, "intensity": 1,
           "qa": {"metrics": {"n_frames": 100, "ground_truth": gt}, "flags": [], "status": "ok"}, "arrays": arrays}
    if oracle_feat is not None:
        og = {**gt, "offset_error_mm": {"lips": {**lips, "total": oracle_lips}}, "mouth_correlation": 0.99}
        row["oracle"] = {"qa": {"metrics": {"n_frames": 100, "ground_truth": og}}, "noise_px": 1.0,
                         "arrays": {"gt_expression_feature_fit": np.asarray(oracle_feat, np.float32)}}
    return row


def test_report_shows_the_oracle_beside_the_fit(tmp_path):
    codes = np.array([1, 2], np.int8)  # two feature vertices: one of the lips, one of the eye region (x, y, z each)
    rows = []
    for a in (1, 2, 3):
        for emo, true in ((3, [1.0, 0, 0, 0, 0, 0]), (4, [0, 0, 0, 1.0, 0, 0])):
            true = 0.001 * (np.asarray(true) + 0.01 * a)  # metres
            # the build lost the emotion (every clip the same feature); the oracle kept it
            rows.append(_row(f"01-01-0{emo}-01-01-01-{a:02d}", a, emo, [0.0005] * 6, true, 2.0, true + 1e-6, 0.5, codes))
    write_report(tmp_path / "qa", rows, [], [], {})
    rep = json.loads((tmp_path / "qa" / "report.json").read_text())
    s = rep["summary"]
    o = s["ground_truth"]["oracle"]
    assert o["clips"] == 6 and o["noise_px"] == 1.0 and "errors" not in o
    assert o["offset_error_mm"]["regions"]["lips"]["total"] == pytest.approx(0.5)
    assert s["ground_truth"]["offset_error_mm"]["regions"]["lips"]["total"] == pytest.approx(2.0)
    assert o["mouth_correlation"]["mean"] == pytest.approx(0.99)
    r = s["recognisability"]
    assert r["fitted"]["accuracy"] == 0.5 and r["oracle"]["accuracy"] == 1.0 and r["truth"]["accuracy"] == 1.0
    assert "oracle" in s["static_split"] and s["static_split"]["oracle"]["lips"]["static"] < 0.01
    assert rep["clips"][0]["oracle"]["ground_truth"]["offset_error_mm"]["lips"]["total"] == 0.5
    assert "arrays" not in json.dumps(rep["clips"][0]["oracle"])
    html = (tmp_path / "qa" / "report.html").read_text()
    assert "offset error / oracle / truth mm" in html and "2.00 / 0.50 / 3.00" in html
    assert "static error / oracle / truth mm" in html and "<td>oracle</td><td>1.00</td>" in html
    assert "true landmark positions + 1 px noise" in html


def test_report_with_an_actor_whose_oracle_failed(tmp_path):
    rows = []
    for a in (1, 2, 3):
        for emo, true in ((3, [1.0, 0.0]), (4, [0.0, 1.0])):
            rows.append(_row(f"01-01-0{emo}-01-01-01-{a:02d}", a, emo, [0.5, 0.5], np.asarray(true), 2.0, true, 0.5))
    for r in rows:
        if r["subject"] == "Actor_02":
            r["oracle"] = {"error": "Actor_02: ValueError: oracle identity fit: not finite"}
    write_report(tmp_path / "qa", rows, [], [], {})
    s = json.loads((tmp_path / "qa" / "report.json").read_text())["summary"]
    o = s["ground_truth"]["oracle"]
    assert o["clips"] == 4 and o["errors"] == ["Actor_02: ValueError: oracle identity fit: not finite"]
    assert "2 of 6 clips have no oracle features" in o["note"]
    assert "oracle" not in s["recognisability"]  # not every clip has it: not scored with the other folds
    html = (tmp_path / "qa" / "report.html").read_text()
    assert "Actor_02: ValueError: oracle identity fit: not finite" in html
    # the oracle of 4 clips beside the build's of 6 would not be their floor: not in the offsets table
    assert "offset error / truth mm" in html and "offset error / oracle / truth" not in html
    assert "it covers only some of the clips" in html
    # without any oracle rows: nothing of it in the report
    for r in rows:
        r.pop("oracle")
    write_report(tmp_path / "qa2", rows, [], [], {})
    s = json.loads((tmp_path / "qa2" / "report.json").read_text())["summary"]
    assert "oracle" not in s["ground_truth"] and "oracle" not in s["recognisability"]
    assert "oracle" not in (tmp_path / "qa2" / "report.html").read_text()


def test_oracle_config_is_checked_at_load(tmp_path):
    from emoface.utils.config import ConfigError
    from pipeline.qa import OracleConfig
    from pipeline.stages.config import load_build_config

    with pytest.raises(ValueError, match="enabled must be true or false"):
        OracleConfig(enabled="yes")
    with pytest.raises(ValueError, match="noise_px"):
        OracleConfig(noise_px=-1.0)
    cfg = tmp_path / "b.yaml"
    cfg.write_text("oracle: {enabled: true, noise_px: 0.5}\n")
    assert load_build_config(cfg).oracle == OracleConfig(True, 0.5)
    cfg.write_text("oracle: {enabled: true, noise: 0.5}\n")
    with pytest.raises(ConfigError, match="noise"):
        load_build_config(cfg)


def test_oracle_extra_keys_the_report_on_what_the_oracle_fits_with_only_when_on(tmp_path, monkeypatch):
    from dataclasses import replace

    from pipeline.fitting import FitConfig, SmoothConfig
    from pipeline.fitting.config import PriorConfig
    from pipeline.qa import OracleConfig
    from pipeline.stages.config import BuildConfig
    from pipeline.stages.qastage import oracle_extra
    from pipeline.stages.runtime import TaskContext

    def extra(cfg):
        return oracle_extra(TaskContext(cfg=cfg, out=str(tmp_path)))

    off = BuildConfig()
    on = replace(off, oracle=OracleConfig(enabled=True))
    assert extra(off) is None and extra(replace(off, fit=FitConfig(prior=PriorConfig(expression_std=0.3)))) is None
    assert extra(replace(off, oracle=OracleConfig(noise_px=2.0))) is None  # its settings matter only when on
    keys = {str(extra(c)) for c in (on, replace(on, fit=FitConfig(prior=PriorConfig(expression_std=0.3))),
                                    replace(on, smooth=SmoothConfig(enabled=False)),
                                    replace(on, oracle=OracleConfig(enabled=True, noise_px=2.0)))}
    assert len(keys) == 4 and extra(on) == extra(replace(on))
    # the fit's code version (the fitting code, the model file) is in it too
    import pipeline.stages.runtime as runtime

    before, real = extra(on), runtime.code_version
    monkeypatch.setattr(runtime, "code_version", lambda stage, *a: real(stage, *a) + ("x" if stage.name == "fit" else ""))
    assert extra(on) != before
