"""Offset errors and emotion recognisability in the per-clip QA and the report (corpora with ground truth)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from emoface.eval.recognisability import clip_feature, feature_indices
from emoface.morphable import MorphableLayer
from pipeline.qa import clip_qa, write_report
from pipeline.qa.ground_truth import model_template

HERE = Path(__file__).resolve().parent
CLIP = "01-01-03-01-01-01-01"


@pytest.fixture(scope="module")
def fitted(demo, tmp_path_factory):
    sys.path.insert(0, str(HERE.parent / "fitting"))
    from synthetic_tracks import fit_synthetic_clip, write_ground_truth

    fc = fit_synthetic_clip(demo, shape_seed=2, n_frames=40, seed=5, noise_px=1.0, clip_id=CLIP)
    c, raw, fit, verts, template, shape = fc.truth, fc.raw, fc.fit, fc.vertices, fc.template, fc.truth.shape
    gt_path = tmp_path_factory.mktemp("gt") / f"{CLIP}.npz"
    gt_v = write_ground_truth(gt_path, demo, c, photo="astronaut")

    class Inputs:
        pass

    inp = Inputs()
    inp.clip_id, inp.subject, inp.decoded, inp.track = CLIP, "Actor_01", {}, c.track
    inp.raw_fit, inp.fit, inp.vertices, inp.template, inp.model, inp.ground_truth = raw, fit, verts, template, demo, str(gt_path)
    inp.gt_vertices, inp.shape = gt_v, shape
    return inp


def test_true_template_is_the_model_at_the_true_shape(demo):
    shape = np.random.default_rng(3).normal(size=demo.n_shape)
    f = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    rest = MorphableLayer(demo)(shape=f(shape)[None], expression=torch.zeros(1, demo.exprdirs.shape[-1]),
                                jaw=torch.zeros(1, 3)).vertices[0].numpy()
    np.testing.assert_allclose(model_template(demo, shape), rest, atol=1e-6)


def test_clip_qa_reports_offset_errors_and_features(fitted, demo):
    res = clip_qa(fitted, {})
    g = res["metrics"]["ground_truth"]
    assert g["photo"] == "astronaut"
    oe = g["offset_error_mm"]
    assert set(oe) == {"face", "lips", "eye_region"}
    for region in oe.values():
        assert set(region) == {"total", "static", "dynamic", "true_total", "true_static", "true_dynamic"}
        assert region["total"] <= region["static"] + region["dynamic"] + 1e-9
    # the fit of clean landmarks at the true shape is close to the truth: errors well under the true motion
    assert oe["lips"]["total"] < 0.5 * oe["lips"]["true_total"] and oe["lips"]["true_total"] > 0.5
    idx = feature_indices(demo.regions)
    arrays = res["arrays"]
    np.testing.assert_allclose(arrays["gt_expression_feature_fit"], clip_feature(fitted.vertices, fitted.template, idx), atol=1e-7)
    np.testing.assert_allclose(arrays["gt_expression_feature_true"],
                               clip_feature(fitted.gt_vertices, model_template(demo, fitted.shape), idx), atol=1e-7)
    codes = arrays["gt_expression_feature_region"]
    assert codes.shape == idx.shape
    np.testing.assert_array_equal(codes == 1, np.isin(idx, demo.regions["lips"]))
    np.testing.assert_array_equal(codes == 2, np.isin(idx, demo.regions["eye_region"]))
    json.dumps(res["metrics"])


def test_truth_as_the_fit_gives_zero_offset_error(fitted, demo):
    from pipeline.qa.ground_truth import ground_truth_metrics, load_ground_truth

    gt = load_ground_truth(fitted.ground_truth)
    m, _ = ground_truth_metrics(gt, gt.vertices, fitted.fit, fitted.track, demo, template=model_template(demo, gt.shape))
    for region in m["offset_error_mm"].values():
        assert region["total"] == pytest.approx(0.0, abs=1e-9) and region["true_total"] > 0


def _row(cid: str, actor: int, emotion: int, feat_fit, feat_true, lips: dict, n: int, photo: str | None) -> dict:
    gt = {"vertex_error_mm": {"face": 1.0, "lips": 1.0, "eye_region": 1.0}, "frames_compared": n,
          "offset_error_mm": {"lips": lips}}
    if photo:
        gt["photo"] = photo
    return {"clip_id": cid, "subject": f"Actor_{actor:02d}", "emotion": emotion, "intensity": 1,
            "qa": {"metrics": {"n_frames": n, "ground_truth": gt}, "flags": [], "status": "ok"},
            "arrays": {"gt_expression_feature_fit": np.asarray(feat_fit, np.float32),
                       "gt_expression_feature_true": np.asarray(feat_true, np.float32)}}


def test_report_has_offset_summary_and_recognisability(tmp_path):
    rows = []
    lips = [dict(total=2.0, static=1.0, dynamic=1.5, true_total=3.0, true_static=2.0, true_dynamic=2.0),
            dict(total=4.0, static=3.0, dynamic=2.5, true_total=5.0, true_static=4.0, true_dynamic=3.0)]
    for a in (1, 2, 3):
        for k, (emo, true) in enumerate(((3, [1.0, 0.0]), (4, [0.0, 1.0]))):
            true = np.asarray(true) + 0.01 * a
            # the fitted meshes lost the emotion: every clip has the same feature (a tie -> the first class, happy)
            rows.append(_row(f"01-01-0{emo}-01-01-01-{a:02d}", a, emo, [0.5, 0.5], true, lips[k], 100 if k == 0 else 300,
                             "astronaut" if a < 3 else "hopper"))
    write_report(tmp_path / "qa", rows, [], [], {})
    rep = json.loads((tmp_path / "qa" / "report.json").read_text())
    s = rep["summary"]
    reg = s["ground_truth"]["offset_error_mm"]["regions"]["lips"]
    assert reg["total"] == pytest.approx((2 * 100 + 4 * 300) / 400)  # frame-weighted
    assert reg["dynamic"] == pytest.approx((1.5 * 100 + 2.5 * 300) / 400)
    assert reg["static"] == pytest.approx(2.0)  # clip mean
    assert reg["true_static"] == pytest.approx(3.0) and reg["clips"] == 6
    assert set(s["ground_truth"]["offset_error_mm"]["by_photo"]) == {"astronaut", "hopper"}
    r = s["recognisability"]
    assert r["clips"] == 6 and r["actors"] == 3 and r["chance"] == 0.5
    assert r["truth"]["accuracy"] == 1.0 and r["truth"]["per_class"] == {"happy": 1.0, "sad": 1.0}
    assert r["fitted"]["accuracy"] == 0.5 and r["fitted"]["per_class"] == {"happy": 1.0, "sad": 0.0}
    assert r["by_photo"]["astronaut"]["truth"]["accuracy"] == 1.0
    assert "note" in r["by_photo"]["hopper"]  # one actor: no leave-one-actor-out
    html = (tmp_path / "qa" / "report.html").read_text()
    assert "Emotion recognisability" in html and "Offsets against the truth" in html and "lips static mm" in html
    assert "static_split" not in s and "common to an actor" not in html  # arrays without region codes: no split


def test_report_splits_the_static_error_when_the_clips_carry_region_codes(tmp_path):
    """The QA arrays' region codes let the report split the static error (lips: 2 mm common to every clip of
    each actor, in depth; the eye region: nothing), overall and per photo, in report.json and report.html."""
    codes = np.array([1, 1, 2, 0], np.int8)  # two lip vertices, one of the eye region, one forehead
    rows = []
    for a in (1, 2, 3):
        for emo in (3, 4):
            true = np.zeros((4, 3))
            true[:, 0] = 0.001 * emo
            fit = true.copy()
            fit[:2, 2] += 0.002
            r = _row(f"01-01-0{emo}-01-01-01-{a:02d}", a, emo, fit.reshape(-1), true.reshape(-1),
                     dict(total=1.0, static=1.0, dynamic=1.0, true_total=1.0, true_static=1.0, true_dynamic=1.0), 100,
                     "astronaut" if a < 3 else "hopper")
            r["arrays"]["gt_expression_feature_region"] = codes
            rows.append(r)
    write_report(tmp_path / "qa", rows, [], [], {})
    s = json.loads((tmp_path / "qa" / "report.json").read_text())["summary"]
    lips = s["static_split"]["fitted"]["lips"]
    assert (lips["static"], lips["common"], lips["per_clip"]) == pytest.approx((2.0, 2.0, 0.0), abs=1e-5)
    assert s["static_split"]["fitted"]["eye_region"]["static"] == pytest.approx(0.0, abs=1e-6)
    assert s["static_split"]["truth"]["lips"]["per_clip"] == pytest.approx(0.5, abs=1e-5)
    assert set(s["static_split"]["by_photo"]) == {"astronaut", "hopper"}
    html = (tmp_path / "qa" / "report.html").read_text()
    assert "Static offset error: common to an actor's clips, or per clip (6 clips)" in html
    # a clip without the codes among them: no split (the masks would not be known for it)
    del rows[-1]["arrays"]["gt_expression_feature_region"]
    write_report(tmp_path / "qa2", rows, [], [], {})
    assert "static_split" not in json.loads((tmp_path / "qa2" / "report.json").read_text())["summary"]


def test_report_without_ground_truth_has_no_measures(tmp_path):
    rows = [{"clip_id": CLIP, "subject": "Actor_01", "emotion": 3, "qa": {"metrics": {"n_frames": 10}, "flags": []}}]
    write_report(tmp_path / "qa", rows, [], [], {})
    rep = json.loads((tmp_path / "qa" / "report.json").read_text())
    assert "recognisability" not in rep["summary"] and "ground_truth" not in rep["summary"]
    assert "Emotion recognisability" not in (tmp_path / "qa" / "report.html").read_text()


def test_static_split_separates_what_an_actors_clips_share_from_what_varies():
    """Fitted = truth + an error each actor's clips share + one that varies: the split finds each, per region."""
    from pipeline.qa.emotion import ClipFeatures, static_split

    rng = np.random.default_rng(0)
    R = 6
    masks = {"lips": np.arange(R) < 4, "eye_region": np.arange(R) >= 4}
    cf, oracle, shared_err, clip_err = ClipFeatures(), [], {}, []
    for a, photo in (("01", "p1"), ("02", "p1"), ("03", "p2")):
        shared_err[a] = np.zeros((R, 3))
        shared_err[a][:4, 2] = 0.002 * (1 + int(a) % 2)  # 4 mm (01, 03) or 2 mm (02) in depth on the lips, none on the eyes
        for k, emo in enumerate((1, 3, 5)):
            truth = rng.normal(size=(R, 3)) * 1e-3
            e = np.zeros((R, 3))
            e[:, 0] = 0.001 * (k - 1)  # -1, 0, +1 mm in x: averages to 0 over the actor's clips
            clip_err.append(e)
            cf.add({"gt_expression_feature_fit": (truth + shared_err[a] + e).reshape(-1),
                    "gt_expression_feature_true": truth.reshape(-1)}, emo, a, photo)
            oracle.append((truth + e / 10).reshape(-1))
    out = static_split(cf, masks, {"oracle": oracle})
    lips, eyes = out["fitted"]["lips"], out["fitted"]["eye_region"]
    assert lips["common"] == pytest.approx((4 + 2 + 4) / 3, abs=1e-9)
    assert lips["per_clip"] == pytest.approx(2 / 3, abs=1e-9) and eyes["per_clip"] == pytest.approx(2 / 3, abs=1e-9)
    assert eyes["common"] == pytest.approx(0.0, abs=1e-9)
    assert lips["common_rms_xyz"] == pytest.approx([0.0, 0.0, np.sqrt((16 + 4 + 16) / 3)], abs=1e-9)  # all in depth
    assert lips["static"] == pytest.approx(np.mean([np.hypot(s, x) for s in (4, 2, 4) for x in (1, 0, 1)]), abs=1e-9)
    assert out["oracle"]["lips"]["common"] == pytest.approx(0.0, abs=1e-9)
    assert out["oracle"]["lips"]["per_clip"] == pytest.approx(2 / 30, abs=1e-9)
    assert out["truth"]["lips"]["static"] > 0 and out["clips"] == 9
    assert out["by_photo"]["p2"]["clips"] == 3
    assert out["by_photo"]["p2"]["fitted"]["lips"]["common"] == pytest.approx(4.0, abs=1e-9)
    assert static_split(ClipFeatures(), masks) is None
