"""The demo head rendered plainly is found by the MediaPipe Face Landmarker, which follows its motion.

This is the premise of the generated corpus (it animates this head and relies on the
detector). Needs an offscreen GL context (pyrender with EGL or OSMesa); skipped without one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emoface.mesh.camera import PinholeCamera, project
from emoface.morphable import MorphableLayer, load
from tools.demo_head.canonical_mesh import task_file
from tools.demo_head.preview import vertex_colours


@pytest.fixture(scope="module")
def renderer():
    demo = load("demo")
    try:
        from tools.demo_head.preview import preview_renderer

        r = preview_renderer(demo, PinholeCamera.from_fov(480, 480, 22.0), background=(0.55, 0.6, 0.65))
    except Exception as exc:  # no GL context on this machine
        pytest.skip(f"no offscreen OpenGL context for pyrender: {exc}")
    yield demo, r
    r.close()


def test_detector_follows_jaw_smile_blink_and_brows(renderer):
    from mediapipe.tasks.python import BaseOptions
    from mediapipe.tasks.python.vision import FaceLandmarker, FaceLandmarkerOptions, RunningMode
    import mediapipe as mp

    demo, r = renderer
    layer = MorphableLayer(demo)
    opts = FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(task_file())), running_mode=RunningMode.IMAGE,
                                 output_face_blendshapes=True, num_faces=1)  # fmt: skip

    def expr(**kw):
        e = torch.zeros(1, demo.n_expr)
        for k, v in kw.items():
            e[0, demo.expression_index(k)] = v
        return e

    cases = {
        "neutral": {},
        "jaw": {"jaw": torch.tensor([[0.3, 0.0, 0.0]])},
        "smile": {"expression": expr(smile_left=1.0, smile_right=1.0)},
        "blink": {"expression": expr(eyelid_close_left=1.0, eyelid_close_right=1.0)},
        "brows": {"expression": expr(brow_raise=1.0)},
    }
    res = {}
    with FaceLandmarker.create_from_options(opts) as lm:
        for name, kw in cases.items():
            out = layer(translation=torch.tensor([[0.0, 0.0, -0.62]]), **kw)
            img = r.render(out.vertices[0].numpy(), colors=vertex_colours(demo))
            det = lm.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=img))
            assert det.face_landmarks, f"{name}: no face found in the render"
            pts = np.array([[p.x * 480, p.y * 480] for p in det.face_landmarks[0]])[:468]
            gt = project(out.vertices[0], r.camera).numpy()
            scores = {c.category_name: c.score for c in det.face_blendshapes[0]}
            res[name] = (pts, gt, scores)
    face_px = np.ptp(res["neutral"][1][:, 1])
    for name, (pts, gt, _) in res.items():
        err = np.median(np.linalg.norm(pts - gt, axis=1))
        assert err < 0.04 * face_px, f"{name}: median landmark error {err:.1f}px (face {face_px:.0f}px)"
    gap = {k: np.linalg.norm(v[0][13] - v[0][14]) for k, v in res.items()}
    gt_gap = {k: np.linalg.norm(v[1][13] - v[1][14]) for k, v in res.items()}
    assert gap["jaw"] - gap["neutral"] > 0.6 * (gt_gap["jaw"] - gt_gap["neutral"])  # the mouth opening is tracked
    assert res["jaw"][2]["jawOpen"] > res["neutral"][2]["jawOpen"] + 0.3
    assert res["smile"][2]["mouthSmileLeft"] > 0.4 and res["smile"][2]["mouthSmileRight"] > 0.4
    assert res["blink"][2]["eyeBlinkLeft"] > 0.5 and res["blink"][2]["eyeBlinkRight"] > 0.5
    assert res["brows"][2]["browInnerUp"] > res["neutral"][2]["browInnerUp"] + 0.2
    lift = res["brows"][0][[105, 334], 1] - res["neutral"][0][[105, 334], 1]  # image y grows downwards
    assert (lift < -0.5 * 0.008 / 0.62 * r.camera.fy).all()  # at least half of the 8 mm brow raise
