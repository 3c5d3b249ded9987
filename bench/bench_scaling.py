"""Scaling: build throughput against clips and workers; training step time against sequence length.

    python -m bench.bench_scaling                                  # 10/100/1,000 clips x 1/2 workers; 90/300/1,800 frames
    python -m bench.bench_scaling --clips 10 30 --frames 90 300    # a few minutes

Build: ``--clips`` copies of a 1 s, 1280x720 RAVDESS-named clip (the test fixture
``tests/data/ravdess/actor05_neutral_1s.mp4``, 30 frames at 30 fps), 60 per actor like
RAVDESS (so the per-actor identity fit is spread as in the real set), each built from
scratch with ``build-dataset ravdess --workers N`` for every ``--workers`` (the functions of
``bench.bench_build``: wall, CPU seconds of all processes, peak memory, time per stage).
After the largest-worker build of ``--noop-at`` clips, the same command is run again with
nothing to do (the no-op rerun).

Training: ``bench.bench_train`` (one fresh process per configuration) for the small preset
at V = 468, EmoFace and the single branch, at each of ``--frames`` frames per clip.

Writes ``bench/results/build_scaling.json`` and ``bench/results/train_scaling.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from bench.bench_build import FIXTURE, make_corpus, measure_run, noop_rerun
from bench.bench_train import run as run_train

REPO = Path(__file__).resolve().parents[1]
RAVDESS_CLIPS_PER_ACTOR = 60


def build_scaling(clips=(10, 100, 1000), workers=(1, 2), clip: Path = FIXTURE, per_actor: int = RAVDESS_CLIPS_PER_ACTOR,
                  noop_at: int | None = 100, work: Path | None = None) -> dict:
    """One fresh build per (clips, workers); the no-op rerun on the ``noop_at``-clip output. Returns ``rows`` etc."""
    scratch = work or Path(tempfile.mkdtemp(prefix="bench_scaling_"))
    rows: list[dict] = []
    result: dict = {"clip": clip.name, "per_actor": per_actor, "rows": rows, "speedup_1_to_2_workers": {}}
    try:
        for n in clips:
            root = scratch / f"ravdess_{n}"
            shutil.rmtree(root, ignore_errors=True)
            make_corpus(root, clip, n, per_actor)
            for w in workers:
                out = scratch / f"out_{n}_w{w}"
                row = measure_run(root, out, w, n, per_actor)
                row["failed"] = len(row.pop("failures"))  # the reasons are in the build's own build.json
                rows.append(row)
                print(json.dumps({k: row[k] for k in ("clips", "workers", "wall_s", "frames_per_s", "cpu_s")}), flush=True)
                if n == noop_at and w == max(workers):
                    result["noop_rerun"] = {"built_with_workers": w, "first_build_wall_s": row["wall_s"],
                                            **noop_rerun(root, out)}
                    print(json.dumps({"noop_rerun": result["noop_rerun"]}), flush=True)
                shutil.rmtree(out, ignore_errors=True)
            by_w = {r["workers"]: r for r in rows if r["clips"] == n}
            if 1 in by_w and 2 in by_w:
                result["speedup_1_to_2_workers"][str(n)] = round(by_w[1]["wall_s"] / by_w[2]["wall_s"], 3)
            shutil.rmtree(root, ignore_errors=True)
        return result
    finally:
        if work is None:
            shutil.rmtree(scratch, ignore_errors=True)


def train_scaling(frames=(90, 300, 1800), variants=("emoface", "single_branch"), preset: str = "small",
                  vertices: int = 468, steps: int = 3, device: str = "cpu", threads: int | None = 1) -> dict:
    """``bench.bench_train.run`` at each sequence length; returns ``rows`` and the EmoFace / single-branch ratios."""
    rows: list[dict] = []
    for t in frames:
        rows += run_train([preset], [vertices], list(variants), steps, t, device, threads)["rows"]
    ratios = {}
    for t in frames:
        by = {r["variant"]: r for r in rows if r.get("frames") == t and "seconds_per_step" in r}
        if "emoface" in by and "single_branch" in by:
            ratios[str(t)] = round(by["emoface"]["seconds_per_step"] / by["single_branch"]["seconds_per_step"], 3)
    return {"preset": preset, "vertices": vertices, "steps": steps, "threads": threads, "rows": rows,
            "emoface_over_single_branch": ratios}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", nargs="*", type=int, default=[10, 100, 1000])
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--noop-at", type=int, default=100)
    ap.add_argument("--frames", nargs="*", type=int, default=[90, 300, 1800])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the training steps")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    args = ap.parse_args()
    args.results.mkdir(parents=True, exist_ok=True)
    if args.clips:
        res = build_scaling(args.clips, args.workers, noop_at=args.noop_at, work=args.work)
        res["load_average_after"] = list(os.getloadavg())
        (args.results / "build_scaling.json").write_text(json.dumps(res, indent=2) + "\n")
    if args.frames:
        res = train_scaling(args.frames, steps=args.steps, threads=args.threads)
        (args.results / "train_scaling.json").write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
