"""The actor's reference expression: what its face holds through all its clips goes into its template."""

import numpy as np
import pytest

from emoface.mesh.camera import PinholeCamera
from emoface.morphable import MorphableLayer, load
from pipeline.fitting import FitConfig, IdentityConfig, IdentityFit, canonicalize, fit_clip, fit_identity
from pipeline.fitting.canonical import identity_template
from pipeline.fitting.config import load_fit_config
from emoface.morphable.reference import reference_expression
from synthetic_tracks import make_clip

CAM = PinholeCamera.from_fov(1280, 720, 25.0)


def test_reference_is_the_per_component_median():
    e = np.array([[0.0, 1.0], [0.2, 3.0], [0.1, 2.0], [5.0, 2.5]])
    np.testing.assert_allclose(reference_expression(e, "median"), [0.15, 2.25], rtol=1e-6)
    assert reference_expression(e, "none").size == 0
    assert reference_expression(np.zeros((0, 2)), "median").size == 0


def test_config_rejects_an_unknown_reference():
    with pytest.raises(ValueError, match="expression_reference"):
        load_fit_config({"identity": {"expression_reference": "mean"}}, "fit")
    assert FitConfig().identity.expression_reference == "median"


def test_identity_round_trips_its_reference(tmp_path):
    ident = IdentityFit(np.zeros(30, np.float32), CAM, 5, 0.01, False, "mediapipe", "demo-head",
                        expression_reference=np.arange(20, dtype=np.float32) / 10)
    ident.save(tmp_path / "a.npz")
    back = IdentityFit.load(tmp_path / "a.npz")
    np.testing.assert_array_equal(back.expression_reference, ident.expression_reference)
    # an identity written before the field existed loads with zero expression
    with np.load(tmp_path / "a.npz") as z:
        np.savez(tmp_path / "old.npz", **{k: z[k] for k in z.files if k != "expression_reference"})
    assert IdentityFit.load(tmp_path / "old.npz").expression_reference.size == 0


def test_a_held_expression_goes_into_the_template_not_the_offsets():
    demo = load("demo")
    k = demo.expression_names.index("eye_wide") if "eye_wide" in demo.expression_names else 0
    held = np.zeros(demo.exprdirs.shape[-1])
    held[k] = 0.8
    shape = np.random.default_rng(2).normal(size=demo.n_shape) * 0.3
    tracks = [make_clip(demo, shape, CAM, n_frames=40, seed=s, noise_px=0.5, held=held).track for s in range(3)]
    cfg = FitConfig(identity=IdentityConfig(frames=60))
    ident = fit_identity(tracks, demo, cfg=cfg)
    ref = ident.expression_reference
    assert ref.shape == (demo.exprdirs.shape[-1],)
    assert ref[k] > 0.5, ref  # the held component is found (0.8 held, plus the motion's median)
    none = fit_identity(tracks, demo, cfg=FitConfig(identity=IdentityConfig(frames=60, expression_reference="none")))
    assert none.expression_reference.size == 0
    np.testing.assert_array_equal(none.shape, ident.shape)  # the shape fit itself is unchanged

    fit = fit_clip(tracks[0], ident, demo, cfg=cfg)
    verts, template = canonicalize(fit, ident, demo)
    verts0, template0 = canonicalize(fit, none, demo)
    np.testing.assert_array_equal(verts, verts0)  # the meshes are the same; only the template differs
    layer = MorphableLayer(demo)
    import torch
    f = lambda a: torch.as_tensor(np.asarray(a, np.float32))[None]  # noqa: E731
    expected = layer(shape=f(ident.shape), expression=f(ref), landmarks=None).vertices[0].numpy()
    np.testing.assert_allclose(template, expected, atol=1e-6)
    np.testing.assert_array_equal(identity_template(ident, demo), template)
    # the held expression no longer shows as motion: where the held component moves the face, the
    # clip's mean offset from the template shrinks
    moved = np.linalg.norm(np.asarray(demo.exprdirs)[:, :, k], axis=1)
    region = moved > 0.5 * moved.max()
    held_off = np.linalg.norm((verts - template).mean(0)[region], axis=1).mean()
    zero_off = np.linalg.norm((verts0 - template0).mean(0)[region], axis=1).mean()
    assert held_off < 0.5 * zero_off, (held_off, zero_off)


def test_config_values_are_the_rules():
    from emoface.morphable.reference import REFERENCES
    from pipeline.fitting.config import IdentityConfig

    for how in REFERENCES:
        assert IdentityConfig(expression_reference=how).expression_reference == how
    with pytest.raises(ValueError):
        IdentityConfig(expression_reference="mean")
