"""The most expressive frame of a clip and its picture (video frame beside the front-facing mesh)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emoface.utils.media import ffmpeg_exe, read_frame
from pipeline.qa.expressive import face_crop, frame_offsets_mm, most_expressive_frame, pair_image

HERE = Path(__file__).resolve().parent


def test_most_expressive_frame_is_the_largest_mean_offset():
    rng = np.random.default_rng(0)
    template = rng.normal(size=(50, 3)) * 0.05
    # frame t moves every vertex by a known distance: 1 mm * |sin|, largest at frame 13 (6 mm)
    dist_mm = np.abs(np.sin(np.arange(20) * 0.3))
    dist_mm[13], dist_mm[4] = 6.0, 5.0
    dirs = rng.normal(size=(20, 50, 3))
    dirs /= np.linalg.norm(dirs, axis=2, keepdims=True)
    vertices = template[None] + dirs * dist_mm[:, None, None] / 1000.0
    assert frame_offsets_mm(vertices, template) == pytest.approx(dist_mm)
    ef = most_expressive_frame(vertices, template, fps=30.0)
    assert (ef.frame, ef.time_s, ef.offset_mm) == (13, pytest.approx(13 / 30), pytest.approx(6.0))
    # a frame without a detected face is not chosen; nor is a non-finite one
    valid = np.ones(20, bool)
    valid[13] = False
    assert most_expressive_frame(vertices, template, 30.0, valid).frame == 4
    vertices[4] = np.nan
    assert most_expressive_frame(vertices, template, 30.0, valid).frame not in (4, 13)
    # no frame with a face at all: the largest of all frames
    assert most_expressive_frame(vertices, template, 30.0, np.zeros(20, bool)).frame == 13


def test_face_crop_frames_the_points_and_pair_puts_panels_side_by_side():
    img = np.zeros((200, 300, 3), np.uint8)
    img[50:90, 100:140] = 255  # a 40 px white square
    corners = np.array([[100, 50], [139.999, 50], [100, 89.999], [139.999, 89.999]])
    crop = face_crop(img, corners, 80, fill=0.5)  # the square covers half of the crop, centred
    white = crop[..., 0] > 128
    rows, cols = np.nonzero(white.any(1))[0], np.nonzero(white.any(0))[0]
    assert crop.shape == (80, 80, 3)
    assert abs(rows[0] - 20) <= 1 and abs(rows[-1] - 59) <= 1 and abs(cols[0] - 20) <= 1 and abs(cols[-1] - 59) <= 1
    pair = pair_image(crop, np.full_like(crop, 7), ("video", "mesh"))
    assert pair.shape == (80, 160, 3) and (pair[:40, 80:] == 7).all()
    with pytest.raises(ValueError, match="differ in size"):
        pair_image(crop, np.zeros((40, 40, 3), np.uint8))


@pytest.fixture(scope="module")
def clip_inputs(tmp_path_factory):
    """A fitted synthetic clip (1280x720 camera) and a 1280x720 video of the same length."""
    from emoface.morphable import load

    sys.path.insert(0, str(HERE.parent / "fitting"))
    from synthetic_tracks import fit_synthetic_clip

    demo = load("demo")
    fc = fit_synthetic_clip(demo, shape_seed=1, n_frames=30, seed=5, noise_px=0.5, missing=slice(10, 12),
                            clip_id="01-01-03-01-01-01-01")
    c, fit, verts, template = fc.truth, fc.fit, fc.vertices, fc.template
    video = tmp_path_factory.mktemp("video") / "clip.mp4"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=1280x720:rate=30:duration=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(video)],
                   check=True)

    class Inputs:
        pass

    inp = Inputs()
    inp.clip_id, inp.subject, inp.track, inp.raw_fit, inp.fit = "01-01-03-01-01-01-01", "Actor_01", c.track, None, fit
    inp.vertices, inp.template, inp.model, inp.ground_truth, inp.source = verts, template, demo, None, str(video)
    inp.decoded = {"fps": np.float64(30.0), "n_frames": np.int64(30), "audio_duration_s": np.float64(1.0)}
    return inp


def _renderer_works() -> str | None:
    from emoface.render.gl import RenderUnavailable, offscreen_renderer

    try:
        offscreen_renderer(8, 8).delete()
    except RenderUnavailable as exc:
        return str(exc)
    return None


def test_clip_qa_pictures_the_most_expressive_frame(clip_inputs):
    import cv2

    from pipeline.qa import clip_qa
    from pipeline.qa.overlay import mesh_in_image

    reason = _renderer_works()
    if reason:
        pytest.skip(f"no offscreen OpenGL: {reason}")
    res = clip_qa(clip_inputs, {"pair_size": 96})
    ex = res["metrics"]["expressive_frame"]
    off = frame_offsets_mm(clip_inputs.vertices, clip_inputs.template)
    off[~clip_inputs.track.valid] = -1
    assert ex["frame"] == int(np.argmax(off)) and ex["offset_mm"] == pytest.approx(off.max())
    pair = cv2.imdecode(res["arrays"]["expressive_pair"], cv2.IMREAD_COLOR)[..., ::-1]
    assert pair.shape == (96, 192, 3) and "note" not in ex
    # the left panel is the video's frame at that index, cropped around the projected mesh
    t, fit = ex["frame"], clip_inputs.fit
    mesh = mesh_in_image(clip_inputs.vertices[t], fit.head_rotation[t], fit.head_translation[t], fit.camera)
    diff = {k: float(np.abs(pair[:70, :96].astype(int) - face_crop(read_frame(clip_inputs.source, k, 30.0), mesh, 96, 0.85)[:70]).mean())
            for k in (t, (t + 15) % 30)}
    assert diff[t] < 6 < diff[(t + 15) % 30], diff
    # the right panel is a render: its border is the renderer's background, its centre is not
    from emoface.render.renderer import RenderConfig

    bg = np.round(255 * np.asarray(RenderConfig().background))
    assert np.abs(pair[2, 96 + 2] - bg).max() <= 8 and np.abs(pair[40, 96 + 48] - bg).max() > 20


def test_clip_qa_without_the_video_keeps_the_frame_and_says_why(clip_inputs, tmp_path):
    from pipeline.qa import clip_qa

    clip_inputs.source, source = str(tmp_path / "gone.mp4"), clip_inputs.source
    try:
        res = clip_qa(clip_inputs, {"pair_size": 96})
    finally:
        clip_inputs.source = source
    ex = res["metrics"]["expressive_frame"]
    assert "expressive_pair" not in res["arrays"] and ex["note"].startswith("no picture: ") and "gone.mp4" in ex["note"]
    assert clip_qa(clip_inputs, {"pair_size": 0})["arrays"].get("expressive_pair") is None


def test_front_renderer_frames_another_subject_as_its_own_camera_would():
    """One GL context for every subject: a larger subject rendered by the shared renderer looks as it
    does framed on its own template."""
    from emoface.morphable import load
    from pipeline.qa.expressive import FrontRenderer, render_front

    reason = _renderer_works()
    if reason:
        pytest.skip(f"no offscreen OpenGL: {reason}")
    demo = load("demo")
    a = np.asarray(demo.v_template, np.float64)
    b = a * np.array([1.15, 1.05, 1.1]) + np.array([0.01, -0.02, 0.03])  # another size and place
    own = render_front(b, b, demo.faces, 96, demo.face_groups)
    with FrontRenderer() as shared:
        shared.render(a, a, demo.faces, 96, demo.face_groups)  # frames the camera on a
        got = shared.render(b, b, demo.faces, 96, demo.face_groups)
    naive = render_front(b, a, demo.faces, 96, demo.face_groups)  # b seen by a camera framed on a
    err = float(np.abs(got.astype(int) - own).mean())
    assert err < 2.0 < float(np.abs(naive.astype(int) - own).mean()), err
