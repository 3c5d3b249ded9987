"""The truth's template follows the fitted template's convention (docs/fitting.md, "Reference expression")."""

import sys
from pathlib import Path

import numpy as np
import pytest

from emoface.eval.truth import TruthCorpus, actor_of, actor_reference_expression
from emoface.mesh.camera import PinholeCamera
from emoface.morphable import load
from pipeline.qa.ground_truth import ground_truth_metrics, load_ground_truth, model_template

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "fitting"))
from synthetic_tracks import make_clip, write_ground_truth  # noqa: E402

CAM = PinholeCamera.from_fov(1280, 720, 25.0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two clips of actor 01 (each holding a different expression) and one of actor 02, as a corpus's ground truth."""
    demo = load("demo")
    root = tmp_path_factory.mktemp("corpus")
    (root / "ground_truth").mkdir()
    shape = np.random.default_rng(4).normal(size=demo.n_shape) * 0.3
    clips = {}
    E = demo.exprdirs.shape[-1]
    for i, (cid, k) in enumerate((("01-01-03-01-01-01-01", 0), ("01-01-05-01-01-01-01", 1), ("01-01-03-01-01-01-02", 2))):
        held = np.zeros(E)
        held[k] = 0.9
        c = make_clip(demo, shape, CAM, n_frames=30, seed=i, noise_px=0.0, clip_id=cid, held=held)
        write_ground_truth(root / "ground_truth" / f"{cid}.npz", demo, c)
        clips[cid] = c
    return demo, root, clips


def test_actor_reference_is_the_median_over_the_actors_clips_only(corpus):
    demo, root, clips = corpus
    assert actor_of("01-01-03-01-01-01-02") == "02"
    ref = actor_reference_expression(str(root / "ground_truth"), "01")
    both = np.concatenate([clips["01-01-03-01-01-01-01"].expression, clips["01-01-05-01-01-01-01"].expression])
    np.testing.assert_allclose(ref, np.median(both, 0), atol=1e-6)
    assert actor_reference_expression(str(root / "ground_truth"), "07") is None


def test_qa_truth_template_follows_the_fitted_template(corpus):
    demo, root, clips = corpus
    cid = "01-01-03-01-01-01-01"
    gt = load_ground_truth(root / "ground_truth" / f"{cid}.npz")
    assert gt.reference is not None
    from pipeline.fitting import IdentityFit, fit_clip

    track = clips[cid].track
    fit = fit_clip(track, IdentityFit(gt.shape.astype(np.float32), CAM, 1, 0.0, False, "mediapipe", demo.name), demo)
    # the truth as the fit, its template holding the true reference: no offset error
    m, _ = ground_truth_metrics(gt, gt.vertices, fit, track, demo, template=model_template(demo, gt.shape, gt.reference))
    assert m["offset_template"] == "reference expression"
    assert m["offset_error_mm"]["face"]["total"] == pytest.approx(0.0, abs=1e-6)
    # ... and with a zero-expression template: compared with the zero-expression truth, no error either
    m0, _ = ground_truth_metrics(gt, gt.vertices, fit, track, demo, template=model_template(demo, gt.shape))
    assert m0["offset_template"] == "zero expression"
    assert m0["offset_error_mm"]["face"]["total"] == pytest.approx(0.0, abs=1e-6)
    assert m["offset_error_mm"]["face"]["true_static"] < m0["offset_error_mm"]["face"]["true_static"]


def test_truth_corpus_offsets_with_the_reference(corpus):
    demo, root, clips = corpus
    cid = "01-01-03-01-01-01-01"
    tc = TruthCorpus(root)
    zero, ref = tc.offsets(cid, 30), tc.offsets(cid, 30, reference=True)
    gt = load_ground_truth(root / "ground_truth" / f"{cid}.npz")
    np.testing.assert_allclose(ref, gt.vertices - model_template(demo, gt.shape, gt.reference)[None], atol=1e-5)
    np.testing.assert_allclose(zero, gt.vertices - model_template(demo, gt.shape)[None], atol=1e-5)
    assert np.abs(ref - zero).max() > 1e-4
