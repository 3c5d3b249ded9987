"""Run every benchmark and rewrite BENCHMARKS.md (``make bench``).

    python -m bench.run_all                      # full mode: about two hours on 2 idle cores
    python -m bench.run_all --quick              # small sizes, a few minutes (results/report under bench/results/quick/)
    python -m bench.run_all --only build_scaling # one section (the others stay as BENCHMARKS.md has them)
    python -m bench.run_all --report-only        # re-render BENCHMARKS.md from bench/results/full/*.json

Sections (each writes ``<results>/<name>.json``, ``<results>`` = ``bench/results/full`` or
``bench/results/quick``, apart from the ``bench/results/<name>.json`` that the scripts write when
run alone: the benchmark's own result dict plus ``meta``, see ``bench.machine.section``, and
``plan``, the sizes used):

==================  =====================================================================
synth               generated-corpus quality bar and speed (``bench.bench_synth``), per seed; warp timing
fit                 fitting accuracy on a generated corpus and the real RAVDESS clip (``bench.bench_fit``)
measures            offset errors and emotion recognisability, fitted / oracle / truth, per seed and photo (``bench.bench_measures``)
levers              every fit lever of issue 15 on an astronaut corpus, the kept defaults on a Grace Hopper one (``bench.bench_levers``),
                    and what the detector's points hold on the two (``bench.bench_landmark_floor``)
build               ``build-dataset ravdess`` on the real clip, stages, 1 vs 2 workers (``bench.bench_build``)
train               training step time/memory, presets x topologies x variants (``bench.bench_train``)
inference           real-time factor, cached vs uncached decoding (``bench.bench_inference``)
train_scaling       step time against sequence length (``bench.bench_scaling``)
small_training      the small preset trained on the fixture corpus (``bench.bench_small_training``)
build_scaling       build throughput against clips and workers, no-op rerun (``bench.bench_scaling``)
build_corpus        ``build-dataset ravdess`` on a generated corpus of RAVDESS-length clips, 1 vs 2 workers
full_corpus         the full 24 x 60 generated corpus, generated and built with 2 workers (45-60 min)
==================  =====================================================================

Full mode: see ``FULL`` below; the 1,000-clip build point uses 1 s clips (the 1280x720 test
fixture, 30 frames, 60 per actor), about 30,000 frames per build, built once with 1 and
once with 2 workers. The report is rendered after every section, so an interrupted run
still leaves a BENCHMARKS.md with what finished.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import traceback
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bench.machine import section

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"  # full/ and quick/: apart from the scripts' own <name>.json
ORDER = ("synth", "fit", "measures", "levers", "build", "build_corpus", "train", "inference", "train_scaling", "small_training", "build_scaling",
         "full_corpus")


@dataclass(frozen=True)
class Plan:
    """The sizes of one mode (every number a section uses)."""

    mode: str
    synth_actors: int = 6
    synth_clips_per_actor: int = 10
    synth_seeds: tuple[int, ...] = (0, 1)
    synth_workers: int = 2
    warp_repeats: int = 50
    fit_actors: int = 4
    fit_clips_per_actor: int = 6
    measures_seeds: tuple[int, ...] = (0, 1)
    measures_actors: int = 24
    measures_clips_per_actor: int = 5
    levers_actors: int = 8  # per photo: the tuning (astronaut) and the held-out (Grace Hopper) corpus
    levers_clips_per_actor: int = 5
    build_clips: int = 8
    build_per_actor: int = 4
    scaling_clips: tuple[int, ...] = (10, 100, 1000)
    scaling_workers: tuple[int, ...] = (1, 2)
    noop_at: int = 100
    corpus_actors: int = 4
    corpus_clips_per_actor: int = 20
    full_actors: int = 24
    full_clips_per_actor: int = 60
    train_presets: tuple[str, ...] = ("small", "paper")
    train_vertices: tuple[int, ...] = (468, 5023)
    train_steps: int = 3
    train_frames: int = 110
    seq_frames: tuple[int, ...] = (90, 300, 1800)
    seq_steps: int = 3
    infer_presets: tuple[str, ...] = ("small", "paper")
    infer_seconds: tuple[float, ...] = (3.0, 60.0)
    infer_max_uncached: tuple[tuple[str, float], ...] = (("small", 900.0), ("paper", 240.0))
    small_epochs: int | None = None  # None: the preset's
    threads: int = 1  # torch threads of the model/fitting benchmarks (see BENCHMARKS.md: shared machine)
    device: str = "cpu"


FULL = Plan("full")
QUICK = Plan(
    "quick", synth_actors=2, synth_clips_per_actor=3, synth_seeds=(0,), warp_repeats=10, fit_actors=1,
    fit_clips_per_actor=3, measures_seeds=(0,), measures_actors=3, measures_clips_per_actor=3, levers_actors=2, levers_clips_per_actor=2, build_clips=2, build_per_actor=2, scaling_clips=(4, 12), noop_at=12,
    corpus_actors=2, corpus_clips_per_actor=3, full_actors=3, full_clips_per_actor=2,
    train_presets=("small",), train_vertices=(468,), train_steps=1, seq_frames=(90, 300), seq_steps=1,
    infer_presets=("small",), infer_seconds=(3.0, 10.0), infer_max_uncached=(("small", 60.0),), small_epochs=3,
)


# --------------------------------------------------------------------------- sections
def run_synth(plan: Plan, work: Path) -> dict:
    from bench.bench_synth import run, warp_benchmark

    samples = []
    for seed in plan.synth_seeds:
        out = work / f"synth_seed{seed}"
        shutil.rmtree(out, ignore_errors=True)
        samples.append(run(out, plan.synth_actors, plan.synth_clips_per_actor, plan.synth_workers, seed))
        shutil.rmtree(out, ignore_errors=True)
    return {"samples": samples, "warp": warp_benchmark(plan.warp_repeats)}


def run_fit(plan: Plan, work: Path) -> dict:
    from bench import bench_fit
    from bench.bench_synth import generate

    corpus = work / "fit_corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    gen, _ = generate(corpus, plan.fit_actors, plan.fit_clips_per_actor, plan.synth_workers, 0)
    out = work / "fit.json"
    bench_fit.main(["--corpus", str(corpus), "--threads", str(plan.threads), "--out", str(out)])
    res = json.loads(out.read_text())
    res["corpus_generation"] = {"command": f"build-dataset synth --out {corpus} --actors {plan.fit_actors} "
                                f"--clips-per-actor {plan.fit_clips_per_actor} --seed 0 --workers {plan.synth_workers}",
                                **{k: gen[k] for k in ("clips_done", "clips_failed", "frames", "wall_s")}}
    shutil.rmtree(corpus, ignore_errors=True)
    return res


def run_measures(plan: Plan, work: Path) -> dict:
    from bench.bench_measures import markdown, run

    res = run(list(plan.measures_seeds), plan.measures_actors, plan.measures_clips_per_actor, plan.synth_workers, work,
              plan.threads)
    res["markdown"] = markdown(res)
    return res


def run_levers(plan: Plan, work: Path) -> dict:
    """The levers on an astronaut corpus (every routine variant), the held-out check on a Grace Hopper one."""
    from bench.bench_levers import VARIANTS, markdown, run
    from pipeline.sources.synth.config import SynthConfig
    from pipeline.sources.synth.corpus import generate_corpus

    out: dict = {"size": {"actors": plan.levers_actors, "clips_per_actor": plan.levers_clips_per_actor, "seed": 0}}
    for photo, names in (("astronaut", None), ("grace_hopper", ("baseline", "defaults"))):
        corpus = work / f"levers_{photo}"
        generate_corpus(corpus, plan.levers_actors, plan.levers_clips_per_actor, 0, plan.synth_workers,
                        cfg=SynthConfig(photos=(photo,)))
        variants = [v for v in VARIANTS if (v.routine if names is None else v.name in names)]
        res = run(corpus, work / f"levers_{photo}_tracks", photo, variants, oracle=False)
        out[photo] = {"variants": res, "markdown": markdown(res)}
    out["landmark_floor"] = landmark_floor(work)
    return out


#: the ridge strengths of the landmark floor (``bench.bench_landmark_floor``'s defaults)
FLOOR_LAMBDAS = (30.0, 300.0)


def landmark_floor(work: Path) -> dict:
    """What the detector's points hold (``bench.bench_landmark_floor``) on the levers' two corpora, from their cached
    tracks: a map learnt on the tuning corpus (leave one actor out) and applied to the held-out one."""
    from bench.bench_landmark_floor import collect
    from bench.bench_landmark_floor import markdown as floor_markdown
    from bench.bench_landmark_floor import run as floor_run
    from bench.corpus_cache import load_actors
    from emoface.morphable import load

    model = load("demo")
    frames, ref = collect(load_actors(work / "levers_astronaut", work / "levers_astronaut_tracks", "astronaut"), model)
    holdout = collect(load_actors(work / "levers_grace_hopper", work / "levers_grace_hopper_tracks", "grace_hopper"),
                      model, ref)[0]
    rows = floor_run(frames, model, list(FLOOR_LAMBDAS), holdout)
    return {"lambdas": list(FLOOR_LAMBDAS), "rows": rows, "markdown": floor_markdown(rows)}


def run_build(plan: Plan, work: Path) -> dict:
    from bench.bench_build import FIXTURE, SHARED_CLIP, run

    clip = SHARED_CLIP if SHARED_CLIP.is_file() else FIXTURE
    return run(clip, plan.build_clips, plan.build_per_actor, noop_clips=0, work=work / "build",
               workers=plan.scaling_workers)


def _generate(root: Path, actors: int, clips_per_actor: int, plan: Plan) -> tuple[dict, dict]:
    """A fresh generated corpus (seed 0) in ``root``: ``bench_synth.generate``'s summary, and its command and counts."""
    from bench.bench_synth import generate

    shutil.rmtree(root, ignore_errors=True)
    gen, _ = generate(root, actors, clips_per_actor, plan.synth_workers, 0)
    cmd = (f"build-dataset synth --out {root} --actors {actors} --clips-per-actor {clips_per_actor} --seed 0 "
           f"--workers {plan.synth_workers}")
    return gen, {"command": cmd, **{k: gen[k] for k in ("clips_done", "clips_failed", "frames", "wall_s", "workers")}}


def _measure_build(root: Path, out: Path, workers: int, clips: int, per_actor: int, keep: bool = False) -> dict:
    """``bench_build.measure_run`` from a fresh ``out`` (removed afterwards unless ``keep``), with its command."""
    from bench.bench_build import measure_run

    row = measure_run(root, out, workers, clips, per_actor)
    row["failed"] = len(row.pop("failures"))
    row["command"] = f"build-dataset ravdess --root {root} --out {out} --workers {workers}"
    print(json.dumps({k: row[k] for k in ("clips", "workers", "wall_s", "frames_per_s", "cpu_s")}), flush=True)
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return row


def run_build_corpus(plan: Plan, work: Path) -> dict:
    """The build on generated clips of RAVDESS length (3-4 s), fresh with each worker count."""
    root = work / "build_corpus"
    gen, generation = _generate(root, plan.corpus_actors, plan.corpus_clips_per_actor, plan)
    rows = []
    for w in plan.scaling_workers:
        out = work / f"build_corpus_out_w{w}"
        row = _measure_build(root, out, w, gen["clips_done"], plan.corpus_clips_per_actor)
        rows.append(row)
    shutil.rmtree(root, ignore_errors=True)
    by_w = {r["workers"]: r for r in rows}
    speedup = round(by_w[1]["wall_s"] / by_w[2]["wall_s"], 3) if 1 in by_w and 2 in by_w else None
    return {"corpus_generation": generation, "per_actor": plan.corpus_clips_per_actor, "rows": rows,
            "speedup_1_to_2_workers": speedup}


def run_full_corpus(plan: Plan, work: Path) -> dict:
    """The issues' full-size claims measured, not extrapolated: the 1,440-clip generated corpus, then its build."""
    from emoface.data.schema import SplitReader, validate_split

    root, out = work / "full_corpus", work / "full_corpus_3d"
    gen, generation = _generate(root, plan.full_actors, plan.full_clips_per_actor, plan)
    print(json.dumps({k: gen[k] for k in ("clips_done", "clips_failed", "frames", "wall_s")}), flush=True)
    row = _measure_build(root, out, 2, gen["clips_done"], plan.full_clips_per_actor, keep=True)
    splits = {}
    for h5 in sorted(out.glob("*.h5")):
        with SplitReader(h5) as r:
            n = len(r.clip_ids)
        splits[h5.stem] = {"clips": n, "validation_problems": len(validate_split(h5))}
    qa = json.loads((out / "qa" / "report.json").read_text()).get("summary", {})
    for p in (root, out):
        shutil.rmtree(p, ignore_errors=True)
    return {"generation": generation, "build": row, "splits": splits, "qa_summary": qa}


def run_build_scaling(plan: Plan, work: Path) -> dict:
    from bench.bench_scaling import build_scaling

    return build_scaling(plan.scaling_clips, plan.scaling_workers, noop_at=plan.noop_at, work=work / "build_scaling")


def run_train(plan: Plan, work: Path) -> dict:
    from bench.bench_train import run

    return run(plan.train_presets, plan.train_vertices, ("emoface", "single_branch"), plan.train_steps,
               plan.train_frames, plan.device, plan.threads)


def run_train_scaling(plan: Plan, work: Path) -> dict:
    from bench.bench_scaling import train_scaling

    return train_scaling(plan.seq_frames, steps=plan.seq_steps, device=plan.device, threads=plan.threads)


def run_inference(plan: Plan, work: Path) -> dict:
    from bench.bench_inference import run_presets

    return run_presets(plan.infer_presets, None, plan.infer_seconds, dict(plan.infer_max_uncached), plan.device,
                       plan.threads)


def run_small_training(plan: Plan, work: Path) -> dict:
    from bench.bench_small_training import run

    return run(epochs=plan.small_epochs, threads=plan.threads, work=work / "small_training")


SECTIONS = {
    "synth": run_synth, "fit": run_fit, "measures": run_measures, "levers": run_levers, "build": run_build, "build_scaling": run_build_scaling,
    "build_corpus": run_build_corpus, "full_corpus": run_full_corpus, "train": run_train,
    "train_scaling": run_train_scaling, "inference": run_inference, "small_training": run_small_training,
}


# --------------------------------------------------------------------------- driver
def _jsonable(x, work: str):
    """Plain JSON types; the scratch folder in paths and commands becomes ``$WORK`` (it is deleted afterwards)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v, work) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v, work) for v in x]
    if hasattr(x, "item") and callable(x.item):  # numpy scalars
        return x.item()
    if isinstance(x, (str, Path)):
        return str(x).replace(work, "$WORK")
    return x


def run_section(name: str, plan: Plan, work: Path, results: Path) -> bool:
    """Run one section and write ``results/<name>.json``; False (and the traceback in the JSON) when it failed."""
    from emoface.utils.atomic import write_json_atomic

    cmd = f"python -m bench.run_all --only {name}" + (" --quick" if plan.mode == "quick" else "")
    print(f"== {name} ({plan.mode})", flush=True)
    ok = True
    with section(name, cmd) as meta:
        try:
            res = SECTIONS[name](plan, work)
        except Exception:  # one failing benchmark must not lose the others
            ok = False
            res = {"error": traceback.format_exc()[-4000:]}
            print(res["error"], file=sys.stderr, flush=True)
    write_json_atomic(results / f"{name}.json", _jsonable({"meta": meta, "plan": asdict(plan), **res}, str(work)))
    print(f"== {name}: {'done' if ok else 'FAILED'} in {meta['wall_s']:.0f} s, load {meta['load_start'][0]} -> "
          f"{meta['load_end'][0]}", flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (minutes); writes under bench/results/quick/")
    ap.add_argument("--only", default="", help=f"comma-separated sections of: {', '.join(ORDER)}")
    ap.add_argument("--skip", default="", help="comma-separated sections to leave out")
    ap.add_argument("--report-only", action="store_true", help="only render the report from existing results")
    ap.add_argument("--results", type=Path, default=None, help="results folder (default bench/results/full or /quick)")
    ap.add_argument("--md", type=Path, default=None,
                    help="report to write (default BENCHMARKS.md; with --quick <results>/BENCHMARKS.md)")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one, removed)")
    ap.add_argument("--device", default="cpu", help="device of the training/inference benchmarks (cpu, cuda)")
    args = ap.parse_args(argv)

    plan = replace(QUICK if args.quick else FULL, device=args.device)
    results = args.results or RESULTS / plan.mode
    md = args.md or (results / "BENCHMARKS.md" if args.quick else REPO / "BENCHMARKS.md")
    only = [s for s in args.only.split(",") if s]
    skip = {s for s in args.skip.split(",") if s}
    unknown = [s for s in [*only, *skip] if s not in SECTIONS]
    if unknown:
        ap.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    names = [s for s in (only or ORDER) if s not in skip]

    from bench.report import write_report

    results.mkdir(parents=True, exist_ok=True)
    failed = []
    if not args.report_only:
        work = args.work or Path(tempfile.mkdtemp(prefix="bench_run_all_"))
        try:
            for name in names:
                if not run_section(name, plan, work, results):
                    failed.append(name)
                write_report(results, md, partial=bool(only))
        finally:
            if args.work is None:
                shutil.rmtree(work, ignore_errors=True)
    write_report(results, md, partial=bool(only))
    print(f"wrote {md}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
