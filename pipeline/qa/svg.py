"""Small inline SVG line plots for the HTML report (no plotting library needed)."""

from __future__ import annotations

from html import escape

import numpy as np

__all__ = ["line_plot"]

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def _nice_max(v: float) -> float:
    if not np.isfinite(v) or v <= 0:
        return 1.0
    e = 10 ** np.floor(np.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * e:
            return float(m * e)
    return float(10 * e)


def line_plot(series: dict[str, np.ndarray], fps: float, title: str, unit: str, width: int = 320, height: int = 110,
              threshold: float | None = None, max_points: int = 240) -> str:
    """An ``<svg>`` plotting each named series ``(T,)`` against time (s); NaNs leave gaps.

    ``threshold`` draws a dashed horizontal line (e.g. a QA flag threshold).
    """
    left, right, top, bottom = 38, 8, 16, 18
    pw, ph = width - left - right, height - top - bottom
    vals = [np.asarray(v, np.float64) for v in series.values() if len(v)]
    finite = np.concatenate([v[np.isfinite(v)] for v in vals]) if vals else np.zeros(0)
    lo = min(0.0, float(finite.min())) if len(finite) else 0.0
    hi_data = float(finite.max()) if len(finite) else 1.0
    hi = _nice_max(max(hi_data, threshold or 0.0) - lo) + lo
    n = max((len(v) for v in vals), default=1)
    dur = max(n - 1, 1) / fps

    def xy(i: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = left + pw * (i / fps) / dur
        y = top + ph * (1 - (v - lo) / (hi - lo if hi > lo else 1.0))
        return x, y

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" class="plot" role="img">',
           f'<title>{escape(title)}</title>',
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ccc"/>',
           f'<text x="{left}" y="11" font-size="10">{escape(title)} ({escape(unit)})</text>']
    for frac in (0.0, 0.5, 1.0):
        val = lo + frac * (hi - lo)
        y = top + ph * (1 - frac)
        out.append(f'<text x="{left - 3}" y="{y + 3:.1f}" font-size="9" text-anchor="end">{val:.3g}</text>')
    out.append(f'<text x="{left}" y="{height - 4}" font-size="9">0</text>')
    out.append(f'<text x="{left + pw}" y="{height - 4}" font-size="9" text-anchor="end">{dur:.1f} s</text>')
    if threshold is not None and lo <= threshold <= hi:
        _, ty = xy(np.zeros(1), np.array([threshold]))
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{ty[0]:.1f}" y2="{ty[0]:.1f}" stroke="#999" '
                   'stroke-dasharray="4,3"/>')
    legend_x = left + 4
    for k, (name, v) in enumerate(series.items()):
        v = np.asarray(v, np.float64)
        colour = COLOURS[k % len(COLOURS)]
        step = max(1, int(np.ceil(len(v) / max_points)))
        idx = np.arange(0, len(v), step)
        x, y = xy(idx.astype(np.float64), v[idx])
        ok = np.isfinite(y)
        # one polyline per run of finite values
        runs, cur = [], []
        for xi, yi, good in zip(x, y, ok):
            if good:
                cur.append(f"{xi:.1f},{yi:.1f}")
            elif cur:
                runs.append(cur)
                cur = []
        if cur:
            runs.append(cur)
        for r in runs:
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.2" points="{" ".join(r)}"/>')
        out.append(f'<text x="{legend_x}" y="{top + 10}" font-size="9" fill="{colour}">{escape(name)}</text>')
        legend_x += 7 * len(name) + 12
    out.append("</svg>")
    return "".join(out)
