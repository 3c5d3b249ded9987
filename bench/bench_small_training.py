"""Training the small preset on the test-fixture corpus: does it learn within minutes on a CPU?

    python -m bench.bench_small_training                 # EmoFace and single branch, the preset's 30 epochs
    python -m bench.bench_small_training --epochs 3      # a smoke run

Writes the fixture splits (``tools.testing.fixtures.write_synthetic_splits``: demo-head
topology, V = 468; train: 3 actors, 30 clips of ~45 frames; val: 1 unseen actor), then runs
``emoface train --config configs/emoface-small.yaml --set train.threads=1`` for EmoFace and for
the single branch (``--set model.single_branch=true``), each as a fresh timed process (wall,
CPU seconds, peak RSS), and reads the run's ``metrics.json``: the best validation LVE, the
EVE at that epoch, the last epoch's LVE and the template-only floor (LVE/EVE of predicting
the template; units: m^2, reported as 1e-5 m^2 like the paper).

Writes ``bench/results/small_training.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

from bench.bench_build import run_timed

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {"emoface": [], "single_branch": ["--set", "model.single_branch=true"]}


def _clips(path: Path) -> int:
    from emoface.data.schema import open_split

    with open_split(path, check=False) as r:
        return len(r)


def summarize(metrics: dict) -> dict:
    """Best/last validation numbers of a run's ``metrics.json`` (m^2)."""
    epochs = [e for e in metrics["epochs"] if "val" in e]
    if not epochs:
        return {"epochs_run": len(metrics["epochs"])}
    best = min(epochs, key=lambda e: e["val"]["lve"] if not math.isnan(e["val"]["lve"]) else math.inf)
    last = epochs[-1]
    return {
        "epochs_run": len(metrics["epochs"]),
        "pairs_per_epoch": metrics["epochs"][0]["steps"],
        "best_epoch": best["epoch"] + 1,
        "best_val_lve": best["val"]["lve"],
        "best_val_eve": best["val"]["eve"],
        "last_val_lve": last["val"]["lve"],
        "template_lve": last["val"]["template_lve"],
        "template_eve": last["val"]["template_eve"],
        "floor_over_best_lve": last["val"]["template_lve"] / best["val"]["lve"] if best["val"]["lve"] > 0 else None,
        "train_seconds": sum(e.get("seconds", 0.0) for e in metrics["epochs"]),
    }


def run(variants=("emoface", "single_branch"), epochs: int | None = None, threads: int = 1,
        work: Path | None = None) -> dict:
    """Train each variant from scratch on the fixture splits; returns ``rows`` with times and validation numbers."""
    from tools.testing.fixtures import write_synthetic_splits

    scratch = work or Path(tempfile.mkdtemp(prefix="bench_small_training_"))
    try:
        data = scratch / "data"
        shutil.rmtree(data, ignore_errors=True)
        paths = write_synthetic_splits(data)
        result: dict = {"config": "configs/emoface-small.yaml", "epochs": epochs, "threads": threads,
                        "fixture_clips": {k: _clips(p) for k, p in paths.items()}, "rows": []}
        for variant in variants:
            run_dir = scratch / f"run_{variant}"
            shutil.rmtree(run_dir, ignore_errors=True)
            cmd = [sys.executable, "-m", "emoface", "train", "--config", str(REPO / "configs" / "emoface-small.yaml"),
                   "--data", str(data), "--out", str(run_dir), "--set", f"train.threads={threads}", *VARIANTS[variant]]
            if epochs:
                cmd += ["--epochs", str(epochs)]
            t = run_timed(cmd, cwd=REPO)
            row = {"variant": variant, "exit_code": t["rc"], "wall_s": round(t["wall_s"], 1), "cpu_s": round(t["cpu_s"], 1),
                   "peak_rss_mb": round(t["peak_rss_mb"], 1)}
            mpath = run_dir / "metrics.json"
            if mpath.is_file():
                row.update(summarize(json.loads(mpath.read_text())))
            result["rows"].append(row)
            print(json.dumps(row), flush=True)
        return result
    finally:
        if work is None:
            shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--epochs", type=int, default=None, help="default: the preset's (30)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "small_training.json")
    args = ap.parse_args()
    res = run(args.variants, args.epochs, args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
