"""clip_qa on a fitted synthetic clip with ground truth, and the HTML/JSON report."""

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from emoface.morphable import load
from pipeline.qa import clip_qa, write_report

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    import sys

    sys.path.insert(0, str(HERE.parent / "fitting"))
    from synthetic_tracks import fit_synthetic_clip, write_ground_truth

    demo = load("demo")
    fc = fit_synthetic_clip(demo, shape_seed=1, n_frames=60, seed=11, noise_px=1.0, missing=slice(30, 33),
                            clip_id="01-01-03-01-01-01-01")
    c, raw, fit, verts, template = fc.truth, fc.raw, fc.fit, fc.vertices, fc.template
    gt_path = tmp_path_factory.mktemp("gt") / "01-01-03-01-01-01-01.npz"
    write_ground_truth(gt_path, demo, c)
    # a "video frame": grey background, the true landmarks as a bright blob pattern (only for drawing)
    frame = np.full((180, 320, 3), 90, np.uint8)
    decoded = {"fps": np.float64(30.0), "n_frames": np.int64(60), "audio_duration_s": np.float64(2.0),
               "thumbnails": frame[None], "thumbnail_frames": np.array([20]), "thumbnail_scale": np.float64(0.25)}

    class Inputs:
        pass

    inp = Inputs()
    inp.clip_id, inp.subject, inp.decoded, inp.track = c.track.clip_id, "Actor_01", decoded, c.track
    inp.raw_fit, inp.fit, inp.vertices, inp.template, inp.model, inp.ground_truth = raw, fit, verts, template, demo, str(gt_path)
    return inp


def test_clip_qa_against_ground_truth(fitted):
    res = clip_qa(fitted, {})
    m = res["metrics"]
    assert m["detection_rate"] == pytest.approx(57 / 60)
    assert 0.0 < m["reprojection_iod"] < 0.015
    assert m["interpolated_frames"] == 3
    assert m["jitter_mm"] < m["raw_jitter_mm"]  # the smoother reduces jitter
    assert m["av_mismatch_s"] == pytest.approx(0.0, abs=1e-9)
    g = m["ground_truth"]
    assert set(g["vertex_error_mm"]) == {"face", "lips", "eye_region"}
    # least-squares alignment minimises squared, not mean, distances: about equal when nothing is off
    assert g["vertex_error_mm"]["face"] < 0.6 and g["vertex_error_aligned_mm"] < 1.1 * g["vertex_error_mm"]["face"]
    assert g["mouth_correlation"] > 0.95
    assert g["landmark_error_iod"] < g["detector_error_iod"]  # the fit averages the detector noise out
    # 57/60 = 0.95 of the frames have a face, above the default 0.90, and every other metric is within its limit
    assert res["flags"] == [] and res["status"] == "ok"
    arrays = res["arrays"]
    assert arrays["overlay"].shape == (160, 160, 3) and arrays["overlay"].dtype == np.uint8
    assert arrays["gt_vertex_error_mm"].shape == (60,) and np.isnan(arrays["reprojection_iod"][31])
    json.dumps(res["metrics"])  # JSON-able, no NaN objects
    strict = clip_qa(fitted, {"min_detection_rate": 0.99, "max_av_mismatch_s": 0.1})
    assert strict["status"] == "flagged" and strict["flags"][0].startswith("detection rate 0.95 < 0.99")


class _Parser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.imgs, self.rows = [], [], 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(dict(attrs)["src"])
        if tag == "tr":
            self.rows += 1


def test_report_html_and_json(fitted, tmp_path):
    res = clip_qa(fitted, {})
    arrays = res.pop("arrays")
    rows = [{"clip_id": fitted.clip_id, "subject": "Actor_01", "emotion": 3, "intensity": 1, "qa": res, "arrays": arrays},
            {"clip_id": "01-01-05-01-01-01-01", "subject": "Actor_01", "emotion": 5, "intensity": 1,
             "qa": {"metrics": {"n_frames": 10, "detection_rate": 0.5}, "flags": ["detection rate 0.50 < 0.90"],
                    "status": "flagged"}}]
    failures = [{"clip_id": "01-01-02-01-01-01-01", "subject": "Actor_01", "stage": "fit", "reason": "fit diverged (NaN)"}]
    skipped = [{"path": "Actor_01/bad-name.mp4", "reason": "name does not parse", "kind": "name"}]
    paths = write_report(tmp_path / "qa", rows, failures, skipped, {})
    assert [p.name for p in paths] == ["report.json", "report.html"]
    rep = json.loads((tmp_path / "qa" / "report.json").read_text())
    # the fitted clip passes QA (see above), the second row is flagged: exactly one of two
    assert rep["summary"]["clips"] == 2 and rep["summary"]["failed"] == 1 and rep["summary"]["flagged"] == 1
    assert rep["summary"]["ground_truth"]["vertex_error_mm_face"] < 0.6
    assert rep["failures"][0]["reason"] == "fit diverged (NaN)"
    html = (tmp_path / "qa" / "report.html").read_text()
    p = _Parser()
    p.feed(html)
    assert html.count('<tr class="flagged">') == 1
    assert p.imgs == [f"thumbs/{fitted.clip_id}.png"] and (tmp_path / "qa" / p.imgs[0]).stat().st_size > 1000
    assert "fit diverged (NaN)" in html and "name does not parse" in html and "happy" in html
    assert html.count("<svg") >= 3 and "table.sortable" in html and "GT mouth r" in html
