"""Benchmark of ``build-dataset ravdess`` (decode -> package) on 1280x720 RAVDESS video.

    python -m bench.bench_build                       # 8 clips, 1 vs 2 workers, no-op rerun of 100 clips
    python -m bench.bench_build --clips 4 --noop-clips 0

Measures, with the real back end (demo head, ``pipeline.fitting``, ``pipeline.qa`` when present):

- time per stage summed over clips (inside the workers), from the build's own ``build.json``,
  so decode+landmarks and "everything after landmarks" come from the same run;
- end-to-end wall time with ``--workers 1`` and ``--workers 2`` on fresh output folders,
  frames/s, frames/s per core, the speed-up and the extrapolation to the full RAVDESS
  speech set (1,440 clips, about 160k frames at 30 fps);
- CPU seconds of the whole build (all its processes, ``RUSAGE_CHILDREN``): frames per
  CPU-second is the per-core throughput even on a machine shared with other work;
- peak resident memory of the largest process (``RUSAGE_CHILDREN`` of a wrapper process:
  the build itself with 1 worker, a worker process with 2);
- a rerun with nothing to do on ``--noop-clips`` clips (1 s each), as a command (including
  Python start-up) and as the ``build_ravdess`` call alone.

The corpus repeats one real clip (``../shared/assets/ravdess/video/01-01-01-01-02-01-05.mp4``,
3.1 s, 29.97 fps; else the 1 s test fixture) under different RAVDESS names and actors; the
clips are identical in content but every stage still runs for each. Writes
``bench/results/build.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_CLIP = REPO / ".." / "shared" / "assets" / "ravdess" / "video" / "01-01-01-01-02-01-05.mp4"
FIXTURE = REPO / "tests" / "data" / "ravdess" / "actor05_neutral_1s.mp4"
AFTER_LANDMARKS = ("identity", "fit", "smooth", "canonical", "qa", "report", "package")
RAVDESS_FRAMES = 160_000


def make_corpus(root: Path, source: Path, n: int, per_actor: int) -> list[str]:
    """``n`` copies of ``source`` named as RAVDESS speech clips of actors 1, 2, ... (``per_actor`` each)."""
    from emoface.data.ravdess import speech_names

    names = []
    actor = 1
    while len(names) < n:
        for name in speech_names(actor)[:per_actor]:
            if len(names) == n:
                break
            dest = root / name.actor_folder / name.filename()
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, dest)
            names.append(name.clip_id)
        actor += 1
    return names


_WRAPPER = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(json.dumps({'rc': rc, 'wall_s': time.perf_counter() - t, 'cpu_s': u.ru_utime + u.ru_stime,"
    " 'peak_rss_mb': u.ru_maxrss / 1024}))\n"
)


def run_build(root: Path, out: Path, workers: int) -> dict:
    """The command in a fresh process; returns wall time, peak RSS and the build's summary."""
    cmd = [sys.executable, "-m", "pipeline", "ravdess", "--root", str(root), "--out", str(out),
           "--workers", str(workers), "--no-progress"]
    res = json.loads(subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True, check=True).stdout)
    res["summary"] = json.loads((out / "build.json").read_text())
    return res


def frames_of(out: Path) -> int:
    total = 0
    for f in sorted((out / "work" / "decode").glob("*.npz")):
        with np.load(f) as z:
            total += int(z["n_frames"])
    return total


def stage_seconds(summary: dict) -> dict[str, float]:
    return {k: float(v.get("seconds", 0.0)) for k, v in summary["stages"].items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, default=SHARED_CLIP if SHARED_CLIP.is_file() else FIXTURE)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--per-actor", type=int, default=4)
    ap.add_argument("--noop-clips", type=int, default=100)
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "build.json")
    args = ap.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="bench_build_"))
    root = work / "ravdess"
    make_corpus(root, args.clip, args.clips, args.per_actor)
    result: dict = {
        "command": " ".join(["python -m bench.bench_build", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python {platform.python_version()}",
        "load_average_before": round(os.getloadavg()[0], 2),
        "clip": args.clip.name,
        "clips": args.clips,
        "runs": {},
    }
    for workers in (1, 2):
        out = work / f"out_w{workers}"
        shutil.rmtree(out, ignore_errors=True)
        r = run_build(root, out, workers)
        frames = frames_of(out)
        secs = stage_seconds(r["summary"])
        dl = secs.get("decode", 0.0) + secs.get("landmarks", 0.0)
        after = sum(secs.get(s, 0.0) for s in AFTER_LANDMARKS)
        n_actors = len({f.parent.name for f in root.glob("Actor_*/*.mp4")})
        # the full corpus has 60 clips per actor: one identity fit per 60 clips, not per --per-actor
        per_clip_after = after - secs.get("identity", 0.0)
        full_after = per_clip_after + secs.get("identity", 0.0) * (args.clips / n_actors) / 60
        result["runs"][f"workers_{workers}"] = {
            "exit_code": r["rc"],
            "failures": r["summary"]["failures"],
            "frames": frames,
            "wall_s": round(r["wall_s"], 2),
            "cpu_s": round(r["cpu_s"], 2),
            "frames_per_cpu_s": round(frames / r["cpu_s"], 2),
            "frames_per_s": round(frames / r["wall_s"], 2),
            "frames_per_s_per_core": round(frames / r["wall_s"] / workers, 2),
            "load_average_after": round(os.getloadavg()[0], 2),
            "stage_seconds": secs,
            "decode_landmarks_frames_per_s": round(frames / dl, 2) if dl else None,
            "after_landmarks_over_decode_landmarks": round(after / dl, 3) if dl else None,
            "after_over_decode_landmarks_at_60_clips_per_actor": round(full_after / dl, 3) if dl else None,
            "peak_rss_mb": round(r["peak_rss_mb"], 1),
            "full_ravdess_minutes": round(RAVDESS_FRAMES / (frames / r["wall_s"]) / 60, 1),
            "full_ravdess_minutes_2_cores_from_cpu_s": round(RAVDESS_FRAMES / (frames / r["cpu_s"]) / 2 / 60, 1),
        }
        print(json.dumps({f"workers_{workers}": result["runs"][f"workers_{workers}"]}, indent=1), flush=True)
    w1, w2 = result["runs"]["workers_1"], result["runs"]["workers_2"]
    result["speedup_1_to_2_workers"] = round(w1["wall_s"] / w2["wall_s"], 2)

    if args.noop_clips:
        from pipeline.build import build_ravdess

        root_n = work / "ravdess_noop"
        make_corpus(root_n, FIXTURE, args.noop_clips, 20)
        out_n = work / "out_noop"
        first = run_build(root_n, out_n, 2)
        t0 = time.perf_counter()
        again = run_build(root_n, out_n, 1)
        cmd_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        summary = build_ravdess(root_n, out_n)
        call_s = time.perf_counter() - t0
        ran = {k: v.get("ran", 0) for k, v in summary.to_dict()["stages"].items()}
        result["noop_rerun"] = {
            "clips": args.noop_clips,
            "first_build_wall_s": round(first["wall_s"], 1),
            "first_build_exit_code": first["rc"],
            "command_wall_s": round(again["wall_s"], 2),
            "command_cpu_s": round(again["cpu_s"], 2),
            "command_total_s": round(cmd_s, 2),
            "build_call_s": round(call_s, 3),
            "stages_run": ran,
        }
        print(json.dumps({"noop_rerun": result["noop_rerun"]}, indent=1), flush=True)

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
