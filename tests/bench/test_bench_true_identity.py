"""bench.bench_fit.fit_actor(true_identity=True): the clips are fitted with the truth's shape and camera."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
for p in (REPO, REPO / "tests" / "pipeline" / "fitting"):
    if str(p) not in sys.path:  # bench/ is a folder of the repository; synthetic_tracks is a test helper
        sys.path.insert(0, str(p))

from bench.bench_fit import fit_actor  # noqa: E402
from emoface.mesh.camera import PinholeCamera  # noqa: E402
from emoface.morphable import load  # noqa: E402
from pipeline.fitting import FitConfig, SmoothConfig  # noqa: E402
from synthetic_tracks import make_clip, write_ground_truth  # noqa: E402


def test_true_identity_replaces_shape_and_camera(tmp_path, monkeypatch):
    import pipeline.fitting as pf

    demo = load("demo")
    cam = PinholeCamera.from_fov(1280, 720, 31.0)  # not the fit's 25-degree prior: the camera must come from the truth
    shape = np.random.default_rng(1).normal(size=demo.n_shape) * 0.4
    cid = "01-01-03-01-01-01-01"
    clip = make_clip(demo, shape, cam, n_frames=20, seed=0, noise_px=0.5, clip_id=cid)
    gt = tmp_path / f"{cid}.npz"
    write_ground_truth(gt, demo, clip)
    seen = []
    real = pf.fit_clip
    monkeypatch.setattr(pf, "fit_clip", lambda track, ident, *a, **k: seen.append(ident) or real(track, ident, *a, **k))
    for true in (False, True):
        fit_actor([clip.track], [{"audio_duration_s": 20 / 30}], [str(gt)], demo, FitConfig(), SmoothConfig(), true)
    fitted, given = seen
    np.testing.assert_allclose(given.shape[: demo.n_shape], shape, atol=1e-6)
    assert given.camera == cam and given.expression_reference.size == 0
    assert not np.allclose(fitted.shape[: demo.n_shape], shape, atol=1e-3) and fitted.camera != cam
