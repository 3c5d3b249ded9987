"""Where the time and memory of the paper preset go at 5023 vertices (inference and the pair training step).

    python -m bench.bench_profile                      # 3 s / 60 s inference, 90-frame training step
    python -m bench.bench_profile --seconds 3 --frames 90 --repeats 3

Inference (``model.generate``, cached decoding, no gradients): forward hooks time the two
encoders (their CNN feature extractors separately), Mesh Attention and the autoregressive
decoding loop (the rest of the time: since the cached decoder multiplies by the output layers'
transposed weights directly, their share is no longer timed apart).

Training: the components of the pair step measured one at a time, forward + backward, on
inputs of the step's shapes (one encoder pass, one Mesh Attention pass, one decoder pass with
its output layer), with the number of times the pair step and the single-branch step run
each; then both whole steps (``bench.bench_train.one``'s step: self-growing, p_gt = 0.5,
forward, loss, backward, Adam). Memory: bytes saved for the backward pass per component
(``torch.autograd.graph.saved_tensors_hooks``, each storage counted once, the parameters not
counted) and the parameter / gradient / Adam-state bytes; for one whole pair step and one
single-branch step (:func:`step_memory`): the bytes saved for the backward pass by part of the
model, and glibc's live heap between steps, at the end of the forward pass and at the peak; the
whole step's peak RSS comes from ``bench.bench_train``. The top operators of one pair step come
from ``torch.profiler`` (self CPU time), and the operators of one pair step and of one single-branch
step grouped by kind (:func:`operator_groups`).

Medians over ``--repeats``. Writes ``bench/results/profile.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

REPO = Path(__file__).resolve().parents[1]


def _model(single: bool = False):
    import torch

    from bench.bench_train import topology
    from emoface.model.build import build_model
    from emoface.train.config import ExperimentConfig
    from emoface.utils.config import load_yaml

    cfg = load_yaml(ExperimentConfig, REPO / "configs" / "emoface-paper.yaml", {"model.single_branch": single})
    m = topology(5023)
    torch.manual_seed(0)
    model = build_model(cfg.model, m.faces, 5023, 20, m.v_template)
    for dec in (model.content_decoder, model.emotion_decoder):
        if dec is not None:
            torch.nn.init.normal_(dec.output.weight, std=1e-3)
    return cfg, model, torch.from_numpy(m.v_template).float()


class _Timer:
    """Forward-hook timer: seconds and calls per named module (no gradients: forward only)."""

    def __init__(self, modules: dict):
        self.sec: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._t0: dict[str, list[float]] = defaultdict(list)
        self.handles = []
        for name, mod in modules.items():
            self.handles.append(mod.register_forward_pre_hook(self._pre(name)))
            self.handles.append(mod.register_forward_hook(self._post(name)))

    def _pre(self, name):
        def hook(*_):
            self._t0[name].append(time.perf_counter())
        return hook

    def _post(self, name):
        def hook(*_):
            self.sec[name] += time.perf_counter() - self._t0[name].pop()
            self.calls[name] += 1
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


def profile_inference(seconds: list[float], repeats: int) -> list[dict]:
    import torch

    _, model, tpl = _model()
    mods = {"content encoder": model.content_encoder, "emotion encoder": model.emotion_encoder,
            "content CNN": model.content_encoder.wav2vec.feature_extractor,
            "emotion CNN": model.emotion_encoder.wav2vec.feature_extractor,
            "mesh attention": model.mesh_attention}
    g = torch.Generator().manual_seed(0)
    model.generate(0.1 * torch.randn(16000, generator=g), tpl)
    rows = []
    for sec in seconds:
        audio = 0.1 * torch.randn(int(sec * 16000), generator=g)
        runs = []
        for _ in range(repeats):
            timer = _Timer(mods)
            t0 = time.perf_counter()
            model.generate(audio, tpl, first_frame=tpl)
            total = time.perf_counter() - t0
            timer.remove()
            parts = dict(timer.sec)
            enc = parts["content encoder"] + parts["emotion encoder"]
            parts["decoding loop (rest)"] = total - enc - parts["mesh attention"]
            runs.append({"total": total, **parts})
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        rows.append({"audio_seconds": sec, "frames": model.n_frames_for(audio.shape[0]), "rtf": med["total"] / sec,
                     "seconds": med, "load_after": round(os.getloadavg()[0], 2)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


class _SavedBytes:
    """A ``saved_tensors_hooks`` pack hook that counts the bytes saved for the backward pass, each storage once,
    into ``saved[part()]``. ``exclude``: tensors whose storage is not counted, the parameters: a ``Linear``
    saves its weight (a view of the parameter) for the backward pass, memory that the step holds anyway."""

    def __init__(self, exclude: Iterable[torch.Tensor] = (), part: Callable[[], str] = lambda: "all"):
        self.skip = {t.untyped_storage().data_ptr() for t in exclude}
        self.part = part
        self.saved: dict[str, int] = {}

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        try:
            s = t.untyped_storage()
        except (RuntimeError, NotImplementedError):
            return t
        if s.data_ptr() not in self.skip:
            self.skip.add(s.data_ptr())  # counted once
            key = self.part()
            self.saved[key] = self.saved.get(key, 0) + s.nbytes()
        return t

    def hooks(self) -> "torch.autograd.graph.saved_tensors_hooks":
        """The context that counts what runs inside it."""
        import torch

        return torch.autograd.graph.saved_tensors_hooks(self, lambda t: t)


def _saved_bytes(fn: Callable[[], object], exclude: Iterable[torch.Tensor] = ()) -> tuple[object, int]:
    """Run ``fn()`` and return its result and the bytes it saved for backward (:class:`_SavedBytes`)."""
    count = _SavedBytes(exclude)
    with count.hooks():
        out = fn()
    return out, sum(count.saved.values())


#: the parts of a training step that :func:`step_memory` credits saved tensors to (module name prefix -> label)
STEP_PARTS = (
    ("content_encoder.wav2vec.feature_extractor", "content encoder: CNN"),
    ("content_encoder", "content encoder: transformer"),
    ("emotion_encoder.wav2vec.feature_extractor", "emotion encoder: CNN"),
    ("emotion_encoder", "emotion encoder: transformer"),
    ("mesh_attention", "Mesh Attention"),
    ("content_decoder", "decoders"),
    ("emotion_decoder", "decoders"),
)
OUTSIDE = "losses, resampling, mixing (outside the modules)"


def step_memory(preset: str = "paper", n_vertices: int = 5023, frames: int = 90, variant: str = "emoface") -> dict:
    """Where the memory of one whole training step goes (``bench.bench_train``'s step, after a warm-up step).

    - ``saved_mib``: the bytes the step saves for its backward pass, by part of the model
      (:data:`STEP_PARTS`; each storage once, credited to the part that was running when it was
      first saved; the parameters excluded, as in :func:`_saved_bytes`);
    - glibc's live heap (:class:`bench.bench_train.LiveHeap`, ``mallinfo2``): before the model was
      built (the libraries), between steps (parameters, Adam's moments), at the end of the forward
      pass (with the loss) and at the step's peak. ``None`` where the C library is not glibc.
    """
    import torch

    from bench.bench_train import LiveHeap, import_libraries, make_step

    import_libraries()  # in the heap before the model, as bench_train.one reads it
    heap = LiveHeap()
    live_libraries = heap.now()
    step, model = make_step(preset, n_vertices, variant, frames, "cpu")
    step()  # warm-up: Adam's state exists from here on
    label: dict[torch.nn.Module, str] = {}
    for name, mod in model.named_modules():
        for prefix, part in STEP_PARTS:
            if name == prefix or name.startswith(prefix + "."):
                label[mod] = part
                break
    stack = [OUTSIDE]

    def enter(part: str) -> Callable[..., None]:
        def hook(*_) -> None:  # returns None: the module's input stays
            stack.append(part)
        return hook

    def leave(*_) -> None:  # returns None: the module's output stays
        stack.pop()

    handles = []
    for mod, part in label.items():
        handles.append(mod.register_forward_pre_hook(enter(part)))
        handles.append(mod.register_forward_hook(leave))
    count = _SavedBytes(model.parameters(), lambda: stack[-1])
    live: dict[str, int | None] = {"between_steps": heap.now()}

    def forward_end() -> None:
        live["forward_end"] = heap.now()

    try:
        with count.hooks(), heap:
            step(forward_end)
    finally:
        for h in handles:
            h.remove()
    mib = 2**20
    out = {"preset": preset, "vertices": n_vertices, "frames": frames, "variant": variant,
           "saved_mib": {k: v / mib for k, v in sorted(count.saved.items(), key=lambda kv: -kv[1])},
           "saved_total_mib": sum(count.saved.values()) / mib}
    if heap.available:
        out.update({"live_libraries_mib": live_libraries / mib, "live_between_steps_mib": live["between_steps"] / mib,
                    "live_forward_end_mib": live["forward_end"] / mib,
                    # the sampler reads every 2 ms: the end-of-forward reading belongs to the peak too
                    "live_peak_mib": max(heap.peak, live["forward_end"]) / mib})
    return out


def _fwd_bwd(fn, params, repeats: int) -> dict:
    import torch

    fwd, tot, saved = [], [], 0
    for _ in range(repeats + 1):  # first run: warm-up
        t0 = time.perf_counter()
        out, saved = _saved_bytes(fn, params)
        t1 = time.perf_counter()
        out.float().square().mean().backward()
        t2 = time.perf_counter()
        for p in params:
            p.grad = None
        fwd.append(t1 - t0)
        tot.append(t2 - t0)
    return {"forward_s": statistics.median(fwd[1:]), "forward_backward_s": statistics.median(tot[1:]),
            "saved_mib": saved / 2**20}


def profile_train(frames: int, repeats: int) -> dict:
    import torch

    cfg, model, tpl = _model()
    model.train()
    g = torch.Generator().manual_seed(0)
    n = int(round(frames * 16000 / 30))
    audio = 0.1 * torch.randn(1, n, generator=g)
    d = cfg.model.feature_dim
    feats = torch.randn(1, frames, d, generator=g)
    prev = 0.002 * torch.randn(1, frames, 5023, 3, generator=g)
    cond = torch.randn(1, d, generator=g)
    enc, ma, dec = model.content_encoder, model.mesh_attention, model.content_decoder
    cnn = enc.wav2vec.feature_extractor
    comps = {
        "encoder pass (wav2vec2-base)": (lambda: enc(audio, frames), list(enc.parameters())),
        "  of which CNN feature extractor": (lambda: cnn(audio), list(cnn.parameters())),
        "Mesh Attention (SpiralConv3D stack)": (lambda: ma(feats, feats, None), list(ma.parameters())),
        "decoder pass (parallel, T frames)": (lambda: dec(prev, feats, cond), list(dec.parameters())),
        "  of which output layer Linear(d -> 3V)": (lambda: dec.output(feats), list(dec.output.parameters())),
    }
    # how often each runs per step (the paper preset: the anchor's content CNN once for both frame counts,
    # share_anchor_cnn; self-growing: 2 stages x (the self target's 2 decoders + the cross target's emotion
    # decoder, its content output being the self target's, Eq. 14); stage 1 without an autograd graph)
    counts = {"pair": {"encoder pass (wav2vec2-base)": 4, "  of which CNN feature extractor": 3,
                       "Mesh Attention (SpiralConv3D stack)": 2, "decoder pass (parallel, T frames)": 6},
              "single": {"encoder pass (wav2vec2-base)": 2, "  of which CNN feature extractor": 2,
                         "Mesh Attention (SpiralConv3D stack)": 0, "decoder pass (parallel, T frames)": 4}}
    out = {}
    for name, (fn, params) in comps.items():
        out[name] = _fwd_bwd(fn, params, repeats)
        print(name, json.dumps(out[name]), flush=True)
    n_train = {k: sum(p.numel() for p in m.parameters() if p.requires_grad) for k, m in model.named_children()
               if m is not None}
    return {"frames": frames, "components": out, "counts": counts, "params": n_train,
            "param_grad_adam_mib": {"pair": 16 * sum(n_train.values()) / 2**20,
                                    "single": 16 * (n_train["content_encoder"] + n_train["content_decoder"]) / 2**20}}


WARMUP_STEPS, PROFILED_STEPS = 3, 1  # operator_groups: the first steps of a process are slower (allocations)
#: the operator groups of :func:`operator_groups`: (label, torch.profiler's operator names)
OP_GROUPS = (
    ("linear layers (`mm`, `addmm`)", ("aten::mm", "aten::addmm")),
    ("convolutions (`convolution_backward`, `mkldnn_convolution`)", ("aten::convolution_backward",
                                                                      "aten::mkldnn_convolution")),
    ("dropout masks (`bernoulli_`)", ("aten::bernoulli_",)),
    ("Adam (`_fused_adam_`)", ("aten::_fused_adam_",)),
    ("sums and copies (`add`, `add_`, `copy_`)", ("aten::add", "aten::add_", "aten::copy_")),
)


def operator_groups(frames: int, variants: tuple[str, ...] = ("emoface", "single_branch"),
                    preset: str = "paper", n_vertices: int = 5023, threads: int | None = None,
                    warmup: int = WARMUP_STEPS) -> dict[str, dict[str, float]]:
    """``torch.profiler``'s self CPU seconds per whole step of each variant, summed by :data:`OP_GROUPS`, with
    ``rest``, ``all operators`` and the profiled steps' ``wall`` seconds per step. Each variant runs in a fresh
    process (as ``bench.bench_train`` times them: a process that has built and freed other models is slower);
    :data:`PROFILED_STEPS` step(s) after :data:`WARMUP_STEPS` warm-up steps. torch.profiler slows the pair
    step more than the single branch's, so the groups are shares of the work, not the steps' time ratio."""
    import subprocess
    import sys

    out: dict[str, dict[str, float]] = {}
    for variant in variants:
        code = ("import json, sys, torch; from bench.bench_profile import _operator_groups_here; "
                + (f"torch.set_num_threads({int(threads)}); " if threads else "")
                + f"print(json.dumps(_operator_groups_here({int(frames)}, {variant!r}, {preset!r}, {int(n_vertices)}, "
                f"{int(warmup)})))")
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
        if p.returncode != 0:
            raise RuntimeError(f"operator_groups {variant}: exit {p.returncode}: {p.stderr.strip()[-300:]}")
        out[variant] = json.loads(p.stdout.strip().splitlines()[-1])
    return out


def _operator_groups_here(frames: int, variant: str, preset: str, n_vertices: int,
                          warmup: int = WARMUP_STEPS) -> dict[str, float]:
    """:func:`operator_groups` for one variant in this process."""
    from torch.profiler import ProfilerActivity, profile

    from bench.bench_train import make_step

    step, _ = make_step(preset, n_vertices, variant, frames, "cpu")
    for _ in range(warmup):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(PROFILED_STEPS):
            step()
        wall = (time.perf_counter() - t0) / PROFILED_STEPS
    self_s: dict[str, float] = defaultdict(float)
    for e in prof.key_averages():
        self_s[e.key] += e.self_cpu_time_total / 1e6 / PROFILED_STEPS
    groups = {label: sum(self_s.get(op, 0.0) for op in ops) for label, ops in OP_GROUPS}
    total = sum(self_s.values())
    return {**groups, "rest": total - sum(groups.values()), "all operators": total, "wall": wall}


def top_ops(frames: int, n: int = 12) -> list[dict]:
    """``torch.profiler``: the operators of one pair step by self CPU time."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from bench.bench_train import make_step

    step, _ = make_step("paper", 5023, "emoface", frames, "cpu")
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    rows = []
    for e in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:n]:
        rows.append({"op": e.key, "calls": e.count, "self_cpu_s": e.self_cpu_time_total / 1e6,
                     "share": e.self_cpu_time_total / total})
    del torch
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", nargs="+", type=float, default=[3.0, 60.0])
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--skip", nargs="*", default=[], choices=["inference", "train", "memory", "ops"])
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "profile.json")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    report = {"benchmark": "profile_paper_5023", "date": time.strftime("%Y-%m-%d"), "machine": platform.processor()
              or platform.machine(), "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
              "load_before": round(os.getloadavg()[0], 2)}
    if "memory" not in args.skip:  # first: its live heap "before the model" is then the libraries' alone
        report["step_memory"] = []
        for variant in ("emoface", "single_branch"):
            gc.collect()  # the previous model's memory back before this one's live heap is read
            report["step_memory"].append(step_memory("paper", 5023, args.frames, variant))
            print(json.dumps(report["step_memory"][-1]), flush=True)
    if "inference" not in args.skip:
        report["inference"] = profile_inference(args.seconds, args.repeats)
    if "train" not in args.skip:
        report["train"] = profile_train(args.frames, args.repeats)
    if "ops" not in args.skip:
        report["top_ops"] = top_ops(args.frames)
        report["operator_groups"] = operator_groups(args.frames, threads=args.threads)
        print(json.dumps(report["operator_groups"]), flush=True)
    report["load_after"] = round(os.getloadavg()[0], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
