"""A small real build (the committed 1 s RAVDESS piece, demo head): the QA report pictures the
clip's most expressive frame beside its front-facing mesh, and a rerun keeps the picture."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from buildtest_support import FIXTURE, make_corpus
from emoface.data.schema import SplitReader

CLIP_ID = "01-01-01-01-02-01-05"


def _render_unavailable() -> str | None:
    from emoface.render.gl import RenderUnavailable, offscreen_renderer

    try:
        offscreen_renderer(8, 8).delete()
    except RenderUnavailable as exc:
        return str(exc)
    return None


def test_build_pictures_the_most_expressive_frame(tmp_path):
    import cv2

    reason = _render_unavailable()
    if reason:
        pytest.skip(f"no offscreen OpenGL: {reason}")
    root = make_corpus(tmp_path / "ravdess", {f"Actor_05/{CLIP_ID}.mp4": FIXTURE})
    out = tmp_path / "out"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("qa:\n  pair_size: 128\n")
    cmd = [sys.executable, "-m", "pipeline", "ravdess", "--root", str(root), "--out", str(out), "--model", "demo",
           "--config", str(cfg)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "qa" / "report.json").read_text())
    clip = report["clips"][0]
    assert clip["picture"] == f"pairs/{CLIP_ID}.jpg"
    picture = out / "qa" / clip["picture"]
    img = cv2.imread(str(picture))
    assert img.shape == (128, 256, 3)  # the frame and the mesh, 128 px each
    assert f'src="pairs/{CLIP_ID}.jpg"' in (out / "qa" / "report.html").read_text(encoding="utf-8")
    # the frame is the one whose stored front-facing mesh lies farthest from the subject's template
    with SplitReader(out / "train.h5") as r:
        rec = r.read_clip(CLIP_ID)
        off = np.linalg.norm(rec.vertices - r.template("Actor_05")[None], axis=2).mean(axis=1) * 1000.0
    off[rec.fit_error < 0] = -1.0
    ex = clip["qa"]["metrics"]["expressive_frame"]
    assert ex["frame"] == int(np.argmax(off)) and ex["offset_mm"] == pytest.approx(off.max(), rel=1e-3)
    # a rerun that must write the report again (it was deleted) finds the QA done (the video is not
    # read again) and writes the same picture from the stored QA artefact
    sidecar = out / "work" / "qa" / f"{CLIP_ID}.sidecar.json"
    qa_done, before = sidecar.read_bytes(), picture.read_bytes()
    picture.unlink()
    (out / "qa" / "report.json").unlink()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sidecar.read_bytes() == qa_done and picture.read_bytes() == before
