"""The detector's blendshape scores as soft observations of the expression (``fit.blendshapes``):
config, the named rows, the term's derivatives, and its effect on the clip and identity fits."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from pipeline.fitting import BlendshapeConfig, FitConfig, IdentityConfig, fit_clip, fit_identity, load_fit_config
from pipeline.fitting.blendshapes import OBSERVED, OBSERVED_COMPONENTS, expression_observations
from pipeline.fitting.landmark_model import LandmarkModel
from pipeline.fitting.problem import batch_energy, frame_priors, make_targets
from pipeline.landmarker import BLENDSHAPE_NAMES
from synthetic_tracks import CAM, make_clip
from synthetic_tracks import known_identity as _identity


def _scores_of(expression: np.ndarray, names: list[str]) -> np.ndarray:
    """MediaPipe-named scores ``(T, 52)`` that say exactly ``expression`` for every observed row."""
    out = np.zeros((len(expression), len(BLENDSHAPE_NAMES)), np.float32)
    for weights, scores in OBSERVED:
        v = sum(w * expression[:, names.index(c)] for c, w in weights)
        for s in scores:
            out[:, BLENDSHAPE_NAMES.index(s)] = v
    return out


def _set(scores: np.ndarray, names: tuple[str, ...], value: float) -> np.ndarray:
    out = scores.copy()
    out[:, [BLENDSHAPE_NAMES.index(n) for n in names]] = value
    return out


def test_config_group_is_off_by_default():
    """(Its bad values are one-line errors: tests/pipeline/fitting/test_fit_config.py.)"""
    assert load_fit_config({"blendshapes": {"weight": 2.0}}).blendshapes.weight == 2.0
    assert FitConfig().blendshapes.weight == 0.0  # off by default


def test_every_row_names_real_scores_and_demo_components(demo):
    """A misspelt name would drop its row silently: every score is one MediaPipe gives, every component
    one the demo head has, and no score is observed by two rows."""
    for weights, scores in OBSERVED:
        assert set(scores) <= set(BLENDSHAPE_NAMES), scores
        assert {c for c, _ in weights} <= set(demo.expression_names), weights
    assert len({scores for _, scores in OBSERVED}) == len(OBSERVED)  # no score observed twice
    assert set(OBSERVED_COMPONENTS) <= set(demo.expression_names)
    # the scores documented to stay near 0 on real faces are not observed (mediapipe issues 4450, 4436)
    assert not {"eyeWideLeft", "noseSneerLeft", "cheekPuff"} & {n for _, sc in OBSERVED for n in sc}


def test_rows_values_and_precision(demo):
    rng = np.random.default_rng(0)
    bs = rng.random((5, 52)).astype(np.float32)
    valid = np.array([True, True, False, True, True])
    names = demo.expression_names
    cfg = BlendshapeConfig(weight=2.0, std=0.5, scale=1.5)
    obs = expression_observations(bs, BLENDSHAPE_NAMES, valid, names, cfg)
    assert obs.rows.shape == (len(OBSERVED), len(names))
    i = [sc for _, sc in OBSERVED].index(("mouthSmileLeft", "mouthSmileRight"))
    row = obs.rows[i].numpy()
    assert row[names.index("smile_left")] == row[names.index("smile_right")] == 0.5 and row.sum() == 1.0
    inner = obs.rows[[sc for _, sc in OBSERVED].index(("browInnerUp",))].numpy()  # AU1: whole-brow + inner raise
    assert inner[names.index("brow_raise")] == inner[names.index("brow_inner_raise")] == 1.0 and inner.sum() == 2.0
    want = 1.5 * (bs[:, BLENDSHAPE_NAMES.index("mouthSmileLeft")] + bs[:, BLENDSHAPE_NAMES.index("mouthSmileRight")]) / 2
    np.testing.assert_allclose(obs.value[:, i].numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(obs.precision[:, i].numpy(), np.where(valid, 2.0 / 0.25, 0.0))
    # off, no scores, or a model without named components (FLAME's expr_###): no observation
    assert expression_observations(bs, BLENDSHAPE_NAMES, valid, names, BlendshapeConfig(weight=0.0)) is None
    assert expression_observations(None, BLENDSHAPE_NAMES, valid, names, cfg) is None
    assert expression_observations(bs, BLENDSHAPE_NAMES, valid, [f"expr_{k:03d}" for k in range(20)], cfg) is None
    # rows chosen by component (fit.blendshapes.components): those whose components are all named
    some = expression_observations(bs, BLENDSHAPE_NAMES, valid, names,
                                   BlendshapeConfig(weight=1.0, components=("brow_raise", "frown")))
    assert [names[int(k)] for k in some.rows.argmax(1)] == ["frown", "brow_raise"]
    both = expression_observations(bs, BLENDSHAPE_NAMES, valid, names,
                                   BlendshapeConfig(weight=1.0, components=("brow_raise", "brow_inner_raise")))
    assert len(both.rows) == 2  # browOuterUp, and browInnerUp on the sum
    # only the components fitted: a row whose component is beyond n_expression is left out
    few = expression_observations(bs, BLENDSHAPE_NAMES, valid, names[:8], cfg)
    assert len(few.rows) == sum(all(c in names[:8] for c, _ in weights) for weights, _ in OBSERVED)


def test_targets_observe_only_detected_frames_of_the_rows_asked(demo):
    """``make_targets`` with a frame subset: each observation belongs to its frame, and frames without a
    detection (whose stored scores are zeros) observe nothing."""
    c = make_clip(demo, np.zeros(demo.n_shape), CAM, n_frames=10, seed=8, missing=slice(3, 5))
    scores = np.random.default_rng(3).random((10, 52)).astype(np.float32)
    track = replace(c.track, blendshapes=scores, blendshape_names=BLENDSHAPE_NAMES)
    lm = LandmarkModel(demo, "mediapipe", demo.n_shape, demo.exprdirs.shape[-1], dtype=torch.float64)
    frames = np.array([1, 3, 4, 8])
    obs = make_targets(track, lm, FitConfig(blendshapes=BlendshapeConfig(weight=1.0)), frames=frames).expression_obs
    np.testing.assert_array_equal(obs.precision.numpy()[:, 0] > 0, [True, False, False, True])
    i = [sc for _, sc in OBSERVED].index(("mouthPucker",))
    np.testing.assert_allclose(obs.value.numpy()[:, i], scores[frames, BLENDSHAPE_NAMES.index("mouthPucker")], rtol=1e-6)


def test_term_blocks_are_its_derivatives(demo):
    shape = np.zeros(demo.n_shape)
    c = make_clip(demo, shape, CAM, n_frames=4, seed=3)
    E = demo.exprdirs.shape[-1]
    track = replace(c.track, blendshapes=np.random.default_rng(1).random((4, 52)).astype(np.float32),
                    blendshape_names=BLENDSHAPE_NAMES)
    lm = LandmarkModel(demo, "mediapipe", demo.n_shape, E, dtype=torch.float64)
    cfg = FitConfig(blendshapes=BlendshapeConfig(weight=1.0))
    t_on, t_off = make_targets(track, lm, cfg), make_targets(track, lm, FitConfig())
    assert t_on.expression_obs is not None and t_off.expression_obs is None
    prior, _ = frame_priors(lm, cfg)
    x = torch.as_tensor(np.concatenate([c.expression, c.jaw, c.rotation, c.translation], 1))
    x = x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype)
    sh = torch.as_tensor(shape)
    e1, _, H1, g1, _ = batch_energy(lm, sh, x, t_on, prior, CAM, cfg, blocks=True, robust_kind="l2")
    e0, _, H0, g0, _ = batch_energy(lm, sh, x, t_off, prior, CAM, cfg, blocks=True, robust_kind="l2")
    # the term alone: exact quadratic, so its energy, gradient and block are those autograd finds
    xe = x[:, :E].clone().requires_grad_(True)
    obs = t_on.expression_obs
    energy = 0.5 * (obs.precision * (xe @ obs.rows.T - obs.value) ** 2).sum()
    (grad,) = torch.autograd.grad(energy, xe)
    torch.testing.assert_close(e1 - e0, energy.detach())
    torch.testing.assert_close((g1 - g0)[:, :E], grad)
    assert float((g1 - g0)[:, E:].abs().max()) == 0.0
    hess = torch.stack([torch.autograd.functional.hessian(
        lambda v, n=n: 0.5 * (obs.precision[n] * (v @ obs.rows.T - obs.value[n]) ** 2).sum(), x[n, :E]) for n in range(4)])
    torch.testing.assert_close((H1 - H0)[:, :E, :E], hess)


def test_weight_zero_is_bit_identical_with_scores_present(demo):
    shape = np.random.default_rng(6).normal(size=demo.n_shape) * 0.3
    c = make_clip(demo, shape, CAM, n_frames=12, seed=6, noise_px=2.0)
    plain = fit_clip(c.track, _identity(shape), demo, cfg=FitConfig())
    scores = np.random.default_rng(2).random((12, 52)).astype(np.float32)
    scores[:, BLENDSHAPE_NAMES.index("jawOpen")] = 0.0  # jawOpen sets the initial jaw, as before this term
    scored = replace(c.track, blendshapes=scores, blendshape_names=BLENDSHAPE_NAMES)
    off = fit_clip(scored, _identity(shape), demo, cfg=FitConfig(blendshapes=BlendshapeConfig(weight=0.0)))
    np.testing.assert_array_equal(plain.expression, off.expression)
    np.testing.assert_array_equal(plain.jaw, off.jaw)


def test_scores_pull_the_observed_components_towards_them(demo):
    """Noisy landmarks, scores that are right: the observed components come nearer the truth as the
    weight grows; scores that say a full outer-brow raise move brow_raise up."""
    shape = np.random.default_rng(5).normal(size=demo.n_shape) * 0.3
    c = make_clip(demo, shape, CAM, n_frames=30, seed=5, noise_px=6.0)
    names = demo.expression_names
    track = replace(c.track, blendshapes=_scores_of(c.expression, names), blendshape_names=BLENDSHAPE_NAMES)
    observed = sorted(names.index(x) for x in OBSERVED_COMPONENTS)
    errs = []
    for w in (0.0, 0.3, 3.0):
        fit = fit_clip(track, _identity(shape), demo, cfg=FitConfig(blendshapes=BlendshapeConfig(weight=w)))
        errs.append(float(np.abs(fit.expression[:, observed] - c.expression[:, observed]).mean()))
    assert errs[0] > errs[1] > errs[2], errs
    assert errs[2] < 0.5 * errs[0], errs
    k = names.index("brow_raise")
    raised = _set(_scores_of(c.expression, names), ("browOuterUpLeft", "browOuterUpRight"), 1.0)
    fit_t = fit_clip(track, _identity(shape), demo, cfg=FitConfig(blendshapes=BlendshapeConfig(weight=1.0)))
    fit_r = fit_clip(replace(track, blendshapes=raised), _identity(shape), demo,
                     cfg=FitConfig(blendshapes=BlendshapeConfig(weight=1.0)))
    assert fit_r.expression[:, k].mean() > fit_t.expression[:, k].mean() + 0.05


def test_identity_fit_sees_the_scores_too(demo):
    """The reference expression comes from the identity fit's frames: with the term on there, scores
    saying a held outer-brow raise raise the reference's brow_raise, so the clips' offsets and the
    template are taken with the same term."""
    shape = np.random.default_rng(2).normal(size=demo.n_shape) * 0.3
    names = demo.expression_names
    k = names.index("brow_raise")
    tracks = []
    for s in range(2):
        c = make_clip(demo, shape, CAM, n_frames=30, seed=s, noise_px=1.0)
        sc = _set(_scores_of(c.expression, names), ("browOuterUpLeft", "browOuterUpRight"), 1.0)
        tracks.append(replace(c.track, blendshapes=sc, blendshape_names=BLENDSHAPE_NAMES))
    ident = IdentityConfig(frames=40)
    off = fit_identity(tracks, demo, cfg=FitConfig(identity=ident))
    on = fit_identity(tracks, demo, cfg=FitConfig(identity=ident, blendshapes=BlendshapeConfig(weight=3.0)))
    assert on.expression_reference[k] > off.expression_reference[k] + 0.05, (on.expression_reference[k],
                                                                              off.expression_reference[k])


class _Captured(Exception):
    pass


def test_identity_energy_holds_the_term_once_per_frame_scaled_like_the_landmarks(demo, monkeypatch):
    """The identity problem's energy with the term minus without it, at its starting point, is
    ``c x 1/2 sum p r^2`` over the sampled frames (``c`` = effective_frames / N, the landmarks' own
    scaling), with chunks smaller than the frame count and scores that change from frame to frame:
    a term applied unscaled, twice, or to the wrong chunk's frames gives another number."""
    import pipeline.fitting.identity as idm
    from pipeline.fitting.identity import sample_frames

    problems = {}

    def capture(problem, x0, schedule):
        problems["p"], problems["x0"] = problem, x0
        raise _Captured

    monkeypatch.setattr(idm, "levenberg_marquardt", capture)
    shape = np.zeros(demo.n_shape)
    names = demo.expression_names
    rng = np.random.default_rng(4)
    tracks = [replace(make_clip(demo, shape, CAM, n_frames=20, seed=s, missing=slice(2, 4)).track,
                      blendshapes=rng.random((20, 52)).astype(np.float32), blendshape_names=BLENDSHAPE_NAMES)
              for s in range(2)]
    bc = BlendshapeConfig(weight=2.0, std=0.5)
    energies = []
    for cfg in (FitConfig(identity=IdentityConfig(frames=25, chunk=7)),
                FitConfig(identity=IdentityConfig(frames=25, chunk=7), blendshapes=bc)):
        with pytest.raises(_Captured):
            fit_identity(tracks, demo, cfg=cfg)
        energies.append(float(problems["p"].evaluate(problems["x0"], "l2", False).energy))
    x = problems["x0"].frames[:, :demo.exprdirs.shape[-1]].numpy()
    picks = sample_frames(tracks, 25, 0)
    n = sum(len(f) for _, f in picks)
    assert n == len(x)
    want = 0.0
    row = 0
    for i, frames in picks:
        for f in frames:
            for weights, scores in OBSERVED:
                a = sum(w * x[row, names.index(c)] for c, w in weights)
                y = tracks[i].blendshapes[f, [BLENDSHAPE_NAMES.index(sn) for sn in scores]].mean()
                want += 0.5 * (bc.weight / bc.std**2) * (a - y) ** 2 * bool(tracks[i].valid[f])
            row += 1
    c = min(1.0, 0.3 / n)  # identity.effective_frames 0.3
    assert energies[1] - energies[0] == pytest.approx(c * want, rel=1e-6)


def test_stacked_clips_without_scores_observe_nothing_and_other_score_sets_are_refused(demo):
    """An actor's clips stacked for the identity fit: a clip whose track has no scores adds frames that
    observe nothing; clips whose scores make other rows (another detector's names) are a FitError."""
    from pipeline.fitting import FitError
    from pipeline.fitting.problem import Targets

    c = make_clip(demo, np.zeros(demo.n_shape), CAM, n_frames=6, seed=9)
    scored = replace(c.track, blendshapes=np.full((6, 52), 0.5, np.float32), blendshape_names=BLENDSHAPE_NAMES)
    lm = LandmarkModel(demo, "mediapipe", demo.n_shape, demo.exprdirs.shape[-1], dtype=torch.float64)
    cfg = FitConfig(blendshapes=BlendshapeConfig(weight=1.0))
    both = Targets.concat([make_targets(scored, lm, cfg), make_targets(c.track, lm, cfg)])
    assert both.expression_obs.precision.shape == (12, len(OBSERVED))
    assert bool((both.expression_obs.precision[:6] > 0).all()) and float(both.expression_obs.precision[6:].abs().max()) == 0
    assert Targets.concat([make_targets(c.track, lm, cfg)] * 2).expression_obs is None
    names = list(BLENDSHAPE_NAMES)
    names[names.index("mouthPucker")] = "somethingElse"
    other = replace(scored, blendshape_names=tuple(names))
    with pytest.raises(FitError, match="different scores"):
        Targets.concat([make_targets(scored, lm, cfg), make_targets(other, lm, cfg)])
