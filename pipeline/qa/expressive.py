"""A picture a person can judge: a clip's most expressive video frame beside its fitted front-facing mesh.

The most expressive frame is the one whose front-facing mesh lies farthest from the subject's
template (mean vertex distance; frames with a detected face preferred). It is known only after
the fit, so the QA stage reads that one frame again from the source video
(:func:`emoface.utils.media.read_frame`, a seek, not a decode of the clip) and renders the
mesh of that frame with the project's renderer (:class:`emoface.render.renderer.MeshRenderer`,
pyrender offscreen). Both panels are ``size x size`` pixels and show the same part of the face:
the video panel is the square around the fitted mesh as projected into the frame, scaled so the
mesh fills ``fill`` of it, the renderer's framing of the template.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ExpressiveFrame", "frame_offsets_mm", "most_expressive_frame", "face_crop", "FrontRenderer",
           "render_front", "pair_image", "encode_jpeg"]


@dataclass(frozen=True)
class ExpressiveFrame:
    """The chosen frame: ``frame`` (index at the build's fps), ``time_s`` and ``offset_mm``
    (mean distance of its front-facing vertices from the template)."""

    frame: int
    time_s: float
    offset_mm: float

    def as_dict(self) -> dict[str, float | int]:
        return {"frame": self.frame, "time_s": self.time_s, "offset_mm": self.offset_mm}


def frame_offsets_mm(vertices: np.ndarray, template: np.ndarray) -> np.ndarray:
    """``(T,)`` mean distance (mm) of each frame's vertices ``(T, V, 3)`` m from ``template (V, 3)`` m."""
    v = np.asarray(vertices, np.float64)
    return 1000.0 * np.linalg.norm(v - np.asarray(template, np.float64)[None], axis=2).mean(axis=1)


def most_expressive_frame(vertices: np.ndarray, template: np.ndarray, fps: float,
                          valid: np.ndarray | None = None) -> ExpressiveFrame:
    """The frame of ``vertices (T, V, 3)`` with the largest mean offset from ``template``.

    ``valid (T,)``: frames where a face was detected; the choice is among them when there is
    any (an interpolated frame's video shows no face the fit saw). Non-finite offsets never win.
    """
    off = frame_offsets_mm(vertices, template)
    if not len(off):
        raise ValueError("a clip without frames has no most expressive frame")
    score = np.where(np.isfinite(off), off, -np.inf)
    if valid is not None:
        ok = np.asarray(valid, bool)[: len(score)]
        if ok.any():
            score = np.where(ok, score, -np.inf)
    t = int(np.argmax(score))
    return ExpressiveFrame(t, t / float(fps), float(off[t]))


def face_crop(image: np.ndarray, points: np.ndarray, size: int, fill: float) -> np.ndarray:
    """The square of ``image`` centred on the bounding box of ``points (N, 2)`` px, scaled so the
    box's larger side covers ``fill`` of it, resampled to ``(size, size, 3)`` (black outside the frame)."""
    import cv2

    p = np.asarray(points, np.float64)[:, :2]
    p = p[np.isfinite(p).all(1)]
    h, w = image.shape[:2]
    if len(p):
        lo, hi = p.min(0), p.max(0)
        centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2 / fill, 4.0)
    else:
        centre, half = np.array([w / 2, h / 2]), min(w, h) / 2
    k = size / (2 * half)
    M = np.array([[k, 0, -(centre[0] - half) * k], [0, k, -(centre[1] - half) * k]], np.float64)
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(np.ascontiguousarray(image[..., :3]), M, (size, size), flags=interp,
                          borderMode=cv2.BORDER_CONSTANT)


class FrontRenderer:
    """Renders front-facing meshes ``size x size``, each framed as if the camera were framed on its own template.

    A GL context and its shaders cost more than the render itself (about 0.6 s against 0.06 s
    in software GL), so one :class:`~emoface.render.renderer.MeshRenderer` per topology and size
    is kept for the life of this object (a build's back end keeps one per worker process). The
    renderer is framed on the first template it sees; a mesh of another subject is moved and
    scaled uniformly so that its template's bounding box lands on that one, which shows what a
    camera framed on its own template would.
    """

    def __init__(self) -> None:
        self._renderers: dict[tuple, tuple[object, np.ndarray]] = {}

    def render(self, vertices: np.ndarray, template: np.ndarray, faces: np.ndarray, size: int,
               face_groups: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """``vertices (V, 3)`` front-facing -> ``(size, size, 3) uint8``; :class:`RenderUnavailable` without GL."""
        from emoface.render.renderer import MeshRenderer, RenderConfig

        faces = np.asarray(faces)
        key = (int(size), faces.shape, hash(faces.tobytes()))
        template = np.asarray(template, np.float64)
        if key not in self._renderers:
            r = MeshRenderer(faces, template, RenderConfig(width=size, height=size), face_groups)
            self._renderers[key] = (r, template)
        r, framed = self._renderers[key]
        (c0, h0), (c1, h1) = _box(framed), _box(template)
        v = (np.asarray(vertices, np.float64) - c1) * (h0 / h1) + c0
        return r.render(v)  # type: ignore[attr-defined]

    def close(self) -> None:
        for r, _ in self._renderers.values():
            r.close()  # type: ignore[attr-defined]
        self._renderers.clear()

    def __enter__(self) -> FrontRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _box(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and largest half-side of the bounding box of ``points (V, 3)``."""
    lo, hi = points.min(0), points.max(0)
    return (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-9)


def render_front(vertices: np.ndarray, template: np.ndarray, faces: np.ndarray, size: int,
                 face_groups: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """``vertices (V, 3)`` front-facing, rendered ``(size, size, 3) uint8`` with the camera framed on ``template``.

    Raises :class:`emoface.render.gl.RenderUnavailable` when no offscreen OpenGL is available.
    """
    with FrontRenderer() as r:
        return r.render(vertices, template, faces, size, face_groups)


def pair_image(frame_crop: np.ndarray, render: np.ndarray, labels: tuple[str, str] | None = None) -> np.ndarray:
    """``(S, 2S, 3)``: the video crop beside the render (both ``(S, S, 3)``), optionally labelled."""
    from emoface.render.heatmap import hstack_panels, label_panel

    if frame_crop.shape != render.shape:
        raise ValueError(f"the video panel {frame_crop.shape} and the mesh panel {render.shape} differ in size")
    panels = [np.ascontiguousarray(frame_crop, np.uint8), np.ascontiguousarray(render, np.uint8)]
    if labels:
        panels = [_label(p, text) for p, text in zip(panels, labels)]
    return hstack_panels(panels)


def _label(img: np.ndarray, text: str) -> np.ndarray:
    """White text on a dark band along the bottom (readable on a video frame and on the render)."""
    import cv2

    out = np.ascontiguousarray(img.copy())
    h = out.shape[0]
    scale = max(h / 640.0, 0.38)
    band = int(round(22 * scale / 0.5))
    out[h - band:] = (0.45 * out[h - band:]).astype(np.uint8)
    cv2.putText(out, text, (int(6 * scale / 0.5), h - int(7 * scale / 0.5)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 1, cv2.LINE_AA)
    return out


def encode_jpeg(image: np.ndarray, quality: int = 88) -> bytes:
    """JPEG bytes of an RGB ``uint8`` image."""
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
