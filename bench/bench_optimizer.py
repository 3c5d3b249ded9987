"""Adam's step alone: PyTorch's default CPU path against the fused kernel (``optim.fused``).

    python -m bench.bench_optimizer                       # paper preset, 5023 vertices, EmoFace and single branch
    python -m bench.bench_optimizer --presets small --vertices 468 --rounds 3

For each preset and variant the model of ``bench.bench_train`` is built once; its trained
parameters get seeded random gradients, and the trainer's :class:`~emoface.train.memory.OptimizerStep`
optimiser of each kind (``default``: ``optim.fused: false``, PyTorch's own choice of path;
``fused``: ``optim.fused: true``) steps them, the kinds alternated within each round after one
warm-up step each. Reported: median seconds per step over the rounds, and the largest relative
difference between the two kinds' updates after three steps with the same gradients, each
parameter's update against its own largest magnitude. The updates are taken from zero weights
(Adam's update does not depend on the weights without weight decay), so that float32 has their
own precision: from the trained weights, a change of 3e-4 on a weight near 1 is resolved only to
the weight's spacing, 6e-8, which reads as 2e-4 of the update whatever the kernel.

Writes ``bench/results/optimizer.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KINDS = {"default": {}, "fused": {"fused": True}}


def measure(preset: str, n_vertices: int, variant: str, rounds: int = 5, threads: int | None = None) -> dict:
    """One preset/variant: seconds per Adam step of each kind and the kinds' largest relative difference."""
    import torch

    from bench.bench_train import make_step
    from emoface.train.config import OptimConfig
    from emoface.train.memory import OptimizerStep

    if threads:
        torch.set_num_threads(threads)
    _, model = make_step(preset, n_vertices, variant, 10, "cpu")
    params = [p for p in model.parameters() if p.requires_grad]
    g = torch.Generator().manual_seed(0)
    grads = [torch.randn(p.shape, generator=g) * 1e-3 for p in params]
    start = [p.detach().clone() for p in params]

    def stepper(kind: str) -> OptimizerStep:
        return OptimizerStep(params, OptimConfig(lr=1e-4, **KINDS[kind]))

    def one_step(opt: OptimizerStep) -> float:
        for p, gr in zip(params, grads):
            p.grad = gr.clone()
        t0 = time.perf_counter()
        opt.optimizer.step()
        return time.perf_counter() - t0

    moved = {}
    for kind in KINDS:  # three steps from zero weights: the kinds' updates compared
        with torch.no_grad():
            for p in params:
                p.zero_()
        opt = stepper(kind)
        for _ in range(3):
            one_step(opt)
        moved[kind] = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, s in zip(params, start):
            p.copy_(s)
    diff = max(float((a - b).abs().max() / b.abs().max().clamp(min=1e-30))
               for a, b in zip(moved["fused"], moved["default"]))
    del moved
    opts = {k: stepper(k) for k in KINDS}
    for opt in opts.values():
        one_step(opt)  # warm-up: Adam's state allocated
    times: dict[str, list[float]] = {k: [] for k in KINDS}
    for r in range(rounds):
        order = list(KINDS) if r % 2 == 0 else list(reversed(KINDS))
        for k in order:
            times[k].append(one_step(opts[k]))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"preset": preset, "vertices": n_vertices, "variant": variant, "params": sum(p.numel() for p in params),
            "threads": torch.get_num_threads(), "rounds": rounds, "seconds": med, "all_seconds": times,
            "speedup_fused": med["default"] / med["fused"], "max_rel_difference": diff}


def markdown(rows: list[dict]) -> str:
    out = ["| preset | vertices | variant | trained parameters | default s / step | fused s / step | speed-up | "
           "max relative difference |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['preset']} | {r['vertices']} | {r['variant']} | {r['params'] / 1e6:.1f} M | "
                   f"{r['seconds']['default']:.3f} | {r['seconds']['fused']:.3f} | {r['speedup_fused']:.1f}x | "
                   f"{r['max_rel_difference']:.1e} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["paper"])
    ap.add_argument("--vertices", nargs="+", type=int, default=[5023])
    ap.add_argument("--variants", nargs="+", default=["emoface", "single_branch"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "optimizer.json")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")
    rows = [measure(p, v, var, args.rounds, args.threads) for p in args.presets for v in args.vertices
            for var in args.variants]
    from emoface.utils.atomic import write_json_atomic

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, rows)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
