"""The pair training step with and without the work it shares (emoface/train/step.py), alternated in one process.

    python -m bench.bench_pair_step --threads 1                  # paper preset, 5023 vertices, 30 + 37 frames
    python -m bench.bench_pair_step --frames 30 --rounds 3 --vertices 5023

One model, one synthetic pair (``frames`` and ``frames + 7`` frames, so the anchor's content
encoder runs at two frame counts), self-growing at p_gt = 0.5, forward + loss + backward (no
optimiser step: the same for every variant). Variants, timed round-robin in each round:

- ``before``: stage 1 records its autograd graph (what the step did before; reproduced with a
  stage-1 loss weight of 1e-9, which ``pair_losses`` does not read), no CNN shared;
- ``default``: stage 1 without a graph (the same numbers);
- ``share_anchor_cnn``: also the trained content CNN once on the anchor audio (opt-in);
- ``frozen before`` / ``frozen default``: the CNNs frozen with equal weights (a pretrained
  snapshot's setting): before, the CNN runs on the anchor audio three times; by default once.

``--single-branch`` adds the single-branch baseline's step (a second model) and each
variant's ratio to it. Reports the bytes saved for the backward pass by each variant's forward (its warm-up step), the median seconds per step and the ratio to ``before`` (or ``frozen before``) per
round, and the largest gradient difference of ``share_anchor_cnn`` against ``default``.
Writes ``bench/results/pair_step.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def _frozen(model, on: bool):
    if not on:
        yield
        return
    fes = [model.content_encoder.wav2vec.feature_extractor, model.emotion_encoder.wav2vec.feature_extractor]
    for fe in fes:
        fe._requires_grad = not on
        for p in fe.parameters():
            p.requires_grad_(not on)
    try:
        yield
    finally:
        for fe in fes:
            fe._requires_grad = True
            for p in fe.parameters():
                p.requires_grad_(True)


def run(preset: str, n_vertices: int, frames: int, rounds: int, frozen_rows: bool = True, single: bool = False) -> dict:
    import torch

    from bench.bench_profile import _saved_bytes
    from bench.bench_train import topology
    from emoface.model.build import build_model
    from emoface.model.encoders import AudioEncoder
    from emoface.train.config import ExperimentConfig, ScheduleConfig
    from emoface.train.losses import pair_losses
    from emoface.train.pairs import PairBatch
    from emoface.train.step import PairModel, StepRandom
    from emoface.utils.config import load_yaml

    cfg = load_yaml(ExperimentConfig, REPO / "configs" / f"emoface-{preset}.yaml")
    m = topology(n_vertices)

    def build(single_branch: bool):
        c = load_yaml(ExperimentConfig, REPO / "configs" / f"emoface-{preset}.yaml", {"model.single_branch": single_branch})
        torch.manual_seed(0)
        out = build_model(c.model, m.faces, n_vertices, 20, m.v_template).train()
        for dec in (out.content_decoder, out.emotion_decoder):
            if dec is not None:
                torch.nn.init.normal_(dec.output.weight, std=1e-3)
        return out

    model = build(False)
    model.emotion_encoder.wav2vec.feature_extractor.load_state_dict(
        model.content_encoder.wav2vec.feature_extractor.state_dict())  # one CNN (as two snapshots of one base model)
    tpl = torch.from_numpy(m.v_template).float()
    g = torch.Generator().manual_seed(0)

    def side(t):
        return 0.1 * torch.randn(1, int(round(t * 16000 / 30)), generator=g), tpl + 0.002 * torch.randn(1, t, n_vertices, 3, generator=g)

    (a1, v1), (a2, v2) = side(frames), side(frames + 7)
    z = torch.zeros(1, dtype=torch.long)
    batch = PairBatch(["a"], ["b"], a1, a2, v1, v2, tpl[None], z, z, z + 2, z, z + 1)
    rnd = StepRandom(torch.rand(1, frames, generator=g), torch.rand(1, frames + 7, generator=g), torch.ones(1), torch.ones(1))
    graph = ScheduleConfig(**{**cfg.schedule.__dict__, "stage1_loss_weight": 1e-9})
    variants = {  # name: (PairModel, frozen CNNs, CNN sharing allowed)
        "before": (PairModel(model, graph), False, False),
        "default": (PairModel(model, cfg.schedule), False, True),
        "share_anchor_cnn": (PairModel(model, cfg.schedule, share_anchor_cnn=True), False, True),
    }
    if frozen_rows:
        variants["frozen before"] = (PairModel(model, graph), True, False)
        variants["frozen default"] = (PairModel(model, cfg.schedule), True, True)
    if single:
        variants["single branch"] = (PairModel(build(True), cfg.schedule), False, True)
    real_frozen = AudioEncoder.cnn_frozen

    def step(name, measure: bool = False):
        pm, frozen, sharing = variants[name]
        AudioEncoder.cnn_frozen = real_frozen if sharing else (lambda self: False)
        try:
            with _frozen(pm.model, frozen):
                pm.model.zero_grad(set_to_none=True)
                torch.manual_seed(1)
                t0 = time.perf_counter()
                if measure:  # bytes saved for the backward pass (each storage once, the parameters not counted)
                    out, nbytes = _saved_bytes(lambda: pm(batch, 0.5, rnd), list(pm.model.parameters()))
                    saved_mib[name] = nbytes / 2**20
                else:
                    out = pm(batch, 0.5, rnd)
                loss = pair_losses(out.self_target.final, out.gt_self, out.cross_target.final, out.gt_cross,
                                   out.logits, out.labels, cfg.loss).total
                loss.backward()
                dt = time.perf_counter() - t0
                grads = {n: p.grad.clone() for n, p in pm.model.named_parameters() if p.grad is not None}
        finally:
            AudioEncoder.cnn_frozen = real_frozen
        return dt, loss.item(), grads

    saved_mib: dict[str, float] = {}
    for name in variants:  # warm-up, with the saved-tensor count
        step(name, measure=True)
    times: dict[str, list[float]] = {k: [] for k in variants}
    grad_err = loss_err = None
    for r in range(rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))  # alternate A/B order per round
        res = {}
        for name in order:
            res[name] = step(name)
            times[name].append(res[name][0])
        if grad_err is None:
            ga, gb = res["default"][2], res["share_anchor_cnn"][2]
            grad_err = max(float((gb[k] - ga[k]).abs().max() / ga[k].abs().max().clamp(min=1e-30)) for k in ga)
            loss_err = abs(res["share_anchor_cnn"][1] - res["default"][1])
            exact = {"default vs before": res["default"][1] == res["before"][1]}
            if frozen_rows:
                exact["frozen default vs frozen before"] = res["frozen default"][1] == res["frozen before"][1]
    rows = []
    for name in variants:
        base = "frozen before" if name.startswith("frozen") else "before"
        ratios = [a / b for a, b in zip(times[name], times[base])]
        row = {"variant": name, "saved_for_backward_mib": saved_mib[name], "median_s": statistics.median(times[name]), "ratio_to_" + base.replace(" ", "_"):
               statistics.median(ratios)}
        if single and name != "single branch":
            row["ratio_to_single_branch"] = statistics.median(a / b for a, b in zip(times[name], times["single branch"]))
        rows.append(row)
        print(json.dumps(rows[-1]), flush=True)
    return {"benchmark": "pair_step_sharing", "date": time.strftime("%Y-%m-%d %H:%M"), "preset": preset,
            "vertices": n_vertices, "frames": [frames, frames + 7], "rounds": rounds, "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(), "rows": rows, "seconds_per_round": times, "share_anchor_cnn_max_rel_grad_diff": grad_err,
            "share_anchor_cnn_loss_diff": loss_err, "same_loss_bitwise": exact}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--vertices", type=int, default=5023)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-frozen", action="store_true", help="leave out the frozen-CNN rows")
    ap.add_argument("--single-branch", action="store_true", help="also time the single-branch step (ratios to it)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "pair_step.json")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()[0]
    report = run(args.preset, args.vertices, args.frames, args.rounds, not args.no_frozen, args.single_branch)
    report["load"] = [load0, os.getloadavg()[0]]
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
