"""Render whole mesh sequences to mp4: one animation, or ground truth | prediction | error heat map."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from emoface.morphable.model import face_groups_for
from emoface.render.heatmap import colorbar_panel, error_colors, hstack_panels, label_panel, vertex_error_mm
from emoface.render.renderer import MeshRenderer, RenderConfig
from emoface.render.video import write_video

__all__ = ["render_sequence", "render_comparison", "comparison_frames"]


def render_sequence(
    vertices: np.ndarray,
    faces: np.ndarray,
    path: str | Path,
    audio: np.ndarray | None = None,
    fps: float = 30.0,
    template: np.ndarray | None = None,
    config: RenderConfig | None = None,
    label: str | None = None,
) -> int:
    """Render (T,V,3) metres to an mp4 at ``fps`` with optional 16 kHz mono ``audio``; returns T.

    The camera is framed on ``template`` (V,3) when given, else on the first frame.
    """
    vertices = np.asarray(vertices, dtype=np.float32)
    with MeshRenderer(faces, vertices[0] if template is None else template, config, face_groups_for(faces)) as r:

        def frames() -> Iterator[np.ndarray]:
            for v in vertices:
                img = r.render(v)
                yield label_panel(img, label) if label else img

        return write_video(frames(), path, fps=fps, audio=audio)


def comparison_frames(
    gt: np.ndarray,
    pred: np.ndarray,
    renderer: MeshRenderer,
    vmax_mm: float,
    labels: tuple[str, str] = ("ground truth", "prediction"),
) -> Iterator[np.ndarray]:
    """Yield (H, 3W, 3) frames: ground truth | prediction | per-vertex error on the GT surface."""
    err = vertex_error_mm(pred, gt)  # (T, V)
    for t in range(len(gt)):
        a = label_panel(renderer.render(gt[t]), labels[0])
        b = label_panel(renderer.render(pred[t]), labels[1])
        c = renderer.render(gt[t], colors=error_colors(err[t], vmax_mm))
        c = colorbar_panel(label_panel(c, f"error, max {err[t].max():.1f} mm"), vmax_mm)
        yield hstack_panels([a, b, c])


def render_comparison(
    gt: np.ndarray,
    pred: np.ndarray,
    faces: np.ndarray,
    path: str | Path,
    template: np.ndarray,
    audio: np.ndarray | None = None,
    fps: float = 30.0,
    vmax_mm: float | None = None,
    config: RenderConfig | None = None,
    labels: tuple[str, str] = ("ground truth", "prediction"),
) -> int:
    """Side-by-side video of ``gt`` and ``pred`` (T,V,3 metres, same T) with an error heat map.

    ``vmax_mm`` (the colour scale's top) defaults to the 99th percentile of the per-vertex error
    over the clip, rounded up to a whole millimetre (at least 1 mm). Returns T.
    """
    gt = np.asarray(gt, dtype=np.float32)
    pred = np.asarray(pred, dtype=np.float32)
    if gt.shape != pred.shape:
        raise ValueError(f"{path}: ground truth {gt.shape} and prediction {pred.shape} differ")
    if vmax_mm is None:
        vmax_mm = float(max(1.0, np.ceil(np.percentile(vertex_error_mm(pred, gt), 99))))
    with MeshRenderer(faces, template, config, face_groups_for(faces)) as r:
        return write_video(comparison_frames(gt, pred, r, vmax_mm, labels), path, fps=fps, audio=audio)
