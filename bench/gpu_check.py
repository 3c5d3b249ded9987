"""The CUDA paths of issue 17, measured in one command on a machine with an NVIDIA GPU.

    python -m bench.gpu_check                                   # all parts, ~15 min on one GPU
    python -m bench.gpu_check --faceformer ../shared/anchors/faceformer --only train inference

Parts (each in a fresh process, results in ``bench/results/gpu_check.json``; paste the printed
table into BENCHMARKS.md with the device name it shows):

- ``build``: a generated corpus (``pipeline synth``, 2 actors x 3 clips) built with
  ``pipeline ravdess --workers 1`` (CPU) and ``--gpus 1``: wall time, frames/s, seconds per
  stage of each, and the two outputs compared per HDF5 dataset (floats to 1e-5);
- ``train``: ``bench.bench_train --one paper 5023 {emoface,single_branch} --device cuda``
  (pair step, 90 frames, batch 1): seconds per step and peak CUDA memory;
- ``inference``: ``bench.bench_inference --presets paper --vertices 5023 --device cuda``
  (cached generate on 3 / 10 / 60 s of audio): real-time factor;
- ``faceformer``: FaceFormer's reference code (``--faceformer DIR``, its ``faceformer.py``,
  run unmodified on the GPU): ``predict`` RTF at 3 / 10 s and one teacher-forced training step.

Without a CUDA device it stops at once with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PARTS = ("build", "train", "inference", "faceformer")


def _run(args: list[str], cwd: Path = REPO) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])}... exited {p.returncode}: {p.stderr.strip()[-400:]}")
    return p.stdout


def _compare_h5(a: Path, b: Path, tol: float = 1e-5) -> dict:
    import h5py
    import numpy as np

    worst, bad, n = 0.0, [], 0
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        keys: list[str] = []
        fa.visit(lambda k: keys.append(k) if isinstance(fa[k], h5py.Dataset) else None)
        for k in keys:
            n += 1
            if k not in fb:
                bad.append(f"{k}: missing in the GPU build")
                continue
            x, y = fa[k][()], fb[k][()]
            if x.shape != y.shape:
                bad.append(f"{k}: shape {x.shape} vs {y.shape}")
            elif np.issubdtype(x.dtype, np.floating):
                d = float(np.max(np.abs(x - y))) if x.size else 0.0
                worst = max(worst, d)
                if d > tol:
                    bad.append(f"{k}: max |diff| {d:.2e}")
            elif not np.array_equal(x, y):
                bad.append(f"{k}: differs")
    return {"datasets": n, "max_abs_diff": worst, "mismatches": bad[:20], "equal_to_1e-5": not bad}


def part_build(work: Path) -> dict:
    from bench.bench_build import frames_of, run_timed, stage_seconds

    corpus, out = work / "corpus", {}
    _run(["-m", "pipeline", "synth", "--out", str(corpus), "--actors", "2", "--clips-per-actor", "3", "--seed", "0"])
    for name, flags in (("cpu", ["--workers", "1"]), ("gpu", ["--gpus", "1"])):
        dst = work / f"built_{name}"
        r = run_timed([sys.executable, "-m", "pipeline", "ravdess", "--root", str(corpus), "--out", str(dst),
                       *flags, "--no-progress"], cwd=REPO)
        summary = json.loads((dst / "build.json").read_text())
        frames = frames_of(dst)
        out[name] = {"rc": r["rc"], "wall_s": r["wall_s"], "stage_seconds": stage_seconds(summary),
                     "frames": frames, "frames_per_s": frames / r["wall_s"] if frames else None}
    splits = sorted(p.name for p in (work / "built_cpu").glob("*.h5"))
    out["splits_equal"] = {s: _compare_h5(work / "built_cpu" / s, work / "built_gpu" / s) for s in splits}
    return out


def part_train() -> dict:
    rows = {}
    for variant in ("emoface", "single_branch"):
        txt = _run(["-m", "bench.bench_train", "--one", "paper", "5023", variant, "--steps", "3", "--frames", "90",
                    "--device", "cuda"])
        rows[variant] = json.loads(txt.strip().splitlines()[-1])
    rows["ratio_pair_over_single"] = rows["emoface"]["seconds_per_step"] / rows["single_branch"]["seconds_per_step"]
    return rows


def part_inference(work: Path) -> dict:
    out = work / "inference.json"
    _run(["-m", "bench.bench_inference", "--presets", "paper", "--vertices", "5023", "--seconds", "3", "10", "60",
          "--max-uncached-seconds", "0", "--device", "cuda", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    return {f"{r['audio_seconds']:g}s": r["rtf"] for r in rows if r["decoder"] == "cached"}


_FACEFORMER = r"""
import json, statistics, sys, time, types, torch
sys.path.insert(0, sys.argv[1])
from faceformer import Faceformer
dev = "cuda"
subjects = "FaceTalk_170728_03272_TA FaceTalk_170904_00128_TA FaceTalk_170725_00137_TA FaceTalk_170915_00223_TA FaceTalk_170811_03274_TA FaceTalk_170913_03279_TA FaceTalk_170904_03276_TA FaceTalk_170912_03278_TA"
args = types.SimpleNamespace(dataset="vocaset", vertice_dim=15069, feature_dim=64, period=30, train_subjects=subjects,
                             device=dev, attn_implementation="eager")
torch.manual_seed(0)
model = Faceformer(args).to(dev)
one_hot = torch.zeros(1, 8, device=dev); one_hot[0, 0] = 1
tpl = torch.randn(1, 15069, device=dev) * 0.01
def timed(fn, runs=3):
    fn(); ts = []
    for _ in range(runs):
        torch.cuda.synchronize(); t0 = time.perf_counter(); fn(); torch.cuda.synchronize(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts)
res = {}
model.eval()
for s in (3, 10):
    audio = torch.randn(1, s * 16000, device=dev)
    with torch.no_grad():
        res[f"rtf_{s}s"] = timed(lambda: model.predict(audio, tpl, one_hot)) / s
model.train()
opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
audio = torch.randn(1, 48000, device=dev); vert = tpl.unsqueeze(1) + 0.01 * torch.randn(1, 90, 15069, device=dev)
def step():
    opt.zero_grad(); model(audio, tpl, vert, one_hot, torch.nn.MSELoss(), teacher_forcing=True).backward(); opt.step()
torch.cuda.reset_peak_memory_stats()
res["train_step_tf_s"] = timed(step)
res["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
print(json.dumps(res))
"""


def part_faceformer(folder: Path) -> dict:
    if not (folder / "faceformer.py").is_file():
        raise RuntimeError(f"{folder}: no faceformer.py (pass --faceformer DIR, FaceFormer's reference code)")
    txt = _run(["-c", _FACEFORMER, str(folder.resolve())], cwd=folder)
    return json.loads(txt.strip().splitlines()[-1])


def require_cuda() -> str:
    """The CUDA device's name, or exit 2 with one line on stderr."""
    import torch

    if not torch.cuda.is_available():
        built = torch.version.cuda or "no CUDA (a CPU-only build)"
        print(f"gpu_check: no CUDA device visible (torch {torch.__version__}, built with {built}); "
              "run this on a machine with an NVIDIA GPU", file=sys.stderr)
        raise SystemExit(2)
    return torch.cuda.get_device_name(0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    ap.add_argument("--faceformer", type=Path, default=None, help="FaceFormer's reference code (faceformer.py)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "gpu_check.json")
    args = ap.parse_args(argv)
    device = require_cuda()
    report: dict = {"device": device, "date": time.strftime("%Y-%m-%d"), "parts": {}}
    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    try:
        for part in args.only:
            t0 = time.perf_counter()
            try:
                if part == "build":
                    res = part_build(work)
                elif part == "train":
                    res = part_train()
                elif part == "inference":
                    res = part_inference(work)
                elif args.faceformer is None:
                    res = {"skipped": "no --faceformer DIR given"}
                else:
                    res = part_faceformer(args.faceformer)
            except RuntimeError as exc:
                res = {"error": str(exc)}
            res["wall_s"] = round(time.perf_counter() - t0, 1)
            report["parts"][part] = res
            print(f"{part}: {json.dumps(res)[:600]}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    inf, ff = report["parts"].get("inference", {}), report["parts"].get("faceformer", {})
    if "3s" in inf and "rtf_3s" in ff:
        report["rtf_3s_emoface_over_faceformer"] = inf["3s"] / ff["rtf_3s"]
    report["rtf_60s_over_3s"] = inf["60s"] / inf["3s"] if "60s" in inf and "3s" in inf else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out} ({device})")


if __name__ == "__main__":
    main()
