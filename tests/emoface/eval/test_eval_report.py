"""evaluate_methods + report on a fixture split with predictors whose errors are known."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from tools.testing.fixtures import SyntheticSpec, write_synthetic_split
from emoface.data.schema import SplitReader
from emoface.eval.methods import TemplateFloor, evaluate_methods
from emoface.metrics import REPORT_SCALE, lip_vertex_error, resolve_regions
from emoface.eval.report import render_markdown, summarize, write_report


@dataclass
class ShiftedTruth:
    """Ground truth moved by ``(c + 1)`` mm along x for condition c: LVE = EVE = ((c+1) mm)^2."""

    name: str = "shifted"
    description: str = "ground truth + (c+1) mm"
    conditioned: bool = True

    def predict(self, record, template, speaker):
        out = record.vertices.copy()
        out[..., 0] += 0.001 * (speaker + 1)
        return out


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    spec = SyntheticSpec(actors=(5,), emotions=(0, 2), intensities=(0, 1), statements=(1, 2), base_frames=10)
    return write_synthetic_split(tmp_path_factory.mktemp("ev") / "test.h5", spec)


def test_table_values_spread_and_floor(split, tmp_path):
    speakers = ["Actor_01", "Actor_02", "Actor_03"]
    result = evaluate_methods(split, [ShiftedTruth(), TemplateFloor()], speakers)
    json_path, md_path = write_report(result, tmp_path)
    s = json.loads(json_path.read_text())
    shifted, floor = s["methods"]
    # per-condition LVE = (c+1)^2 mm^2 = (c+1)^2 * 1e-6 m^2 = (c+1)^2 * 0.1 in 1e-5 units
    assert shifted["per_condition"]["Actor_02"]["lve"] == pytest.approx(0.4, rel=1e-5)
    assert shifted["overall"]["lve"]["mean"] == pytest.approx((0.1 + 0.4 + 0.9) / 3, rel=1e-5)
    assert shifted["overall"]["lve"]["std"] == pytest.approx(np.std([0.1, 0.4, 0.9]), rel=1e-4)
    assert shifted["overall"]["eve"]["min"] == pytest.approx(0.1, rel=1e-5)  # float32 predictions
    assert shifted["overall"]["eve"]["max"] == pytest.approx(0.9, rel=1e-5)
    assert shifted["overall"]["n_conditions"] == 3
    # the floor is predicted once; its LVE equals LVE over all frames concatenated
    assert floor["overall"]["n_conditions"] == 1 and floor["overall"]["lve"]["std"] == 0.0
    with SplitReader(split) as r:
        regions = resolve_regions(r.regions)
        gts = [r.read_clip(c).vertices for c in r.clip_ids]
        tpls = [np.broadcast_to(r.template(r.clip_meta(c).subject), g.shape) for c, g in zip(r.clip_ids, gts)]
        n_clips = len(r.clip_ids)
    expected = lip_vertex_error(np.concatenate(tpls), np.concatenate(gts), regions.lips) / REPORT_SCALE
    assert floor["overall"]["lve"]["mean"] == pytest.approx(expected, rel=1e-9)
    assert floor["overall"]["lve"]["mean"] > 0 and floor["overall"]["fdd"]["mean"] > 0  # GT moves, template does not
    # breakdowns
    assert set(shifted["per_emotion"]) == {"neutral", "happy"}  # JSON keys are sorted
    assert set(shifted["per_intensity"]) == {"normal", "strong"}
    assert shifted["per_emotion"]["happy"]["lve"]["mean"] == pytest.approx(shifted["overall"]["lve"]["mean"])
    assert len(shifted["clips"]) == 3 * n_clips and len(floor["clips"]) == n_clips
    md = md_path.read_text()
    assert "| shifted | 0.4667 ± 0.3300 |" in md
    assert "Conditions: all " in md
    assert md.index("| neutral |") < md.index("| happy |")  # tables follow the RAVDESS order
    assert "| template only |" in md and "## Per emotion: LVE" in md and "## Per intensity: EVE" in md
    assert "| EmoFace (paper) | 2.8669 | 0.4664 | 4.8863 | 0.9509 |" in md


def test_condition_subset_and_errors(split):
    res = evaluate_methods(split, [ShiftedTruth()], ["A", "B", "C"], conditions=[2])
    assert {c.condition for c in res.methods[0].clips} == {"C"}
    assert "Conditions: 1 of the 3 training speakers (C)." in render_markdown(summarize(res))
    with pytest.raises(ValueError, match="conditions"):
        evaluate_methods(split, [ShiftedTruth()], ["A"], conditions=[3])

    @dataclass
    class Wrong:
        name: str = "wrong"
        description: str = ""
        conditioned: bool = False

        def predict(self, record, template, speaker):
            return record.vertices[:-1]

    with pytest.raises(ValueError, match="wrong: prediction"):
        evaluate_methods(split, [Wrong()], ["A"])
