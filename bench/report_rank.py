"""The ranking experiment's table (bench/rank.py): per-seed ``metrics.json`` -> mean +- std over seeds.

:func:`aggregate` takes each seed's ``emoface evaluate`` summary, :func:`render_table` and
:func:`rank_lines` write the Table-2-shaped table, :func:`rank_section` the BENCHMARKS.md
section from ``bench/results/full/rank.json``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import numpy as np

__all__ = ["COLUMNS", "DIAGNOSIS_COLUMNS", "aggregate", "render_table", "diagnosis_values", "aggregate_diagnoses",
           "render_diagnoses", "rank_lines", "rank_section", "bound_section"]

#: the columns of the table: key in a method's ``overall`` (or ``emotion_accuracy``), label, digits
#: (``eve_floor``, derived: each seed's EVE over that seed's template-only EVE, the ratio issue 16's goal is stated in)
COLUMNS: tuple[tuple[str, str, int], ...] = (("lve", "LVE ↓", 3), ("eve", "EVE ↓", 3), ("eve_floor", "EVE / floor ↓", 2),
                                             ("fdd", "FDD", 2),
                                             ("lve_truth", "LVE vs truth ↓", 3), ("eve_truth", "EVE vs truth ↓", 3),
                                             ("emotion_acc", "emotion acc. ↑", 3))


#: the no-motion method of ``emoface evaluate`` (emoface.eval.methods.TemplateFloor)
FLOOR = "template only"
#: the reference rows, after the trained methods, in this order (``evaluate --oracles --truth``)
REFERENCES = (FLOOR, "first frame held", "emotion mean (oracle)", "clip mean (oracle)", "fitted data")


def _method_key(name: str) -> str:
    """``emoface-s1`` -> ``emoface``; the floor and the fitted data keep their names."""
    base, _, seed = name.rpartition("-s")
    return base if base and seed.isdigit() else name


def aggregate(per_seed: Mapping[int, Mapping]) -> dict:
    """Mean and std (population) over seeds of every method's overall means (the ``metrics.json`` of each seed).

    Returns ``{"methods": {key: {"description", "n_seeds", column: {"mean", "std", "seeds"}}}, "ceiling": {...}}``;
    a column a seed's report lacks is left out of that method.
    """
    vals: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    desc: dict[str, str] = {}
    seeds: dict[str, int] = defaultdict(int)
    ceiling: list[float] = []
    for _seed, s in sorted(per_seed.items()):
        for m in s["methods"]:
            key = _method_key(m["name"])
            desc.setdefault(key, m.get("description", ""))
            seeds[key] += 1
            for col, _label, _d in COLUMNS:
                v = (m.get("emotion_accuracy") or {}).get("accuracy", {}).get("mean") if col == "emotion_acc" \
                    else m["overall"].get(col, {}).get("mean")
                if v is not None:
                    vals[key][col].append(float(v))
        ref = (s.get("emotion_accuracy") or {}).get("ceiling")
        if ref:
            ceiling.append(float(ref["accuracy"]["mean"]))
    floor = vals.get(FLOOR, {}).get("eve", [])
    for key in desc:
        eve = vals[key].get("eve", [])
        if floor and len(eve) == len(floor) and all(f > 0 for f in floor):
            vals[key]["eve_floor"] = [e / f for e, f in zip(eve, floor)]
    out = {}
    for key in desc:
        row: dict = {"description": desc[key], "n_seeds": seeds[key]}
        for col, v in vals[key].items():
            row[col] = {"mean": float(np.mean(v)), "std": float(np.std(v)), "seeds": v}
        out[key] = row
    return {"methods": out, "ceiling": {"mean": float(np.mean(ceiling)), "std": float(np.std(ceiling))} if ceiling else None}


#: the diagnosis table (``emoface diagnose``, emoface/eval/diagnose.py): key, label, digits
DIAGNOSIS_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("head", "emotion head acc. (test)", 3), ("probe_e", "probe F_e (test)", 3), ("probe_c", "probe F_c (test)", 3),
    ("cls_ratio", "L_cls last/first", 3), ("swap_lips", "emotion swap: lips mm", 2),
    ("swap_eye", "eye region mm", 2), ("swap_forehead", "forehead mm", 2), ("truth_eye", "truth: eye region mm", 2),
    ("share_lips", "emotion share lips", 3), ("share_eye", "eye region", 3), ("share_forehead", "forehead", 3),
    ("history_lips", "history zero: lips mm", 3),
)


def diagnosis_values(r: Mapping) -> dict[str, float]:
    """The numbers of one ``diagnose.json`` that the rank report shows (a column the run lacks is left out)."""
    e, d = r["emotion"], r["drive"]
    out: dict[str, float | None] = {
        "head": (e["head"].get(r["split"]) or {}).get("accuracy"),
        "probe_e": (e.get("probe_emotion") or {}).get("accuracy"),
        "probe_c": (e.get("probe_content") or {}).get("accuracy"),
        "cls_ratio": (r["curves"]["train"].get("classification") or {}).get("ratio"),
        "truth_eye": (d.get("emotion_swap_truth") or {}).get("eye_region"),
        "history_lips": d["drive"].get("history_zero", {}).get("lips"),
    }
    for key, region in (("lips", "lips"), ("eye", "eye_region"), ("forehead", "forehead")):
        out[f"swap_{key}"] = d["drive"].get("emotion_swap", {}).get(region)
        out[f"share_{key}"] = (d.get("emotion_share") or {}).get(region)
    return {k: float(v) for k, v in out.items() if v is not None}


def aggregate_diagnoses(per_run: Mapping[str, Mapping[int, Mapping]]) -> dict:
    """``{method: {seed: diagnose.json}}`` -> ``{method: {"n_seeds", column: {"mean", "std", "seeds"}}}``."""
    out = {}
    for method, seeds in per_run.items():
        vals: dict[str, list[float]] = defaultdict(list)
        for _seed, r in sorted(seeds.items()):
            for k, v in diagnosis_values(r).items():
                vals[k].append(v)
        out[method] = {"n_seeds": len(seeds), **{k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "seeds": v}
                                                 for k, v in vals.items()}}
    return out


def render_diagnoses(diag: Mapping) -> list[str]:
    """The diagnosis table of :func:`aggregate_diagnoses` with what its columns are."""
    cols = [c for c in DIAGNOSIS_COLUMNS if any(c[0] in r for r in diag.values())]
    if not diag or not cols:
        return []
    lines = ["Why (`emoface diagnose` of each EmoFace-type run, mean ± std over seeds; docs/evaluation.md): the emotion "
             "head's accuracy on the test actors and linear probes of the emotion and content features (chance 0.125); "
             "L_cls last/first epoch (about 1: the head learnt nothing); how many mm the predicted offsets move when the "
             "emotion features are swapped for those of the same sentence in another emotion, beside how much the truth "
             "moves between the two clips; the emotion branch's share of the fused motion per region; how many mm the lips "
             "move when every decoder input (the motion history) is zero.", "",
             "| method | " + " | ".join(label for _k, label, _d in cols) + " | seeds |", "|---" * (len(cols) + 2) + "|"]
    for method, r in diag.items():
        cells = [f"{r[k]['mean']:.{d}f} ± {r[k]['std']:.{d}f}" if k in r else "–" for k, _l, d in cols]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {r['n_seeds']} |")
    return lines


def render_table(agg: Mapping) -> list[str]:
    """The Table-2-shaped Markdown table of :func:`aggregate` (mean +- std over seeds)."""
    methods = agg["methods"]
    cols = [c for c in COLUMNS if any(c[0] in r for r in methods.values())]
    lines = ["| method | " + " | ".join(label for _k, label, _d in cols) + " | seeds | description |",
             "|---" * (len(cols) + 3) + "|"]
    planned = [m for m in (agg.get("plan") or {}).get("methods", ()) if m in methods]
    refs = [k for k in REFERENCES if k in methods]
    order = planned + [k for k in methods if k not in planned and k not in refs] + refs
    for key in order:
        r = methods[key]
        cells = [f"{r[k]['mean']:.{d}f} ± {r[k]['std']:.{d}f}" if k in r else "–" for k, _l, d in cols]
        lines.append(f"| {key} | " + " | ".join(cells) + f" | {r['n_seeds']} | {r['description']} |")
    if agg.get("ceiling"):
        cells = [f"{agg['ceiling']['mean']:.3f}" if k == "emotion_acc" else "–" for k, _l, _d in cols]
        lines.append("| test meshes (emotion ceiling) | " + " | ".join(cells) + " | – | the emotion probe on the test split's own meshes |")
    return lines


def rank_lines(r: Mapping) -> list[str]:
    """The experiment's table with what it was run on."""
    p, c = r["plan"], r["clips"]
    return [f"{len(p['methods'])} methods x {len(p['seeds'])} seeds (seeds {', '.join(map(str, p['seeds']))}), "
            f"small preset, {r['epochs']} epochs; generated corpus: {p['train_actors']} training actors ({c['train']} clips), "
            f"{p['val_actors']} validation ({c['val']}), {p['test_actors']} test ({c['test']}); {p['conditions']} speaker "
            f"conditions per test clip; device {p['device']}.", "",
            "LVE, EVE (and vs truth) in 1e-5 m², FDD in 1e-7 m²; emotion acc. = fraction of test clips whose motion the "
            "nearest-centroid probe fitted on train.h5 gives the clip's emotion (docs/evaluation.md). Each cell: mean ± std "
            "(population) over the seeds of each seed's value (itself the mean over the speaker conditions)."
            + ("" if r.get("truth") else " Truth-referenced columns: not run (--no-truth).")
            + ("" if not r.get("train_overrides") else " `emoface train --set` overrides: "
               + "; ".join(f"{k}: {', '.join(f'`{x}`' for x in v) or '-'}" for k, v in r["train_overrides"].items()) + "."),
            "", *render_table(r), *([""] + render_diagnoses(r["diagnosis"]) if r.get("diagnosis") else []),
            *([""] + bound_section(r["bound"]) if r.get("bound") else [])]


def bound_section(b: Mapping) -> list[str]:
    """What the upper face can gain from the voice (``bench.bench_eve_bound`` on the experiment's test split)."""
    from bench.bench_eve_bound import bound_lines

    return [f"What the upper face can gain from the voice (`python -m bench.bench_eve_bound`, no model; "
            f"{b['test_clips']} test clips, class means from {b['train_clips']} training clips): EVE of still faces that "
            "know the emotion (docs/evaluation.md, \"Oracles\"). The voice recogniser is a standardised nearest centroid on six "
            "prosodic features (bench/bench_voice_emotion.py); \"actor-centred\" subtracts each actor's mean over its clips, "
            "which one clip alone does not have.", "", *bound_lines(b)]


def rank_section(R: Mapping) -> list[str]:
    """The BENCHMARKS.md section of ``bench/results/full/rank.json`` (nothing when it is absent)."""
    r = R.get("rank")
    if not r or "methods" not in r:
        return []
    m = r["meta"]
    return ["## Ranking experiment (issue 16): EmoFace against its ablations", "",
            f"`make rank` (`{m['command']}`): {m['wall_s'] / 60:.0f} min on {m['date']}, load {m['load_start'][0]} -> "
            f"{m['load_end'][0]}.", "", *rank_lines(r), ""]
