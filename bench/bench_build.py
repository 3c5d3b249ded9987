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


def run_timed(cmd: list[str], cwd: Path | None = None) -> dict:
    """Run ``cmd`` under a wrapper process: exit code, wall and CPU seconds, peak RSS (MB) of its largest process."""
    p = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True, check=True, cwd=cwd)
    return json.loads(p.stdout)


def run_build(root: Path, out: Path, workers: int) -> dict:
    """The command in a fresh process; returns wall time, peak RSS and the build's summary."""
    cmd = [sys.executable, "-m", "pipeline", "ravdess", "--root", str(root), "--out", str(out),
           "--workers", str(workers), "--no-progress"]
    res = run_timed(cmd)
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


def measure_run(root: Path, out: Path, workers: int, clips: int, per_actor: int) -> dict:
    """One fresh build of ``root`` into ``out`` with ``workers``: throughput, CPU, memory, time per stage."""
    shutil.rmtree(out, ignore_errors=True)
    load_before = round(os.getloadavg()[0], 2)
    r = run_build(root, out, workers)
    frames = frames_of(out)
    secs = stage_seconds(r["summary"])
    dl = secs.get("decode", 0.0) + secs.get("landmarks", 0.0)
    after = sum(secs.get(s, 0.0) for s in AFTER_LANDMARKS)
    n_actors = len({f.parent.name for f in root.glob("Actor_*/*.mp4")})
    # the full corpus has 60 clips per actor: one identity fit per 60 clips, not per --per-actor
    per_clip_after = after - secs.get("identity", 0.0)
    full_after = per_clip_after + secs.get("identity", 0.0) * (clips / n_actors) / 60
    return {
        "workers": workers,
        "clips": clips,
        "actors": n_actors,
        "exit_code": r["rc"],
        "failures": r["summary"]["failures"],
        "frames": frames,
        "wall_s": round(r["wall_s"], 2),
        "cpu_s": round(r["cpu_s"], 2),
        "frames_per_cpu_s": round(frames / r["cpu_s"], 2),
        "frames_per_s": round(frames / r["wall_s"], 2),
        "frames_per_s_per_core": round(frames / r["wall_s"] / workers, 2),
        "clips_per_s": round(clips / r["wall_s"], 3),
        "load_average_before": load_before,
        "load_average_after": round(os.getloadavg()[0], 2),
        "stage_seconds": secs,
        "decode_landmarks_frames_per_s": round(frames / dl, 2) if dl else None,
        "after_landmarks_over_decode_landmarks": round(after / dl, 3) if dl else None,
        "after_over_decode_landmarks_at_60_clips_per_actor": round(full_after / dl, 3) if dl else None,
        "peak_rss_mb": round(r["peak_rss_mb"], 1),
        "full_ravdess_minutes": round(RAVDESS_FRAMES / (frames / r["wall_s"]) / 60, 1),
        "full_ravdess_minutes_2_cores_from_cpu_s": round(RAVDESS_FRAMES / (frames / r["cpu_s"]) / 2 / 60, 1),
    }


def noop_rerun(root: Path, out: Path) -> dict:
    """Rerun a finished build of ``root`` in ``out``: as a command (incl. Python start-up) and as the call alone."""
    from pipeline.build import build_ravdess

    t0 = time.perf_counter()
    again = run_build(root, out, 1)
    cmd_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    summary = build_ravdess(root, out)
    call_s = time.perf_counter() - t0
    ran = {k: v.get("ran", 0) for k, v in summary.to_dict()["stages"].items()}
    return {
        "clips": summary.n_clips,
        "exit_code": again["rc"],
        "command_wall_s": round(again["wall_s"], 2),
        "command_cpu_s": round(again["cpu_s"], 2),
        "command_total_s": round(cmd_s, 2),
        "build_call_s": round(call_s, 3),
        "stages_run": ran,
    }


def run(clip: Path | None = None, clips: int = 8, per_actor: int = 4, noop_clips: int = 100, work: Path | None = None,
        workers: tuple[int, ...] = (1, 2)) -> dict:
    """The whole benchmark: ``clips`` copies of ``clip`` built with each of ``workers``, then the no-op rerun.

    ``clip`` defaults to the real RAVDESS clip (else the 1 s fixture); ``noop_clips`` = 0 skips
    the rerun. ``work`` keeps the scratch folders (default: a temporary folder, removed at the
    end). Returns the result dict (see ``main``).
    """
    clip = clip or (SHARED_CLIP if SHARED_CLIP.is_file() else FIXTURE)
    scratch = work or Path(tempfile.mkdtemp(prefix="bench_build_"))
    try:
        root = scratch / "ravdess"
        shutil.rmtree(root, ignore_errors=True)
        make_corpus(root, clip, clips, per_actor)
        result: dict = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
                       f"Python {platform.python_version()}",
            "load_average_before": round(os.getloadavg()[0], 2),
            "clip": clip.name,
            "clips": clips,
            "per_actor": per_actor,
            "runs": {},
        }
        for w in workers:
            result["runs"][f"workers_{w}"] = measure_run(root, scratch / f"out_w{w}", w, clips, per_actor)
            print(json.dumps({f"workers_{w}": result["runs"][f"workers_{w}"]}, indent=1), flush=True)
        if 1 in workers and 2 in workers:
            w1, w2 = result["runs"]["workers_1"], result["runs"]["workers_2"]
            result["speedup_1_to_2_workers"] = round(w1["wall_s"] / w2["wall_s"], 2)
        if noop_clips:
            root_n = scratch / "ravdess_noop"
            shutil.rmtree(root_n, ignore_errors=True)
            make_corpus(root_n, FIXTURE, noop_clips, 20)
            out_n = scratch / "out_noop"
            shutil.rmtree(out_n, ignore_errors=True)
            first = run_build(root_n, out_n, 2)
            result["noop_rerun"] = {"first_build_wall_s": round(first["wall_s"], 1), "first_build_exit_code": first["rc"],
                                    **noop_rerun(root_n, out_n)}
            print(json.dumps({"noop_rerun": result["noop_rerun"]}, indent=1), flush=True)
        return result
    finally:
        if work is None:
            shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, default=SHARED_CLIP if SHARED_CLIP.is_file() else FIXTURE)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--per-actor", type=int, default=4)
    ap.add_argument("--noop-clips", type=int, default=100)
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "build.json")
    args = ap.parse_args()

    result = {"command": " ".join(["python -m bench.bench_build", *sys.argv[1:]]),
              **run(args.clip, args.clips, args.per_actor, args.noop_clips, args.work)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
