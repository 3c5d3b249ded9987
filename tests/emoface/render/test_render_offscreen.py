"""Offscreen face renders, heat-map colours and mp4 writing (skipped with the reason when no EGL)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tools.demo_head.canonical_mesh import load_canonical_mesh
from emoface.render.heatmap import error_colors, vertex_error_mm
from emoface.render.video import fit_audio, write_video
from emoface.utils.media import probe_video


@pytest.fixture(scope="module")
def face():
    m = load_canonical_mesh()
    return m.vertices.astype(np.float32) / 100.0, m.faces


@pytest.fixture(scope="module")
def renderer(face):
    from emoface.render.gl import RenderUnavailable
    from emoface.render.renderer import MeshRenderer, RenderConfig

    try:
        r = MeshRenderer(face[1], face[0], RenderConfig(width=192, height=160))
    except RenderUnavailable as exc:
        pytest.skip(f"no offscreen OpenGL here: {exc}")
    yield r
    r.close()


def test_front_view_is_lit_centred_and_not_clipped(renderer, face):
    img = renderer.render(face[0])
    assert img.shape == (160, 192, 3) and img.dtype == np.uint8
    bg = np.array(renderer.cfg.background) * 255
    fg = np.abs(img.astype(float) - bg).sum(-1) > 12
    ys, xs = np.nonzero(fg)
    assert fg.mean() > 0.2  # the face fills a good part of the image
    # nothing touches the border (not clipped), and the face is centred
    assert not fg[0].any() and not fg[-1].any() and not fg[:, 0].any() and not fg[:, -1].any()
    assert abs(xs.mean() - 96) < 12 and abs(ys.mean() - 80) < 16
    # lit: shading varies across the face, and it is neither black nor saturated
    lum = img[fg].mean(-1)
    assert 60 < lum.mean() < 235 and lum.std() > 5
    # front view: left/right halves are mirror images up to the light direction
    assert abs(xs.min() - (191 - xs.max())) <= 4


def test_heat_map_colours_and_moving_mesh(renderer, face):
    v = face[0]
    moved = v.copy()
    moved[:, 1] -= 0.01 * (v[:, 1] < np.median(v[:, 1]))
    a, b = renderer.render(v), renderer.render(moved)
    assert np.abs(a.astype(int) - b.astype(int)).sum() > 0  # each frame re-uploads the geometry
    hot = renderer.render(v, colors=error_colors(np.full(len(v), 5.0), 5.0))
    cold = renderer.render(v, colors=error_colors(np.zeros(len(v)), 5.0))
    centre = (slice(60, 100), slice(80, 112))
    assert hot[centre][..., 0].mean() > hot[centre][..., 2].mean()  # red
    assert cold[centre][..., 2].mean() > cold[centre][..., 0].mean()  # blue


def test_error_colour_scale():
    c = error_colors(np.array([0.0, 2.5, 5.0, 50.0]), vmax=5.0)
    assert c.shape == (4, 3) and c.min() >= 0 and c.max() <= 1
    np.testing.assert_allclose(c[2], c[3])  # clipped at vmax
    assert c[0, 2] > c[0, 0] and c[2, 0] > c[2, 2]
    gt = np.zeros((1, 2, 3))
    pred = np.array([[[0.003, 0.004, 0.0], [0.0, 0.0, 0.0]]])
    np.testing.assert_allclose(vertex_error_mm(pred, gt), [[5.0, 0.0]])


def test_write_video_frame_count_and_audio(tmp_path):
    frames = [np.full((33, 47, 3), 10 * i, np.uint8) for i in range(12)]  # odd sizes get padded
    audio = np.sin(np.arange(9000) / 5.0).astype(np.float32) * 0.2
    out = tmp_path / "v.mp4"
    assert write_video(iter(frames), out, fps=30, audio=audio) == 12
    import imageio_ffmpeg

    n, secs = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert n == 12
    info = probe_video(out)
    assert info.has_audio and (info.width, info.height) == (48, 34)
    assert fit_audio(audio, 12, 30).size == round(12 / 30 * 16000)
    with pytest.raises(ValueError, match="no frames"):
        write_video(iter([]), tmp_path / "e.mp4")
    assert not (tmp_path / "e.mp4").exists()


def test_missing_gl_names_the_system_packages():
    """With a GL platform whose library is absent the error says what to install."""
    code = (
        "from emoface.render.gl import import_pyrender, RenderUnavailable\n"
        "try:\n    import_pyrender()\nexcept RenderUnavailable as e:\n    print('MSG', e)\n"
    )
    env = {**os.environ, "PYOPENGL_PLATFORM": "osmesa"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    if "MSG" not in out.stdout:
        pytest.skip("OSMesa is installed here, so the missing-GL path cannot be exercised")
    assert "libegl1" in out.stdout and "libosmesa6" in out.stdout and "libgl1-mesa-dri" in out.stdout
