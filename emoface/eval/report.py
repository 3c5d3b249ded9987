"""Evaluation reports: a JSON summary and Markdown tables in the shape of EmoFace's Table 2.

For every method: LVE, EVE (1e-5 m^2) and FDD (1e-7 m^2) over all frames of the split, as the
mean over the training-speaker conditions with their spread (std, min, max; paper §4.1), then
the same broken down per emotion and per intensity. With a truth corpus (``--truth``) the main
table also has "LVE vs truth" and "EVE vs truth" (offsets against the generated corpus's true
offsets, :mod:`emoface.eval.truth`; the JSON has them per emotion and intensity too). When the
evaluation had an emotion probe (:mod:`emoface.eval.emotion_accuracy`), also each method's
emotion accuracy, with the ceiling (the probe on the test meshes themselves) and chance beside
it. The paper's own Table 2 is appended as a clearly separate reference (its data differ from
any data this project builds).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from emoface.data.ravdess import EMOTIONS, INTENSITIES
from emoface.eval.emotion_accuracy import accuracy_summary
from emoface.eval.methods import EvalResult, MethodResult
from emoface.metrics import FDD_REPORT_SCALE, REPORT_SCALE, ClipMetrics, aggregate
from emoface.utils.atomic import atomic_write, write_json_atomic

__all__ = ["summarize", "render_markdown", "write_report", "PAPER_TABLE2"]

METRICS = ("lve", "eve", "fdd")
TRUTH_METRICS = ("lve_truth", "eve_truth")  # present only with --truth (emoface.eval.truth)

#: EmoFace v3 Table 2 (x1e-5; paper Table 2), for reference only.
PAPER_TABLE2: dict[str, dict[str, float | None]] = {
    "VOCA": {"vocaset_lve": 4.9245, "vocaset_eve": None, "ravdess_lve": None, "ravdess_eve": None},
    "MeshTalk": {"vocaset_lve": 4.5441, "vocaset_eve": None, "ravdess_lve": None, "ravdess_eve": None},
    "FaceFormer": {"vocaset_lve": 4.1090, "vocaset_eve": 0.4858, "ravdess_lve": 5.8462, "ravdess_eve": 1.4149},
    "CodeTalker": {"vocaset_lve": 3.9445, "vocaset_eve": 0.5074, "ravdess_lve": 15.6160, "ravdess_eve": 3.4675},
    "EmoTalk": {"vocaset_lve": 3.7798, "vocaset_eve": 0.4862, "ravdess_lve": 6.6076, "ravdess_eve": 1.5994},
    "SelfTalk": {"vocaset_lve": 3.2238, "vocaset_eve": 0.4562, "ravdess_lve": 6.2560, "ravdess_eve": 1.5685},
    "TalkingStyle": {"vocaset_lve": 3.5245, "vocaset_eve": 0.4686, "ravdess_lve": 5.9737, "ravdess_eve": 1.4471},
    "EmoFace (paper)": {"vocaset_lve": 2.8669, "vocaset_eve": 0.4664, "ravdess_lve": 4.8863, "ravdess_eve": 0.9509},
}


def _stats(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()), "max": float(a.max())}


def _over_conditions(clips: Iterable[ClipMetrics]) -> dict:
    """Aggregate per condition, then mean/std/min/max over conditions."""
    by_cond: dict[str, list[ClipMetrics]] = defaultdict(list)
    for c in clips:
        by_cond[c.condition].append(c)
    per = {cond: aggregate(cs) for cond, cs in sorted(by_cond.items())}
    first = next(iter(per.values()))
    out = {k: _stats([getattr(a, k) for a in per.values()]) for k in METRICS}
    for k in TRUTH_METRICS:
        if all(getattr(a, k) is not None for a in per.values()):
            out[k] = _stats([getattr(a, k) for a in per.values()])
    out.update(n_conditions=len(per), n_clips=first.n_clips, n_frames=first.n_frames)
    return out


def _group(clips: list[ClipMetrics], key: Callable[[ClipMetrics], str]) -> dict[str, dict]:
    groups: dict[str, list[ClipMetrics]] = defaultdict(list)
    for c in clips:
        groups[key(c)].append(c)
    return {k: _over_conditions(v) for k, v in groups.items()}


def _method_summary(m: MethodResult) -> dict:
    by_cond: dict[str, list[ClipMetrics]] = defaultdict(list)
    for c in m.clips:
        by_cond[c.condition].append(c)
    emo = _group(m.clips, lambda c: EMOTIONS[c.emotion] if 0 <= c.emotion < len(EMOTIONS) else str(c.emotion))
    inten = _group(m.clips, lambda c: INTENSITIES[c.intensity] if 0 <= c.intensity < len(INTENSITIES) else str(c.intensity))
    order = {n: i for i, n in enumerate(EMOTIONS)}
    return {
        "name": m.name,
        "description": m.description,
        **m.extra,
        "overall": _over_conditions(m.clips),
        "per_condition": {k: aggregate(v).to_dict() for k, v in sorted(by_cond.items())},
        "per_emotion": dict(sorted(emo.items(), key=lambda kv: order.get(kv[0], 99))),
        "per_intensity": dict(sorted(inten.items(), key=lambda kv: INTENSITIES.index(kv[0]) if kv[0] in INTENSITIES else 99)),
        **({"emotion_accuracy": _named_emotions(accuracy_summary(m.emotion_calls))} if m.emotion_calls else {}),
    }


def _named_emotions(acc: dict | None) -> dict | None:
    """``per_emotion`` keyed by the RAVDESS names instead of class indices."""
    if acc is not None:
        acc["per_emotion"] = {EMOTIONS[e] if 0 <= e < len(EMOTIONS) else str(e): v for e, v in acc["per_emotion"].items()}
    return acc


def _emotion_reference(result: EvalResult) -> dict | None:
    """The probe, its ceiling on the test meshes and chance; None when the evaluation had no probe."""
    if result.emotion_probe is None:
        return None
    return {**result.emotion_probe, "ceiling": _named_emotions(accuracy_summary(result.emotion_ceiling))}


def summarize(result: EvalResult, include_clips: bool = True) -> dict:
    """A JSON-ready summary of an :class:`EvalResult` (see the module docstring)."""
    return {
        "split": str(result.split_path),
        "data": {
            "model": result.data_attrs.get("model"),
            "topology": result.data_attrs.get("topology"),
            "n_vertices": result.data_attrs.get("n_vertices"),
            "n_clips": result.n_clips,
            "n_frames": result.n_frames,
        },
        "units": {
            "lve": f"{REPORT_SCALE:g} m^2: mean over all frames of the max squared L2 error over the lip vertices",
            "eve": f"{REPORT_SCALE:g} m^2: the same over eye-region and forehead vertices",
            "fdd": f"{FDD_REPORT_SCALE:g} m^2: mean over clips of dyn(gt) - dyn(pred), CodeTalker's upper-face dynamics deviation",
            "spread": "mean/std (population)/min/max over the training-speaker conditions",
            "emotion_accuracy": "fraction of test clips whose motion a nearest-centroid classifier fitted on train.h5 gives "
                                "the clip's emotion (docs/evaluation.md)",
            **({"lve_truth": f"{REPORT_SCALE:g} m^2: the LVE recipe on offsets, prediction - the split's template against "
                             "true vertices - true template (the generated corpus's ground truth)",
                "eve_truth": f"{REPORT_SCALE:g} m^2: the same over eye-region and forehead vertices"}
               if result.truth is not None else {}),
        },
        "truth": result.truth,
        "regions": {
            "lve": {"names": result.regions.source.get("lve"), "n_vertices": int(result.regions.lips.size)},
            "eve": {"names": result.regions.source.get("eve"), "n_vertices": int(result.regions.emotion.size)},
            "fdd": {"names": result.regions.source.get("fdd"), "n_vertices": int(result.regions.upper.size)},
        },
        "speakers": result.speakers,
        "emotion_accuracy": _emotion_reference(result),
        "methods": [
            {**_method_summary(m),
             **({"clips": [c.to_dict() for c in m.clips]} if include_clips else {}),
             **({"emotion_calls": [c.to_dict() for c in m.emotion_calls]} if include_clips and m.emotion_calls else {})}
            for m in result.methods
        ],
        "paper_table2_reference": PAPER_TABLE2,
    }


def _pm(s: dict, digits: int = 4) -> str:
    return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"


def _conditions_line(summary: dict) -> str:
    """'all 4 training speakers', or '2 of the 4 training speakers (s0, s3)' for a subset."""
    speakers = summary["speakers"]
    used = sorted({c for m in summary["methods"] for c in m.get("per_condition", {}) if c != "-"}, key=speakers.index)
    if len(used) == len(speakers):
        return f"all {len(speakers)} training speakers"
    return f"{len(used)} of the {len(speakers)} training speakers ({', '.join(used)})"


def render_markdown(summary: dict) -> str:
    """Markdown tables: the main table (Table 2 shape), per emotion, per intensity, reference."""
    d = summary["data"]
    methods = summary["methods"]
    lines = [
        f"# Evaluation on `{summary['split']}`",
        "",
        f"{d['n_clips']} clips, {d['n_frames']} frames; data model `{d['model']}`, topology `{d['topology']}` "
        f"(V={d['n_vertices']}). Conditions: {_conditions_line(summary)}.",
        "",
        "LVE and EVE in 1e-5 m² (squared metres; max over the region's vertices per frame, mean over all "
        "frames; paper §4.2), FDD in 1e-7 m² (signed; > 0 = less upper-face motion than the ground truth). "
        "Values are the mean ± std over the training-speaker conditions. "
        f"Regions: LVE {'+'.join(summary['regions']['lve']['names'])} ({summary['regions']['lve']['n_vertices']} vertices), "
        f"EVE {'+'.join(summary['regions']['eve']['names'])} ({summary['regions']['eve']['n_vertices']}), "
        f"FDD {'+'.join(summary['regions']['fdd']['names'])} ({summary['regions']['fdd']['n_vertices']}).",
        "",
        "## Main table (shape of EmoFace Table 2)",
        "",
    ]
    truth = any("lve_truth" in m["overall"] for m in methods)
    if truth:
        lines += [f"LVE and EVE vs truth: the same recipe against the true meshes of the generated corpus `{summary.get('truth')}`, "
                  "on offsets from each side's own neutral face (prediction - the split's template; true vertices - the true "
                  "template), so the fitted identity's error does not count. \"template only\" is no motion at all; "
                  "\"fitted data\" is the split's own meshes, i.e. how far the training targets are from the truth.", ""]
    emo = summary.get("emotion_accuracy")
    if emo is not None:
        ceiling = emo["ceiling"]["accuracy"]["mean"] if emo.get("ceiling") else float("nan")
        lines += [f"Emotion acc.: fraction of test clips whose generated motion a nearest-centroid classifier "
                  f"({len(emo['classes'])} emotions, clip-mean offsets over {'+'.join(emo['regions'])}) fitted on "
                  f"{emo['n_train_clips']} clips of `{Path(emo['train_split']).name}` gives the clip's emotion. "
                  f"Ceiling (the test meshes themselves): **{ceiling:.3f}**; chance {emo['chance']:.3f}.", ""]
    head = ("| Method | LVE ↓ | EVE ↓ | FDD |" + (" LVE vs truth ↓ | EVE vs truth ↓ |" if truth else "")
            + (" emotion acc. ↑ |" if emo is not None else "") + " conditions | description |")
    lines += [head, "|---" * (head.count("|") - 1) + "|"]
    for m in methods:
        o = m["overall"]
        cells = [_pm(o["lve"]), _pm(o["eve"]), _pm(o["fdd"], 3)]
        if truth:
            cells += [_pm(o[k]) if k in o else "–" for k in TRUTH_METRICS]
        if emo is not None:
            cells.append(_pm(m["emotion_accuracy"]["accuracy"], 3) if m.get("emotion_accuracy") else "–")
        lines.append(f"| {m['name']} | " + " | ".join(cells) + f" | {o['n_conditions']} | {m['description']} |")
    if emo is not None and emo.get("ceiling"):
        lines.append("| test meshes (emotion ceiling) | – | – | – |" + (" – | – |" if truth else "")
                     + f" {emo['ceiling']['accuracy']['mean']:.3f} | – | the probe on the ground truth |")
    for title, key in (("Per emotion", "per_emotion"), ("Per intensity", "per_intensity")):
        groups = list(dict.fromkeys(g for m in methods for g in m[key]))
        for metric in ("lve", "eve"):
            lines += ["", f"## {title}: {metric.upper()} (1e-5 m²)", ""]
            lines.append("| " + key.split("_")[1] + " | " + " | ".join(m["name"] for m in methods) + " |")
            lines.append("|---" * (len(methods) + 1) + "|")
            for g in groups:
                cells = [_pm(m[key][g][metric]) if g in m[key] else "–" for m in methods]
                lines.append(f"| {g} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Reference: EmoFace v3 Table 2 (x1e-5; the paper's data, not comparable to other data)",
        "",
        "| Method | VOCASET LVE | VOCASET EVE | 3D-RAVDESS LVE | 3D-RAVDESS EVE |",
        "|---|---|---|---|---|",
    ]
    for name, row in summary["paper_table2_reference"].items():
        cells = ["–" if row[k] is None else f"{row[k]:.4f}" for k in ("vocaset_lve", "vocaset_eve", "ravdess_lve", "ravdess_eve")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(result: EvalResult, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``metrics.json`` (with per-clip sums) and ``table.md`` atomically; returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(result)
    write_json_atomic(out / "metrics.json", summary)
    with atomic_write(out / "table.md", "w", encoding="utf-8") as fh:
        fh.write(render_markdown(summary))
    return out / "metrics.json", out / "table.md"
