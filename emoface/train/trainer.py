"""The EmoFace training loop: pairs, two-stage self-growing steps, validation, checkpoints, DDP.

``Trainer(cfg, data_dir, run_dir).run()`` trains on ``data_dir/train.h5`` (pairs), validates
on ``data_dir/val.h5`` (LVE/EVE, autoregressive) and writes the run folder
(``config.yaml``, ``checkpoints/{last,best}.pt``, ``metrics.json``, ``events/``). Under
``torchrun`` every rank trains on its shard of the pairs (``DistributedSampler``) and only
rank 0 writes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from emoface.data.dataset import MeshSeqDataset
from emoface.data.ravdess import EMOTIONS, INTENSITIES
from emoface.data.schema import faces_sha256, require_valid_split
from emoface.model.build import build_model
from emoface.train.checkpoint import (
    RunMeta,
    capture_rng,
    read_checkpoint,
    restore_rng,
    save_checkpoint,
)
from emoface.train.config import ExperimentConfig
from emoface.train.distributed import (
    all_sum,
    init_distributed,
    weights_sha256,
)
from emoface.train.losses import pair_losses, sequence_losses
from emoface.train.memory import MallocRelease, OptimizerStep
from emoface.train.pairs import PairDataset, collate_pairs
from emoface.train.schedule import cosine_lr, draw_uniform, gt_probability
from emoface.train.step import PairModel, StepRandom
from emoface.train.validation import METRICS, collapsed, validate
from emoface.utils.atomic import write_json_atomic
from emoface.utils.config import dump_yaml, to_dict

__all__ = ["Trainer", "TrainingError", "TrainingSetupError", "NonFiniteLossError"]

log = logging.getLogger("emoface.train")
TERMS = ("self", "cross", "velocity", "classification")


class TrainingError(RuntimeError):
    """A run that cannot start or continue (the message says why)."""


class TrainingSetupError(TrainingError):
    """Data that cannot train as configured (no train.h5, no clips, splits of two topologies, no pairs for
    ``pairs.cross_reconstruction: true``): nothing was trained (CLIs: a setup error, exit 2)."""


class NonFiniteLossError(TrainingError):
    """A NaN/inf loss; the message names the epoch, step and clips."""


class Trainer:
    """One training run.

    Args:
        cfg: the resolved experiment configuration.
        data_dir: folder with ``train.h5`` and (optionally) ``val.h5``.
        run_dir: the run folder (must be prepared by the caller: see ``commands.train``).
        resume: continue from ``run_dir/checkpoints/last.pt``.
        max_steps: stop (with a checkpoint) after this many optimiser steps in total.
    """

    def __init__(self, cfg: ExperimentConfig, data_dir: str | Path, run_dir: str | Path, resume: bool = False,
                 max_steps: int | None = None):
        self.cfg = cfg
        self.data_dir = Path(data_dir)
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.max_steps = max_steps
        self.info, self.device = init_distributed(cfg.train.device)
        if self.device.type == "cpu":
            threads = cfg.train.threads or max(1, (os.cpu_count() or 1) // max(1, self.info.local_world_size))
            torch.set_num_threads(threads)
        self.writer = None

    # ------------------------------------------------------------------ setup
    def _setup(self) -> None:
        cfg, info = self.cfg, self.info
        if cfg.optim.step_in_backward and info.enabled:
            raise TrainingSetupError("optim.step_in_backward needs a single process (DDP reduces the gradients in "
                                     "its own hooks): set it to false for torchrun")
        train_path = self.data_dir / "train.h5"
        if not train_path.is_file():
            raise TrainingSetupError(f"{train_path}: training split not found (expected train.h5 in --data)")
        val_path = self.data_dir / "val.h5"
        for path in (train_path, val_path) if val_path.is_file() else (train_path,):
            require_valid_split(path)  # the checks of `emoface validate`, before any work
        torch.manual_seed(cfg.train.seed)
        release = MallocRelease(cfg.train.malloc_release)  # before the model's allocations
        self.pairs = self._pairs(train_path)
        reader = self.pairs.clips.reader
        self.speakers = list(self.pairs.speakers)
        self.val = MeshSeqDataset(val_path, self.speakers) if val_path.is_file() else None
        if self.val is not None and faces_sha256(self.val.faces) != faces_sha256(reader.faces):
            raise TrainingSetupError(f"{val_path}: topology differs from {train_path} (faces do not match)")
        if self.val is None and info.is_main:
            log.warning("%s not found: no validation, best.pt follows the last epoch", val_path)
        if self.val is not None and len(self.val) == 0:
            if info.is_main:
                log.warning("%s has no clips: no validation, best.pt follows the last epoch", val_path)
            self.val = None
        n_v = reader.n_vertices
        template0 = reader.template(self.speakers[0])
        self.meta = RunMeta(
            speakers=self.speakers, emotions=list(EMOTIONS), intensities=list(INTENSITIES), faces=reader.faces,
            n_vertices=n_v, topology=str(reader.attrs.get("topology", "")), topology_sha256=faces_sha256(reader.faces),
            model_name=str(reader.attrs.get("model", "")), fps=reader.fps, sample_rate=reader.sample_rate,
            templates={s: reader.template(s) for s in self.speakers}, regions=dict(reader.regions),
        )
        self.model = build_model(cfg.model, reader.faces, n_v, len(self.speakers), template0).to(self.device)
        self.pair_model = PairModel(self.model, cfg.schedule, cross=self.pairs.cross,
                                    share_anchor_cnn=cfg.train.share_anchor_cnn)
        self.ddp = self.pair_model
        if info.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = DistributedDataParallel(self.pair_model, device_ids=ids)
        self.stepper = OptimizerStep([p for p in self.model.parameters() if p.requires_grad], cfg.optim, release,
                                     distributed=info.enabled)
        self.optimizer = self.stepper.optimizer
        self.sampler = DistributedSampler(self.pairs, num_replicas=info.world_size, rank=info.rank, shuffle=True,
                                          seed=cfg.train.seed)
        self.gen = torch.Generator().manual_seed(cfg.train.seed * 1000 + info.rank + 1)
        torch.manual_seed(cfg.train.seed + info.rank)
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.best = {"val_lve": math.inf, "epoch": -1}
        self.history: list[dict] = []
        if self.resume:
            self._load_resume()
        if info.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.run_dir.mkdir(parents=True, exist_ok=True)
            dump_yaml(cfg, self.run_dir / "config.yaml")

            self.writer = SummaryWriter(str(self.run_dir / "events"))

    def _pairs(self, train_path: Path) -> PairDataset:
        """The training pairs; without any cross-reconstruction pair, every clip trains alone (no L_cross).

        ``pairs.cross_reconstruction`` (None = decide from the data) is resolved here, so the
        run's ``config.yaml`` records whether the cross term was used.
        """
        cfg, info = self.cfg, self.info
        want = cfg.pairs.cross_reconstruction
        pairs = PairDataset(train_path, None, cfg.train.seed, cfg.pairs.match_intensity, cross=want is not False)
        if len(pairs.clips) == 0:
            raise TrainingSetupError(f"{train_path}: the training split has no clips")
        if pairs.cross and len(pairs) == 0:
            if want:
                raise TrainingSetupError(f"{train_path}: no cross-reconstruction pairs (clips of one subject, statement "
                                    "and repetition with different emotions) but pairs.cross_reconstruction is true")
            pairs = PairDataset(train_path, None, cfg.train.seed, cfg.pairs.match_intensity, cross=False)
            if info.is_main:
                log.warning("%s has no cross-reconstruction pairs (clips of one subject, statement and repetition "
                            "with different emotions, e.g. VOCASET): training without the cross term L_cross "
                            "(pairs.cross_reconstruction: false in config.yaml)", train_path)
        cfg.pairs.cross_reconstruction = pairs.cross
        if pairs.cross and pairs.unpaired and info.is_main:
            log.warning("%d training clips have no partner and are not used (e.g. %s)", len(pairs.unpaired),
                        pairs.unpaired[0])
        return pairs

    def _load_resume(self) -> None:
        path = self.run_dir / "checkpoints" / "last.pt"
        state = read_checkpoint(path, map_location=self.device)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.stepper.restore_options()
        self.epoch, self.step_in_epoch = int(state["epoch"]), int(state["step_in_epoch"])
        self.global_step = int(state["global_step"])
        self.best = dict(state["best"])
        rngs = state["rng"]
        if len(rngs) == self.info.world_size:
            restore_rng(rngs[self.info.rank], self.gen)
        elif self.info.is_main:
            log.warning("%s was written by %d processes, resuming with %d: random streams restart", path, len(rngs),
                        self.info.world_size)
        mpath = self.run_dir / "metrics.json"
        if mpath.is_file():
            self.history = [e for e in json.loads(mpath.read_text())["epochs"] if e["epoch"] < self.epoch]
        if self.info.is_main:
            log.info("resumed %s at epoch %d step %d (global step %d)", path, self.epoch, self.step_in_epoch,
                     self.global_step)

    # ------------------------------------------------------------------ state
    def _state(self, epoch: int, step_in_epoch: int) -> dict:
        rng = capture_rng(self.gen)
        if self.info.enabled:
            gathered: list = [None] * self.info.world_size
            dist.all_gather_object(gathered, rng)
            rng_list = gathered
        else:
            rng_list = [rng]
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "epoch": epoch,
            "step_in_epoch": step_in_epoch, "global_step": self.global_step, "best": dict(self.best),
            "rng": rng_list, "config": to_dict(self.cfg), "meta": self.meta.to_state(),
            "encoder_configs": self.model.encoder_configs(),
        }

    def _save(self, epoch: int, step_in_epoch: int, names: list[str]) -> None:
        state = self._state(epoch, step_in_epoch)  # collective: every rank takes part
        if self.info.is_main:
            for name in names:
                save_checkpoint(self.run_dir / "checkpoints" / f"{name}.pt", state)

    def _write_metrics(self) -> None:
        if not self.info.is_main:
            return
        write_json_atomic(self.run_dir / "metrics.json", {
            "run": self.cfg.name, "epochs": self.history, "best": self.best, "global_step": self.global_step,
            "world_size": self.info.world_size, "speakers": self.speakers,
            "ddp_weight_sha256": getattr(self, "rank_hashes", None),
        })

    # ------------------------------------------------------------------ loop
    def _p_gt(self, epoch: int) -> float:
        s = self.cfg.schedule
        if s.kind == "teacher_forcing":
            return 1.0
        if s.kind == "autoregressive":
            return 0.0
        return gt_probability(epoch, self.cfg.train.epochs, s.theta)

    def _random(self, batch) -> StepRandom:
        b = batch.vertices1.shape[0]
        s = self.cfg.schedule
        keep_p = 1.0 - self.cfg.model.emotion_label.dropout
        u1 = draw_uniform(b, batch.vertices1.shape[1], s, self.gen)
        u2 = draw_uniform(b, batch.vertices2.shape[1], s, self.gen)
        keep = (torch.rand(2, b, generator=self.gen) < keep_p).float()
        return StepRandom(u1, u2, keep[0], keep[1])

    def _step(self, batch, p_gt: float, epoch: int, k: int) -> dict[str, float]:
        out = self.ddp(batch, p_gt, self._random(batch))
        lc = self.cfg.loss
        cross = out.cross_target
        terms = pair_losses(out.self_target.final, out.gt_self, cross.final if cross else None, out.gt_cross,
                            out.logits, out.labels, lc)
        total = terms.total
        w1 = self.cfg.schedule.stage1_loss_weight
        if w1 > 0 and out.self_target.stage1 is not None:
            s1 = sequence_losses(out.self_target.stage1, out.gt_self, lc.intermediate)
            if cross is not None:
                s2 = sequence_losses(cross.stage1, out.gt_cross, lc.intermediate)
                total = total + w1 * (lc.self_weight * s1[0] + lc.cross_weight * s2[0] + lc.velocity_weight * (s1[1] + s2[1]))
            else:
                total = total + w1 * (lc.self_weight * s1[0] + lc.velocity_weight * s1[1])
        finite = bool(torch.isfinite(total))
        if self.info.enabled:
            flag = torch.tensor([0.0 if finite else 1.0], device=self.device)
            dist.all_reduce(flag)
            if flag.item() > 0 and finite:
                raise NonFiniteLossError(f"non-finite loss on another rank at epoch {epoch} step {k}")
        if not finite:
            bad = ", ".join(f"{n}={float(v.detach())}" for n, v in terms.terms.items())
            raise NonFiniteLossError(f"non-finite loss {float(total.detach())} ({bad}) at epoch {epoch} step {k} "
                                     f"(global step {self.global_step}), clips {batch.names()}")
        self.stepper.backward_and_step(total)  # backward, Adam (memory options: emoface/train/memory.py)
        stats = {"loss": float(total.detach()), **{n: float(v.detach()) for n, v in terms.terms.items()}}
        targets = [out.self_target] + ([cross] if cross is not None else [])
        gt_in = sum(t.gt_inputs for t in targets)
        n_in = sum(t.inputs for t in targets)
        stats["gt_ratio"] = gt_in / max(n_in, 1)
        return stats

    def close(self) -> None:
        """Drop the DDP wrapper (its reducer holds the process group), so that the group can be destroyed
        after it: the trainer steps the plain pair model from then on, as in a single process."""
        if hasattr(self, "pair_model"):
            self.ddp = self.pair_model

    def run(self) -> dict:
        """Train to ``cfg.train.epochs`` (or ``max_steps``); returns the metrics written to metrics.json."""
        self._setup()
        cfg, info = self.cfg, self.info
        bs = cfg.train.batch_size
        collate = _Collate(self.meta.fps, self.meta.sample_rate)
        start_epoch, skip = self.epoch, self.step_in_epoch
        if cfg.schedule.kind == "self_growing" and cfg.train.epochs <= cfg.schedule.theta + 1:  # p_gt(theta) = cos 0 = 1
            log.warning("train.epochs %d <= schedule.theta %d + 1: the self-growing schedule never leaves teacher forcing "
                        "(scale schedule.theta with the run's length)", cfg.train.epochs, cfg.schedule.theta)
        for epoch in range(start_epoch, cfg.train.epochs):
            t0 = time.time()
            self.pair_model.train()
            p_gt = self._p_gt(epoch)
            self.pairs.set_epoch(epoch)
            self.sampler.set_epoch(epoch)
            order = list(self.sampler)
            batches = [order[i : i + bs] for i in range(0, len(order), bs)]
            first = skip if epoch == start_epoch else 0
            loader = DataLoader(self.pairs, batch_sampler=batches[first:], collate_fn=collate,
                                num_workers=cfg.train.num_workers,
                                generator=torch.Generator().manual_seed(cfg.train.seed + epoch))
            sums = {k: 0.0 for k in ("loss", *TERMS, "gt_ratio")}
            n = 0
            for k, batch in enumerate(loader, start=first):
                if cfg.optim.lr_schedule == "cosine":
                    lr = cosine_lr(cfg.optim.lr, epoch * len(batches) + k, cfg.train.epochs * len(batches))
                    for group in self.optimizer.param_groups:
                        group["lr"] = lr
                stats = self._step(batch.to(self.device), p_gt, epoch, k)
                self.global_step += 1
                n += 1
                for key in sums:
                    sums[key] += stats[key]
                if self.writer is not None and self.global_step % max(1, cfg.train.log_every) == 0:
                    for key, v in stats.items():
                        self.writer.add_scalar(f"step/{key}", v, self.global_step)
                if self.max_steps is not None and self.global_step >= self.max_steps:
                    self._save(epoch, k + 1, ["last"])
                    self._finish()
                    return self._summary(stopped=True)
            totals = all_sum([n, *sums.values()], self.device, info)
            means = {key: v / max(totals[0], 1) for key, v in zip(sums, totals[1:])}
            entry = {"epoch": epoch, "p_gt": p_gt, "steps": int(totals[0]), "train": means,
                     "lr": float(self.optimizer.param_groups[0]["lr"])}
            last = epoch == cfg.train.epochs - 1
            if self.val is not None and (last or (epoch + 1) % max(1, cfg.train.val_every) == 0):
                res = validate(self.model, self.val, self.device, info, cfg.train.val_speaker, cfg.train.val_max_clips)
                entry["val"] = res.to_dict()
            entry["seconds"] = time.time() - t0
            names = ["last"]
            score = entry.get("val", {}).get("lve", math.nan if self.val is not None else -epoch)
            if not math.isnan(score) and score < self.best["val_lve"]:
                self.best = {"val_lve": score, "epoch": epoch}
                names.append("best")
            if cfg.train.keep_every and (epoch + 1) % cfg.train.keep_every == 0:
                names.append(f"epoch_{epoch:04d}")
            self.history.append(entry)
            self._save(epoch + 1, 0, names)
            self._log_epoch(entry)
            self._write_metrics()
        self._finish()
        return self._summary(stopped=False)

    def _log_epoch(self, entry: dict) -> None:
        if not self.info.is_main:
            return
        e = entry["epoch"]
        for key, v in entry["train"].items():
            self.writer.add_scalar(f"train/{key}", v, e)
        self.writer.add_scalar("schedule/p_gt", entry["p_gt"], e)
        val = entry.get("val")
        if val:
            for key in METRICS:
                if not math.isnan(val.get(key, math.nan)):
                    self.writer.add_scalar(f"val/{key}", val[key], e)
        self.writer.flush()
        msg = f"epoch {e + 1}/{self.cfg.train.epochs} loss {entry['train']['loss']:.4f} p_gt {entry['p_gt']:.3f}"
        if val:
            msg += f" val LVE {val['lve'] / 1e-5:.4f}e-5 (template {val['template_lve'] / 1e-5:.4f}e-5)"
        log.info("%s [%.1fs]", msg, entry["seconds"])
        if val and collapsed(val.get("mesh_attention_weight", math.nan)):
            log.warning("epoch %d: Mesh Attention has collapsed onto the %s branch (mean emotion weight %.2g on the "
                        "validation clips): its sigmoid is saturated and the other branch no longer shapes the "
                        "motion; try another train.seed or a lower optim.lr (docs/model.md, 'Mesh Attention collapse')",
                        e + 1, "content" if val["mesh_attention_weight"] < 0.5 else "emotion", val["mesh_attention_weight"])

    def _finish(self) -> None:
        if self.info.enabled:
            hashes: list = [None] * self.info.world_size
            dist.all_gather_object(hashes, weights_sha256(self.model))
            self.rank_hashes = hashes
            if len(set(hashes)) != 1:
                raise TrainingError(f"DDP ranks hold different weights: {hashes}")
        self._write_metrics()
        if self.writer is not None:
            self.writer.close()
        if self.stepper.in_backward is not None:  # the hooks would keep the optimiser alive with the model
            self.stepper.in_backward.remove()

    def _summary(self, stopped: bool) -> dict:
        return {"run_dir": str(self.run_dir), "epochs": self.history, "best": self.best, "global_step": self.global_step,
                "stopped_early": stopped, "ddp_weight_sha256": getattr(self, "rank_hashes", None)}


class _Collate:
    """Picklable collate function (DataLoader workers)."""

    def __init__(self, fps: float, sample_rate: int):
        self.fps, self.sample_rate = fps, sample_rate

    def __call__(self, items):
        return collate_pairs(items, self.fps, self.sample_rate)
