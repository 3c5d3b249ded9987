"""Per-vertex error colours and panel composition (labels, colour bar) for comparison renders."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["error_colors", "vertex_error_mm", "label_panel", "colorbar_panel", "hstack_panels"]

# A perceptually ordered ramp (dark blue -> blue -> cyan -> yellow -> red), piecewise linear.
_STOPS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_COLORS = np.array(
    [
        [0.10, 0.15, 0.45],
        [0.15, 0.45, 0.85],
        [0.35, 0.80, 0.80],
        [0.95, 0.85, 0.30],
        [0.85, 0.15, 0.10],
    ]
)


def vertex_error_mm(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-vertex Euclidean distance in millimetres. pred, gt (..., V, 3) metres -> (..., V)."""
    return np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=-1) * 1000.0


def error_colors(error: np.ndarray, vmax: float) -> np.ndarray:
    """Map errors (V,) in [0, vmax] (clipped) to RGB colours (V,3) in [0,1]."""
    x = np.clip(np.asarray(error, np.float64) / max(float(vmax), 1e-12), 0.0, 1.0)
    return np.stack([np.interp(x, _STOPS, _COLORS[:, c]) for c in range(3)], axis=-1).astype(np.float32)


def label_panel(img: np.ndarray, text: str) -> np.ndarray:
    """Write ``text`` at the top-left of an (H,W,3) uint8 image (a copy)."""
    import cv2

    out = np.ascontiguousarray(img.copy())
    scale = max(out.shape[0] / 900.0, 0.35)
    cv2.putText(out, text, (int(8 * scale / 0.5), int(24 * scale / 0.5)), cv2.FONT_HERSHEY_SIMPLEX, scale, (30, 30, 30), 1, cv2.LINE_AA)
    return out


def colorbar_panel(img: np.ndarray, vmax_mm: float) -> np.ndarray:
    """Draw a horizontal colour bar from 0 to ``vmax_mm`` along the bottom of an (H,W,3) image."""
    import cv2

    out = np.ascontiguousarray(img.copy())
    h, w = out.shape[:2]
    bar_h = max(h // 40, 4)
    x0, x1 = w // 8, w - w // 8
    y0 = h - 3 * bar_h
    ramp = (error_colors(np.linspace(0, 1, x1 - x0), 1.0) * 255).astype(np.uint8)
    out[y0 : y0 + bar_h, x0:x1] = ramp[None]
    scale = max(h / 1400.0, 0.3)
    for x, txt in ((x0, "0"), (x1 - int(60 * scale / 0.35), f"{vmax_mm:g} mm")):
        cv2.putText(out, txt, (x, y0 - 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (30, 30, 30), 1, cv2.LINE_AA)
    return out


def hstack_panels(panels: Sequence[np.ndarray]) -> np.ndarray:
    """Side-by-side (H, sum W, 3) image from panels of equal height."""
    return np.concatenate(list(panels), axis=1)
