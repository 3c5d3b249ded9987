"""The build's QA report: ``qa/report.json`` and ``qa/report.html`` (+ ``qa/thumbs/*.png``, ``qa/pairs/*.jpg``).

The HTML page needs nothing but a browser: inline CSS, a sortable table in plain
JavaScript, inline SVG plots of the per-frame errors, per-clip thumbnails (PNG files
beside the page) with the detected landmarks and the fitted mesh drawn over the frame, and
per-clip pictures (JPEG, click to enlarge) of the most expressive video frame beside the
fitted front-facing mesh. Failed clips and skipped inputs are listed with their reasons.
"""

from __future__ import annotations

import datetime as _dt
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from emoface.utils.atomic import atomic_write, write_bytes_atomic, write_json_atomic
from emoface.utils.config import to_dict

from .clip import _clean, qa_config
from .config import QAConfig
from .emotion import (FEATURE_KEYS, ClipFeatures, corpus_recognisability, measures_html, offset_summary, region_masks,
                      static_split)
from .overlay import encode_png
from .svg import line_plot

__all__ = ["write_report", "summarize", "read_arrays"]


def read_arrays(path: str | Path | None) -> dict[str, np.ndarray]:
    """The ``arrays/<name>`` entries of a clip's ``work/qa/<clip_id>.npz`` (empty if unreadable)."""
    if not path or not Path(path).is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k[len("arrays/"):]: z[k] for k in z.files if k.startswith("arrays/")}
    except (OSError, ValueError):
        return {}


def _get(d: dict, *keys: str):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _stats(values: list[float | None]) -> dict[str, float | None]:
    v = np.array([x for x in values if x is not None and np.isfinite(x)], np.float64)
    if not len(v):
        return {"n": 0, "mean": None, "median": None, "max": None}
    return {"n": int(len(v)), "mean": float(v.mean()), "median": float(np.median(v)), "max": float(v.max())}


def summarize(rows: list[dict], failures: list[dict], skipped: list[dict]) -> dict[str, Any]:
    """Counts and metric statistics over the clips (frame-weighted means for ground-truth errors)."""
    qa = [r.get("qa") or {} for r in rows]
    metrics = [q.get("metrics") or {} for q in qa]
    out: dict[str, Any] = {
        "clips": len(rows), "flagged": sum(1 for q in qa if q.get("flags")), "failed": len(failures),
        "skipped": len(skipped), "frames": int(sum(m.get("n_frames") or 0 for m in metrics)),
    }
    notes = sorted({str(m["detector_note"]) for m in metrics if m.get("detector_note")})
    if notes:
        out["notes"] = notes
    for key in ("detection_rate", "reprojection_iod", "reprojection_px", "jitter_mm", "raw_jitter_mm", "av_mismatch_s"):
        out[key] = _stats([m.get(key) for m in metrics])
    gts = [(m.get("ground_truth") or {}, m.get("n_frames") or 0) for m in metrics]
    gts = [(g, n) for g, n in gts if g]
    if gts:
        gsum: dict[str, Any] = {"clips": len(gts)}
        for region in ("face", "lips", "eye_region"):
            pairs = [(_get(g, "vertex_error_mm", region), g.get("frames_compared", n)) for g, n in gts]
            pairs = [(v, n) for v, n in pairs if v is not None]
            if pairs:
                w = np.array([n for _, n in pairs], np.float64)
                gsum[f"vertex_error_mm_{region}"] = float(np.average([v for v, _ in pairs], weights=w))
        for key in ("vertex_error_aligned_mm", "mouth_correlation", "mouth_error_mm", "landmark_error_iod",
                    "detector_error_iod"):
            gsum[key] = _stats([g.get(key) for g, _ in gts])
        offsets = offset_summary(metrics)
        if offsets:
            gsum["offset_error_mm"] = offsets
        out["ground_truth"] = gsum
    return out


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.2em;color:#222}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:1.4em}
table{border-collapse:collapse;font-size:12px}
th,td{border:1px solid #ddd;padding:3px 5px;vertical-align:middle}
th{background:#f0f0f0;cursor:pointer;position:sticky;top:0;user-select:none}
th.asc::after{content:" \\25B2"} th.desc::after{content:" \\25BC"}
tr.flagged td{background:#fff4e5} td.num{text-align:right;font-variant-numeric:tabular-nums}
td.flags{color:#b35900;max-width:18em} .ok{color:#2a7a2a}
.summary td{font-size:13px} img.thumb{width:160px;height:160px;display:block}
img.pair{width:320px;height:160px;display:block}
.plots svg{display:block;margin:1px 0} .note{color:#555;font-size:12px}
"""

_JS = """
document.querySelectorAll('table.sortable').forEach(function(table){
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function(th, col){
    th.addEventListener('click', function(){
      var asc = !th.classList.contains('asc');
      Array.prototype.forEach.call(heads, function(h){h.classList.remove('asc','desc');});
      th.classList.add(asc ? 'asc' : 'desc');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function(a, b){
        var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
        var nx = parseFloat(x), ny = parseFloat(y);
        var cmp;
        if (!isNaN(nx) && !isNaN(ny)) cmp = nx - ny;
        else if (isNaN(nx) && !isNaN(ny)) cmp = 1;
        else if (!isNaN(nx) && isNaN(ny)) cmp = -1;
        else cmp = String(x).localeCompare(String(y));
        return asc ? cmp : -cmp;
      });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
});
"""


def _num(v: Any, fmt: str = "{:.3f}", scale: float = 1.0) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return '<td class="num" data-v="">-</td>'
    return f'<td class="num" data-v="{float(v) * scale:.6g}">{fmt.format(float(v) * scale)}</td>'


def _text(v: Any) -> str:
    s = "" if v is None else str(v)
    return f'<td data-v="{escape(s)}">{escape(s)}</td>'


def _emotion(v: Any) -> str:
    from emoface.data.ravdess import EMOTIONS

    try:
        k = int(v)
        return EMOTIONS[k - 1] if 1 <= k <= len(EMOTIONS) else str(v)
    except (TypeError, ValueError):
        return "" if v is None else str(v)


def _plots(arrays: dict[str, np.ndarray], fps: float, cfg: QAConfig) -> str:
    parts = []
    rep = {k: arrays[k] for k, name in (("reprojection_iod", "smoothed"), ("raw_reprojection_iod", "raw")) if k in arrays}
    if rep:
        named = {("fit" if k == "reprojection_iod" else "raw fit"): v for k, v in rep.items()}
        parts.append(line_plot(named, fps, "reprojection error", "% IOD", threshold=100 * cfg.max_reprojection_iod,
                               max_points=cfg.plot_points))
    if "gt_vertex_error_mm" in arrays:
        parts.append(line_plot({"vertex error": arrays["gt_vertex_error_mm"]}, fps, "error vs ground truth", "mm",
                               threshold=cfg.max_vertex_error_mm, max_points=cfg.plot_points))
    mouth = {n: arrays[k] for k, n in (("mouth_fit_mm", "fit"), ("mouth_gt_mm", "truth")) if k in arrays}
    if mouth:
        parts.append(line_plot(mouth, fps, "mouth opening", "mm", max_points=cfg.plot_points))
    return "".join(parts)


def write_report(out_dir: str | Path, clips: list[dict[str, Any]], failures: list[dict[str, Any]] | None = None,
                 skipped: list[dict[str, Any]] | None = None, cfg: QAConfig | dict | None = None,
                 work: str | Path | None = None, title: str = "EmoFace-3D build: quality report") -> list[Path]:
    """Write ``out_dir/report.json``, ``out_dir/report.html``, ``out_dir/thumbs/<clip>.png`` and
    ``out_dir/pairs/<clip>.jpg`` (the most expressive frame beside its mesh, where the QA made one).

    ``clips``: one dict per clip with ``clip_id``, ``subject`` (and optionally ``emotion``,
    ``intensity``, ``statement``, ``repetition``), ``qa`` (what :func:`clip_qa` returned,
    without arrays) and ``artefact`` (the clip's ``work/qa`` npz holding the arrays) or
    ``arrays`` directly. ``failures``: ``{clip_id, subject, stage, reason}``; ``skipped``:
    ``{path, reason, kind}``. Returns the two report paths.
    """
    qc = qa_config(cfg)
    out_dir = Path(out_dir)
    failures = list(failures or [])
    skipped = list(skipped or [])
    rows = sorted(clips, key=lambda r: str(r.get("clip_id")))
    summary = summarize(rows, failures, skipped)
    thumbs = out_dir / "thumbs"
    pictures: dict[str, str] = {}
    has_gt = "ground_truth" in summary
    features = ClipFeatures()
    oracle_feats: list[np.ndarray | None] = []  # the oracle's fitted feature of each clip in ``features``
    body = []
    for r in rows:
        cid = str(r.get("clip_id"))
        q = r.get("qa") or {}
        m = q.get("metrics") or {}
        g = m.get("ground_truth") or {}
        flags = q.get("flags") or []
        arrays = r.get("arrays") or read_arrays(r.get("artefact"))
        if features.add(arrays, r.get("emotion"), r.get("subject"), g.get("photo")):
            o = (_get(r, "oracle", "arrays") or {}).get(FEATURE_KEYS["fitted"])
            oracle_feats.append(None if o is None else np.asarray(o, np.float64).reshape(-1))
        img = ""
        if "overlay" in arrays:
            name = f"{cid}.png"
            write_bytes_atomic(thumbs / name, encode_png(np.asarray(arrays["overlay"], np.uint8)))
            img = f'<img class="thumb" src="thumbs/{escape(name)}" alt="{escape(cid)}" loading="lazy">'
        pair = ""
        if "expressive_pair" in arrays:
            pictures[cid] = f"pairs/{cid}.jpg"
            write_bytes_atomic(out_dir / pictures[cid], np.asarray(arrays["expressive_pair"], np.uint8).tobytes())
            pair = (f'<a href="{escape(pictures[cid])}" target="_blank"><img class="pair" src="{escape(pictures[cid])}" '
                    f'alt="{escape(cid)}: most expressive frame and fitted mesh" loading="lazy"></a>')
        ex = m.get("expressive_frame") or {}
        if ex.get("note"):
            pair += f'<span class="note">{escape(str(ex["note"]))}</span>'
        cells = [f"<td>{img}</td>", f'<td data-v="{_get(ex, "offset_mm") or ""}">{pair}</td>', _text(cid), _text(r.get("subject")), _text(_emotion(r.get("emotion"))),
                 _text(r.get("intensity")), _num(m.get("n_frames"), "{:.0f}"),
                 _num(m.get("detection_rate"), "{:.1f}", 100.0), _num(m.get("reprojection_iod"), "{:.2f}", 100.0),
                 _num(m.get("reprojection_px"), "{:.2f}"), _num(m.get("jitter_mm"), "{:.3f}"),
                 _num(m.get("raw_jitter_mm"), "{:.3f}"), _num(m.get("av_mismatch_s"), "{:+.3f}"),
                 _num(ex.get("offset_mm"), "{:.2f}")]
        if has_gt:
            ve = g.get("vertex_error_mm") or {}
            cells += [_num(ve.get("face"), "{:.2f}"), _num(ve.get("lips"), "{:.2f}"), _num(ve.get("eye_region"), "{:.2f}"),
                      _num(g.get("vertex_error_aligned_mm"), "{:.2f}"), _num(g.get("mouth_correlation"), "{:.3f}"),
                      _num(g.get("landmark_error_iod"), "{:.2f}", 100.0)]
            oe = g.get("offset_error_mm") or {}
            cells += [_num(_get(oe, region, key), "{:.2f}") for region in ("face", "lips", "eye_region")
                      for key in ("static", "dynamic")]
        fl = "; ".join(flags)
        cells.append(f'<td class="flags" data-v="{len(flags)}">{escape(fl) if fl else "<span class=ok>ok</span>"}</td>')
        cells.append(f'<td class="plots">{_plots(arrays, float(m.get("fps") or 30.0), qc)}</td>')
        body.append(f'<tr class="{"flagged" if flags else ""}">{"".join(cells)}</tr>')
    heads = ["frame", "most expressive frame | fitted mesh", "clip", "subject", "emotion", "intensity", "frames",
             "detected %", "reproj. % IOD", "reproj. px", "jitter mm/f²", "raw jitter", "A/V Δ s", "max offset mm"]
    if has_gt:
        heads += ["GT face mm", "GT lips mm", "GT eyes mm", "GT aligned mm", "GT mouth r", "GT lmk % IOD",
                  "face static mm", "face dynamic mm", "lips static mm", "lips dynamic mm", "eyes static mm",
                  "eyes dynamic mm"]
    heads += ["flags", "per frame"]
    oracle = _oracle_summary(rows, summary, oracle_feats)
    complete = bool(oracle_feats) and all(f is not None for f in oracle_feats)
    extra = {"oracle": oracle_feats} if oracle and complete else None
    recog = corpus_recognisability(features, extra)
    if recog:
        summary["recognisability"] = recog
    masks = region_masks(features.regions)
    split = static_split(features, masks, extra) if masks else None
    if split:
        summary["static_split"] = split
    doc = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>",
           f"<style>{_CSS}</style></head><body>", f"<h1>{escape(title)}</h1>",
           (f'<p class="note">Generated {escape(_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))}. '
            "Errors as % of the inter-ocular distance (IOD, outer eye corners). Jitter: mean vertex acceleration of the "
            "front-facing mesh. Thumbnails: detected landmarks (green) and the fitted mesh (cyan). Most expressive frame: "
            "the video frame whose front-facing mesh lies farthest from the subject's template (max offset: mean "
            "vertex distance), beside that mesh rendered from the front; click it to enlarge. Click a column to sort.</p>"),
           *(f'<p class="note"><strong>Note:</strong> {escape(n)}</p>' for n in summary.get("notes", [])),
           _summary_html(summary, qc),
           measures_html(_get(summary, "ground_truth", "offset_error_mm"), summary.get("recognisability"),
                         summary.get("static_split"), _get(summary, "ground_truth", "oracle"))]
    doc.append(f"<h2>Clips ({len(rows)})</h2>")
    doc.append('<table class="sortable"><thead><tr>' + "".join(f"<th>{escape(h)}</th>" for h in heads)
               + "</tr></thead><tbody>" + "".join(body) + "</tbody></table>")
    doc.append(_failures_html(failures, skipped))
    doc.append(f"<script>{_JS}</script></body></html>")
    report = {
        "title": title, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "thresholds": to_dict(qc), "summary": summary,
        "clips": [{**{k: v for k, v in r.items() if k not in ("arrays", "artefact", "decode", "oracle")},
                   **({"oracle": _oracle_row(r["oracle"])} if r.get("oracle") else {}),
                   **({"picture": pictures[str(r.get("clip_id"))]} if str(r.get("clip_id")) in pictures else {})}
                  for r in rows],
        "failures": failures, "skipped": skipped,
    }
    json_path, html_path = out_dir / "report.json", out_dir / "report.html"
    write_json_atomic(json_path, _clean(report))
    with atomic_write(html_path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(doc))
    del work  # the arrays are found through each row's artefact path
    return [json_path, html_path]


def _oracle_row(o: dict) -> dict:
    """What report.json keeps of a clip's oracle: its metrics against the truth, or why there is none."""
    return {"error": o["error"]} if "error" in o else {"ground_truth": _get(o, "qa", "metrics", "ground_truth") or {}}


def _oracle_summary(rows: list[dict], summary: dict, feats: list[np.ndarray | None]) -> dict | None:
    """``summary["ground_truth"]["oracle"]`` when any row has an oracle: the oracle's offsets, mouth r and clip
    count, the actors whose oracle failed, and a note when some clips with expression features lack the
    oracle's (recognisability and the static split score the oracle only with the same clips and folds)."""
    have = [r["oracle"] for r in rows if r.get("oracle")]
    if not have or "ground_truth" not in summary:
        return None
    metrics = [_get(o, "qa", "metrics") or {} for o in have if "error" not in o]
    noise = sorted({float(o["noise_px"]) for o in have if o.get("noise_px") is not None})
    out: dict[str, Any] = {"clips": len(metrics), "noise_px": noise[0] if len(noise) == 1 else None}
    offsets = offset_summary(metrics)
    if offsets:
        out["offset_error_mm"] = offsets
    out["mouth_correlation"] = _stats([_get(m, "ground_truth", "mouth_correlation") for m in metrics])
    errors = sorted({str(o["error"]) for o in have if "error" in o})
    if errors:
        out["errors"] = errors
    missing = sum(f is None for f in feats)
    if missing:
        out["note"] = (f"{missing} of {len(feats)} clips have no oracle features: the oracle's recognisability "
                       "and static split are not shown")
    summary["ground_truth"]["oracle"] = out
    return out


def _summary_html(s: dict, cfg: QAConfig) -> str:
    def st(key: str, scale: float = 1.0, fmt: str = "{:.3f}") -> str:
        v = s.get(key) or {}
        if not v.get("n"):
            return "-"
        return f"mean {fmt.format(v['mean'] * scale)}, median {fmt.format(v['median'] * scale)}, max {fmt.format(v['max'] * scale)}"

    rows = [("clips", s["clips"]), ("frames", s["frames"]), ("flagged", s["flagged"]), ("failed", s["failed"]),
            ("skipped inputs", s["skipped"]), ("detection %", st("detection_rate", 100, "{:.1f}")),
            ("median reprojection % IOD", st("reprojection_iod", 100, "{:.2f}")),
            ("jitter mm/frame² (smoothed)", st("jitter_mm")), ("jitter mm/frame² (before smoothing)", st("raw_jitter_mm")),
            ("A/V length mismatch s", st("av_mismatch_s"))]
    g = s.get("ground_truth")
    if g:
        for region in ("face", "lips", "eye_region"):
            v = g.get(f"vertex_error_mm_{region}")
            rows.append((f"GT vertex error mm ({region})", "-" if v is None else f"{v:.2f}"))
        gs = lambda k, sc=1.0, f="{:.3f}": (  # noqa: E731
            "-" if not (g.get(k) or {}).get("n") else f"mean {f.format(g[k]['mean'] * sc)}, median {f.format(g[k]['median'] * sc)}")
        rows += [("GT vertex error after similarity alignment mm", gs("vertex_error_aligned_mm", 1, "{:.2f}")),
                 ("GT mouth-opening r", gs("mouth_correlation")),
                 ("GT landmark error % IOD (fit)", gs("landmark_error_iod", 100, "{:.2f}")),
                 ("GT landmark error % IOD (detector)", gs("detector_error_iod", 100, "{:.2f}"))]
    trs = "".join(f"<tr><td>{escape(str(k))}</td><td>{escape(str(v))}</td></tr>" for k, v in rows)
    th = (f"thresholds: detection ≥ {cfg.min_detection_rate:.0%}, reprojection ≤ {cfg.max_reprojection_iod:.1%} IOD, "
          f"jitter ≤ {cfg.max_jitter_mm} mm/frame², |A/V| ≤ {cfg.max_av_mismatch_s} s, GT vertex error ≤ "
          f"{cfg.max_vertex_error_mm} mm, GT mouth r ≥ {cfg.min_mouth_correlation}")
    return f'<h2>Summary</h2><table class="summary">{trs}</table><p class="note">{escape(th)}</p>'


def _failures_html(failures: list[dict], skipped: list[dict]) -> str:
    out = [f"<h2>Failed clips ({len(failures)})</h2>"]
    if failures:
        out.append('<table class="sortable"><thead><tr><th>clip</th><th>subject</th><th>stage</th><th>reason</th></tr>'
                   "</thead><tbody>")
        for f in failures:
            out.append("<tr>" + _text(f.get("clip_id") or "-") + _text(f.get("subject") or "-") + _text(f.get("stage"))
                       + _text(f.get("reason")) + "</tr>")
        out.append("</tbody></table>")
    else:
        out.append("<p>none</p>")
    out.append(f"<h2>Skipped inputs ({len(skipped)})</h2>")
    if skipped:
        out.append('<table class="sortable"><thead><tr><th>path</th><th>kind</th><th>reason</th></tr></thead><tbody>')
        for s in skipped:
            out.append("<tr>" + _text(s.get("path")) + _text(s.get("kind")) + _text(s.get("reason")) + "</tr>")
        out.append("</tbody></table>")
    else:
        out.append("<p>none</p>")
    return "".join(out)

