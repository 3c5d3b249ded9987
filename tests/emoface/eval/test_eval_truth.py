"""Scoring against a generated corpus's true meshes (``emoface evaluate --truth``, issue 16 item 2).

The truth here is written by hand next to a fixture split (no pipeline import): its offsets
are the split's own offsets plus a known error on the lips, on an identity (shape) different
from the split's template, so every expected number is known in closed form.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emoface.data.schema import SplitReader
from emoface.eval.methods import TemplateFloor, evaluate_methods
from emoface.eval.report import render_markdown, summarize
from emoface.eval.truth import FittedData, TruthCorpus, TruthError
from emoface.metrics import REPORT_SCALE, resolve_regions
from emoface.morphable import MorphableLayer, load
from tools.testing.fixtures import SyntheticSpec, write_synthetic_split

LIP_ERROR_M = 0.001  # the "fit error" put on every lip vertex of the truth, along z


def _true_template(shape: np.ndarray) -> np.ndarray:
    layer = MorphableLayer(load("demo"))
    with torch.no_grad():
        return layer(shape=torch.from_numpy(shape)[None], landmarks=None).vertices[0].numpy()


@pytest.fixture()
def corpus(tmp_path) -> tuple[Path, Path, dict]:
    split = write_synthetic_split(tmp_path / "test.h5", SyntheticSpec(actors=(5,), emotions=(0, 2), intensities=(0,),
                                                                     statements=(1,), base_frames=12))
    gt_dir = tmp_path / "corpus" / "ground_truth"
    gt_dir.mkdir(parents=True)
    shape = (0.8 * np.random.default_rng(3).normal(size=load("demo").n_shape)).astype(np.float32)
    true_tpl = _true_template(shape)
    expected = {}
    with SplitReader(split) as r:
        lips = resolve_regions(r.regions, r.n_vertices).lips
        for cid in r.clip_ids:
            rec = r.read_clip(cid, params=False)
            split_off = rec.vertices - r.template(rec.subject)[None]
            delta = np.zeros_like(split_off)
            delta[:, lips, 2] = LIP_ERROR_M
            true_off = split_off + delta
            np.savez_compressed(gt_dir / f"{cid}.npz", vertices=(true_tpl[None] + true_off).astype(np.float32), shape=shape,
                                model=np.array("demo-head"), fps=np.float64(30.0))
            expected[cid] = (true_off, rec.n_frames)
    return split, tmp_path / "corpus", expected


def test_truth_columns_score_offsets_against_the_true_offsets(corpus):
    split, folder, expected = corpus
    with SplitReader(split) as r:
        speakers = [r.subjects[0]]
        lips = resolve_regions(r.regions, r.n_vertices).lips
    res = evaluate_methods(split, [TemplateFloor(), FittedData()], speakers, truth=TruthCorpus(folder))
    floor, fitted = res.methods
    assert res.truth == str(folder)
    n = sum(f for _, f in expected.values())
    # the fitted data differ from the truth by exactly the lip error, and nowhere in the eyes or forehead
    fitted_lve = sum(c.truth_lve_sum for c in fitted.clips) / n
    assert fitted_lve == pytest.approx(LIP_ERROR_M**2, rel=1e-4)
    assert sum(c.truth_eve_sum for c in fitted.clips) == pytest.approx(0.0, abs=1e-12)
    assert all(c.lve_sum == 0 and c.eve_sum == 0 for c in fitted.clips)  # against themselves
    # the floor's offsets are zero: its error is the true motion itself (max over the lips, mean over frames)
    want = sum(float((off[:, lips] ** 2).sum(-1).max(1).sum()) for off, _ in expected.values()) / n
    assert sum(c.truth_lve_sum for c in floor.clips) / n == pytest.approx(want, rel=1e-5)
    # identity does not count: the true template (another shape) is far from the split's
    with SplitReader(split) as r:
        tpl = r.template(speakers[0])
    assert np.abs(tpl - _true_template(np.load(next(folder.glob("ground_truth/*.npz")))["shape"])).max() > 0.005
    summary = summarize(res, include_clips=False)
    o = summary["methods"][1]["overall"]
    assert o["lve_truth"]["mean"] == pytest.approx(LIP_ERROR_M**2 / REPORT_SCALE, rel=1e-4)
    md = render_markdown(summary)
    assert "| Method | LVE ↓ | EVE ↓ | FDD | LVE vs truth ↓ | EVE vs truth ↓ |" in md
    assert "| fitted data | 0.0000 ± 0.0000 | 0.0000 ± 0.0000 |" in md and "0.1000 ± 0.0000" in md


def test_without_truth_the_table_has_no_truth_columns(corpus):
    split, _folder, _expected = corpus
    with SplitReader(split) as r:
        speakers = [r.subjects[0]]
    res = evaluate_methods(split, [TemplateFloor()], speakers)
    assert res.truth is None and res.methods[0].clips[0].truth_lve_sum is None
    summary = summarize(res, include_clips=False)
    assert "lve_truth" not in summary["methods"][0]["overall"] and "vs truth" not in render_markdown(summary)


def test_true_template_is_the_model_at_the_true_shape_with_zero_expression_and_pose(tmp_path):
    model = load("demo")
    layer = MorphableLayer(model)
    shape = np.random.default_rng(0).normal(size=model.n_shape).astype(np.float32)
    expr = np.zeros((3, model.n_expr), np.float32)
    expr[1:] = np.random.default_rng(1).normal(size=(2, model.n_expr))
    jaw = np.zeros((3, 3), np.float32)
    jaw[2, 0] = 0.15
    with torch.no_grad():
        verts = layer(shape=torch.from_numpy(np.tile(shape, (3, 1))), expression=torch.from_numpy(expr),
                      jaw=torch.from_numpy(jaw), landmarks=None).vertices.numpy()
    (tmp_path / "ground_truth").mkdir()
    np.savez_compressed(tmp_path / "ground_truth" / "c.npz", vertices=verts, shape=shape, model=np.array(model.name))
    off = TruthCorpus(tmp_path).offsets("c", 3)
    assert np.abs(off[0]).max() < 1e-6  # neutral frame: no offset
    assert np.abs(off[1]).max() > 1e-3 and np.abs(off[2]).max() > 1e-3


@pytest.mark.parametrize("break_it,message", [
    ("missing", "missing \\(clip .* has no ground truth"),
    ("frames", "frames, the split's clip .* has"),
    ("vertices", "vertices, the split has 468"),
    ("model", "generated with model 'flame2020'; pass the model"),
])
def test_a_truth_that_does_not_fit_the_split_is_one_error_before_any_clip(corpus, break_it, message):
    split, folder, expected = corpus
    cid = sorted(expected)[-1]
    p = folder / "ground_truth" / f"{cid}.npz"
    z = dict(np.load(p))
    if break_it == "missing":
        p.unlink()
    elif break_it == "frames":
        np.savez_compressed(p, **{**z, "vertices": z["vertices"][:-1]})
    elif break_it == "vertices":
        np.savez_compressed(p, **{**z, "vertices": z["vertices"][:, :-1]})
    else:
        for q in folder.glob("ground_truth/*.npz"):
            np.savez_compressed(q, **{**dict(np.load(q)), "model": np.array("flame2020")})
    seen = []
    with SplitReader(split) as r:
        speakers = [r.subjects[0]]
    with pytest.raises(TruthError, match=message) as exc:
        evaluate_methods(split, [TemplateFloor()], speakers, truth=TruthCorpus(folder), progress=seen.append)
    assert "\n" not in str(exc.value)
    if break_it != "model":
        assert str(p) in str(exc.value) and seen == []


def test_a_folder_without_ground_truth_is_refused(tmp_path):
    with pytest.raises(TruthError, match="no ground_truth/ folder"):
        TruthCorpus(tmp_path)
