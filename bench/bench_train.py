"""Training-step time and peak memory of EmoFace and the single-branch baseline.

    python -m bench.bench_train                                   # small + paper, V = 468 and 5023
    python -m bench.bench_train --presets small --vertices 468 --steps 5

For each preset (``configs/emoface-<preset>.yaml``), topology (468: the demo head; 5023: the
5023-vertex synthetic FLAME-sized model) and variant (EmoFace with Mesh Attention,
single-branch FaceFormer-style), a fresh process builds the model and runs one warm-up and
``--steps`` timed training steps on a synthetic pair (two clips of ``--frames`` frames and
matching audio) with the self-growing two-stage pass (p_gt = 0.5, the most expensive
phase): forward, loss, backward, Adam. Reported: mean seconds per step (wall clock, and the
process's CPU time, user + system, which other jobs on the machine inflate less), peak resident memory
during the steps (CPU: VmHWM after a reset) or peak CUDA memory, the resident memory of the
imported libraries alone, and the parameter count; with ``--one ... --live-heap`` also the
bytes the step holds live at its peak (glibc's ``mallinfo2``), which the peak RSS exceeds by
the libraries' pages and what the allocator keeps after a free.

Writes ``bench/results/train.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


class LiveHeap:
    """Bytes that glibc's allocator has handed out and not got back (``mallinfo2``: heap in use plus
    mmapped blocks), sampled every ``interval`` seconds by a thread while the steps run.

    The peak RSS also holds what the allocator keeps after a free (fragmentation) and the pages of
    the libraries; this is what the step holds live. None where the C library is not glibc >= 2.33.
    """

    class _Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                     "keepcost")]

    def __init__(self, interval: float = 0.002):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            self._fn = libc.mallinfo2
            self._fn.restype = LiveHeap._Info
        except (OSError, AttributeError):
            self._fn = None
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def available(self) -> bool:
        return self._fn is not None

    def now(self) -> int | None:
        if self._fn is None:
            return None
        info = self._fn()
        return int(info.uordblks + info.hblkhd)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            self._stop.wait(self.interval)

    def __enter__(self) -> "LiveHeap":
        if self._fn is not None:
            self.peak = self.now()
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self.peak = max(self.peak, self.now())


def import_libraries() -> None:
    """Import what a training step uses (torch, transformers' wav2vec2, this package's model), so that the
    libraries' memory can be read before a model is built."""
    from transformers import Wav2Vec2Model  # noqa: F401

    import emoface.model.build  # noqa: F401


def _reset_peak_rss() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def topology(n_vertices: int):
    from emoface.morphable import load
    from tools.testing.synthetic import synthetic_model

    m = load("demo") if n_vertices == 468 else synthetic_model()
    if m.v_template.shape[0] != n_vertices:
        raise SystemExit(f"no bundled topology with {n_vertices} vertices")
    return m


def make_step(preset: str, n_vertices: int, variant: str, frames: int, device: str,
              overrides: dict | None = None):
    """The benchmark's training step (a closure) on a synthetic pair, and the model it trains.

    Self-growing two-stage pass at p_gt = 0.5 on two clips of ``frames`` and ``frames + 7``
    frames: forward, loss, backward, Adam (the trainer's :class:`OptimizerStep`, with the config's
    memory options: ``optim.foreach``, ``optim.step_in_backward``, ``train.malloc_release``).
    ``step(after_forward)`` calls ``after_forward()`` between the loss and the backward pass.
    """
    import torch

    from emoface.model.build import build_model
    from emoface.train.config import ExperimentConfig
    from emoface.train.losses import pair_losses
    from emoface.train.memory import MallocRelease, OptimizerStep
    from emoface.train.pairs import PairBatch
    from emoface.train.step import PairModel, StepRandom
    from emoface.utils.config import load_yaml

    dev = torch.device(device)
    cfg = load_yaml(ExperimentConfig, REPO / "configs" / f"emoface-{preset}.yaml",
                    {"model.single_branch": variant == "single_branch", "optim.lr": 1e-4, **(overrides or {})})
    release = MallocRelease(cfg.train.malloc_release)  # as the trainer: before the model's allocations
    m = topology(n_vertices)
    torch.manual_seed(0)
    model = build_model(cfg.model, m.faces, n_vertices, 20, m.v_template).to(dev)
    pm = PairModel(model, cfg.schedule, share_anchor_cnn=cfg.train.share_anchor_cnn).train()
    stepper = OptimizerStep([p for p in model.parameters() if p.requires_grad], cfg.optim, release)
    tpl = torch.from_numpy(m.v_template).float().to(dev)
    g = torch.Generator().manual_seed(0)

    def side(t):
        n = int(round(t * 16000 / 30))
        audio = 0.1 * torch.randn(1, n, generator=g)
        verts = tpl + 0.002 * torch.randn(1, t, n_vertices, 3, generator=g)
        return audio.to(dev), verts.to(dev)

    a1, v1 = side(frames)
    a2, v2 = side(frames + 7)
    z = torch.zeros(1, dtype=torch.long, device=dev)
    batch = PairBatch(["a"], ["b"], a1, a2, v1, v2, tpl.unsqueeze(0), z, z, z + 2, z, z + 1)

    def step(after_forward: Callable[[], None] | None = None) -> None:
        rnd = StepRandom(torch.rand(1, frames, generator=g), torch.rand(1, frames + 7, generator=g),
                         torch.ones(1), torch.ones(1))
        out = pm(batch, 0.5, rnd)
        loss = pair_losses(out.self_target.final, out.gt_self, out.cross_target.final, out.gt_cross, out.logits,
                           out.labels, cfg.loss).total
        if after_forward is not None:  # a probe between the forward pass (with the loss) and the backward pass
            after_forward()
        stepper.backward_and_step(loss)  # the trainer's update: gradients freed after it, memory options

    return step, model


def one(preset: str, n_vertices: int, variant: str, steps: int, frames: int, device: str, threads: int | None,
        overrides: dict | None = None, live_heap: bool = False) -> dict:
    """One variant's steps in this process. ``live_heap``: also sample glibc's live heap during the
    steps (:class:`LiveHeap`; a thread that reads it every 2 ms, so leave it off for the times)."""
    import torch

    from emoface.train.memory import preloaded_allocator

    import_libraries()
    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    rss_libraries = _rss_kib("VmRSS")
    heap = LiveHeap() if live_heap else None
    live_libraries = heap.now() if heap is not None else None
    step, model = make_step(preset, n_vertices, variant, frames, device, overrides)
    step()  # warm-up (allocations, Adam state)
    base = _rss_kib("VmRSS")
    live_before = heap.now() if heap is not None else None
    _reset_peak_rss()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(dev)
    import resource

    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    with heap if heap is not None else contextlib.nullcontext():
        for _ in range(steps):
            step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    sec = (time.perf_counter() - t0) / steps
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "preset": preset, "vertices": n_vertices, "variant": variant, "frames": frames, "steps": steps,
        "seconds_per_step": sec, "cpu_seconds_per_step": (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) / steps,
        "system_seconds_per_step": (r1.ru_stime - r0.ru_stime) / steps, "params_trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "rss_before_mib": base / 1024, "peak_rss_mib": _rss_kib("VmHWM") / 1024, "device": str(dev),
        "threads": torch.get_num_threads(), "overrides": overrides or {}, "rss_libraries_mib": rss_libraries / 1024,
        "allocator": preloaded_allocator() or "libc",  # tcmalloc / jemalloc when one replaces the C library's malloc
    }
    if heap is not None and heap.available:
        out["live_heap_libraries_mib"] = live_libraries / 2**20  # of rss_libraries_mib: the rest lies outside the heap
        out["live_heap_between_steps_mib"] = live_before / 2**20
        out["peak_live_heap_mib"] = heap.peak / 2**20
    if dev.type == "cuda":
        out["peak_cuda_mib"] = torch.cuda.max_memory_allocated(dev) / 2**20
    return out


def run(presets=("small", "paper"), vertices=(468, 5023), variants=("emoface", "single_branch"), steps: int = 3,
        frames: int = 110, device: str = "cpu", threads: int | None = None) -> dict:
    """Every preset x topology x variant, each in a fresh process (``one``); returns the report with ``rows``.

    A configuration that fails (e.g. out of memory) is a row with ``error`` (the end of its stderr).
    """
    rows = []
    for preset in presets:
        for v in vertices:
            for variant in variants:
                cmd = [sys.executable, "-m", "bench.bench_train", "--one", preset, str(v), variant, "--steps",
                       str(steps), "--frames", str(frames), "--device", device]
                if threads:
                    cmd += ["--threads", str(threads)]
                p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
                if p.returncode != 0:
                    row = {"preset": preset, "vertices": v, "variant": variant, "frames": frames,
                           "error": p.stderr.strip()[-500:]}
                else:
                    row = json.loads(p.stdout.strip().splitlines()[-1])
                row["load_average_after"] = round(os.getloadavg()[0], 2)
                rows.append(row)
                print(json.dumps(row), flush=True)
    return {"benchmark": "train_step", "date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or
            platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", nargs="+", default=["small", "paper"])
    ap.add_argument("--vertices", nargs="+", type=int, default=[468, 5023])
    ap.add_argument("--variants", nargs="+", default=["emoface", "single_branch"])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--frames", type=int, default=110, help="frames per clip (3D-RAVDESS mean: ~111)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "train.json")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for --one, e.g. model.content_encoder.checkpoint=true")
    ap.add_argument("--live-heap", action="store_true",
                    help="with --one: also sample glibc's live heap during the steps (peak_live_heap_mib)")
    ap.add_argument("--one", nargs=3, metavar=("PRESET", "V", "VARIANT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        import yaml

        sets = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in args.set)}
        res = one(args.one[0], int(args.one[1]), args.one[2], args.steps, args.frames, args.device, args.threads, sets,
                  args.live_heap)
        print(json.dumps(res))
        return
    report = run(args.presets, args.vertices, args.variants, args.steps, args.frames, args.device, args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
