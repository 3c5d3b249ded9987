"""Measures against the truth (issue 15): offset errors and emotion recognisability, fitted / oracle / truth.

For every seed: generate a corpus (``build-dataset synth``, ``--actors`` x ``--clips-per-actor``),
run the fit benchmark's corpus part on it (:func:`bench.bench_fit.run_corpus`: the build's
landmarks -> identity -> fit -> smooth -> canonical -> QA metrics, plus the *oracle*, the same
fit given the true landmark positions + 1 px noise), and report per seed and per photo (when
the ground truth records a ``photo``):

- offset error per region (face, lips, eye region), total / static / dynamic, of the fitted
  and the oracle meshes beside the truth's own magnitude (mm);
- emotion recognisability (leave one actor out, standardised nearest centroid, same folds)
  of the fitted, oracle and true meshes, overall and per emotion;
- mouth-opening r (fitted / oracle).

Definitions: docs/fitting.md ("Measures against the truth"). Usage (the issue's size, about
1-1.5 h on 2 idle cores; the generated corpora are deleted afterwards unless ``--keep``)::

    python -m bench.bench_measures --seeds 0,1 --actors 24 --clips-per-actor 5
    python -m bench.bench_measures --seeds 0 --actors 8 --clips-per-actor 5   # a check, ~10 min

Writes ``--out`` (JSON) and prints a Markdown block; ``python -m bench.run_all --only measures``
runs it as a section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REGIONS = (("face", "face"), ("lips", "lips"), ("eye_region", "eye region"))


def run(seeds: list[int], actors: int, clips_per_actor: int, workers: int, work: Path, threads: int = 1,
        keep: bool = False, fit: dict | None = None, smooth: dict | None = None) -> dict:
    """Generate and measure one corpus per seed; returns ``{"seeds": {seed: result}, "size": ...}``."""
    import torch

    from bench.bench_fit import run_corpus
    from bench.bench_synth import generate
    from emoface.morphable import load
    from emoface.utils.config import from_dict, to_dict
    from pipeline.fitting import SmoothConfig
    from pipeline.fitting.config import load_fit_config

    torch.set_num_threads(threads)
    cfg = load_fit_config(fit or {}, "fit")
    scfg = from_dict(SmoothConfig, smooth or {}, "smooth")
    model = load("demo")
    out: dict = {"size": {"seeds": seeds, "actors": actors, "clips_per_actor": clips_per_actor},
                 "fit_config": to_dict(cfg), "smooth_config": to_dict(scfg), "torch_threads": threads, "seeds": {}}
    for seed in seeds:
        corpus = work / f"measures_seed{seed}"
        shutil.rmtree(corpus, ignore_errors=True)
        gen, _ = generate(corpus, actors, clips_per_actor, workers, seed)
        print(f"seed {seed}: generated {gen['clips_done']} clips in {gen['wall_s']:.0f} s", file=sys.stderr, flush=True)
        res = run_corpus(corpus, None, 0, cfg, scfg, model)
        res["generation"] = {"command": f"build-dataset synth --out {corpus} --actors {actors} --clips-per-actor "
                             f"{clips_per_actor} --seed {seed} --workers {workers}",
                             **{k: gen[k] for k in ("clips_done", "clips_failed", "frames", "wall_s")}}
        out["seeds"][str(seed)] = res
        if not keep:
            shutil.rmtree(corpus, ignore_errors=True)
    return out


def _f(v, fmt: str = ".2f") -> str:
    return "-" if v is None else format(v, fmt)


def _groups(d: dict | None) -> list[tuple[str, dict]]:
    """``("all", regions)`` then one entry per photo of an offset summary."""
    if not d:
        return []
    return [("all", d["regions"])] + [(p, r) for p, r in (d.get("by_photo") or {}).items()]


def _split_lines(res: dict) -> list[str]:
    """The static offset error split into what an actor's clips share and what varies between them
    (:func:`pipeline.qa.emotion.static_split`; results from before it have none: no table)."""
    rows = []
    for seed, r in res["seeds"].items():
        sp = (r.get("measures") or {}).get("static_split")
        if not sp:
            continue
        for photo, g in [("all", sp)] + list((sp.get("by_photo") or {}).items()):
            for key, label in REGIONS[1:]:
                if key not in g["fitted"]:
                    continue
                cells = []
                for part in ("static", "common", "per_clip"):
                    cells.append(" / ".join(_f((g.get(k) or {}).get(key, {}).get(part)) for k in ("fitted", "oracle", "truth")))
                rows.append(f"| {seed} | {photo} | {label} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    return ["", "The static offset error split into the part all of an actor's clips share (the error of its template, "
            "the same in every emotion) and the part that varies from clip to clip (where the emotions are); the truth's "
            "own static offsets split the same way. Each cell: fitted / oracle / truth, mm, the mean vertex norm over "
            "the region and the clips (norms do not add):", "",
            "| seed | photo | region | static | shared by the actor's clips | per clip |", "|---|---|---|---|---|---|", *rows]


def markdown(res: dict) -> str:
    """Markdown tables of :func:`run`'s result."""
    size = res["size"]
    lines = [f"Size: {len(size['seeds'])} seed(s) ({', '.join(map(str, size['seeds']))}) x {size['actors']} actors x "
             f"{size['clips_per_actor']} clips. Each cell: fitted from the detector's landmarks (the build) / oracle "
             "(true landmarks + 1 px noise) / the truth's own magnitude; millimetres, definitions in docs/fitting.md.", "",
             "| seed | photo | region | offset error | static | dynamic |",
             "|---|---|---|---|---|---|"]
    mouths = []
    for seed, r in res["seeds"].items():
        off = (r.get("measures") or {}).get("offsets") or {}
        fitted, oracle = dict(_groups(off.get("fitted"))), dict(_groups(off.get("oracle")))
        mouths.append(f"seed {seed} {_f(r['summary'].get('mouth_r_mean'), '.3f')} / "
                      f"{_f(r['oracle_summary'].get('mouth_r_mean'), '.3f')}")
        for photo, regions in fitted.items():
            for key, label in REGIONS:
                if key not in regions:
                    continue
                a, o = regions[key], (oracle.get(photo) or {}).get(key) or {}
                cells = [f"{_f(a.get(m))} / {_f(o.get(m))} / {_f(a.get('true_' + m))}" for m in ("total", "static", "dynamic")]
                lines.append(f"| {seed} | {photo} | {label} | " + " | ".join(cells) + " |")
    lines += ["", "Mouth-opening r (mean over clips), fitted / oracle: " + "; ".join(mouths) + "."]
    lines += _split_lines(res)
    lines += ["", "Emotion recognisability (leave one actor out, standardised nearest centroid, same folds for every row; "
              "per emotion: the fraction of that emotion's clips recognised):", ""]
    from pipeline.qa.emotion import emotion_order

    emotions = emotion_order([e for r in res["seeds"].values()
                              for e in ((((r.get("measures") or {}).get("recognisability") or {}).get("truth") or {})
                                        .get("per_class") or {})])
    lines += ["| seed | photo | meshes | clips | accuracy | " + " | ".join(emotions) + " |",
              "|---|---|---|---|---|" + "---|" * len(emotions)]
    for seed, r in res["seeds"].items():
        rec = (r.get("measures") or {}).get("recognisability") or {}
        for photo, g in [("all", rec)] + list((rec.get("by_photo") or {}).items()):
            if not g or "note" in g:
                lines.append(f"| {seed} | {photo} | - | {g.get('clips', 0) if g else 0} | {g.get('note', 'no clips') if g else 'no clips'} |")
                continue
            for meshes in ("fitted", "oracle", "truth"):
                s = g.get(meshes)
                if s:
                    pc = s["per_class"]
                    lines.append(f"| {seed} | {photo} | {meshes} | {s['n_clips']} | {_f(s['accuracy'])} | "
                                 + " | ".join(_f(pc.get(e)) for e in emotions) + " |")
    lines.append("")
    lines.append(f"Chance: {_f(1 / len(emotions), '.3f') if emotions else '-'}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1", help="comma-separated corpus seeds")
    ap.add_argument("--actors", type=int, default=24)
    ap.add_argument("--clips-per-actor", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2, help="generator processes")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the fit")
    ap.add_argument("--fit", default="{}", help="JSON overrides of FitConfig")
    ap.add_argument("--smooth", default="{}", help="JSON overrides of SmoothConfig")
    ap.add_argument("--work", type=Path, default=None, help="where the corpora are generated (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the generated corpora")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "measures.json")
    args = ap.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s]
        fit, smooth = json.loads(args.fit), json.loads(args.smooth)
    except ValueError as exc:
        ap.error(f"--seeds/--fit/--smooth: {exc}")
    if args.actors < 2 or args.clips_per_actor < 2 or not seeds:
        ap.error("need at least one seed, 2 actors (leave one actor out) and 2 clips per actor")
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_measures_"))
    try:
        res = run(seeds, args.actors, args.clips_per_actor, args.workers, work, args.threads, args.keep, fit, smooth)
    finally:
        if args.work is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    res["command"] = "python -m bench.bench_measures " + " ".join(argv if argv is not None else sys.argv[1:])
    res["markdown"] = markdown(res)
    from emoface.utils.atomic import write_json_atomic

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, res)
    print(res["markdown"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
