"""``emoface train``: train EmoFace (or an ablation) on HDF5 splits; also under ``torchrun`` (DDP)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Optional

import typer

__all__ = ["train", "prepare_run_dir", "parse_overrides"]

RUN_FILES = ("config.yaml", "metrics.json")
RUN_DIRS = ("checkpoints", "events")


def parse_overrides(items: list[str]) -> dict:
    """``["train.epochs=3", "model.fusion=add"]`` -> ``{"train.epochs": 3, "model.fusion": "add"}`` (values as YAML)."""
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--set expects key=value, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Check the run folder rules: never reuse a folder without ``--resume`` or wipe it without ``--overwrite``."""
    has_run = any((run_dir / n).exists() for n in RUN_FILES + RUN_DIRS)
    if resume:
        if not (run_dir / "checkpoints" / "last.pt").is_file():
            raise typer.BadParameter(f"{run_dir}: nothing to resume (no checkpoints/last.pt)")
        return
    if has_run and not overwrite:
        raise typer.BadParameter(f"{run_dir}: run folder already exists; use --resume to continue it or --overwrite "
                                 "to start again")
    if has_run and overwrite:
        for n in RUN_DIRS:
            shutil.rmtree(run_dir / n, ignore_errors=True)
        for n in RUN_FILES:
            (run_dir / n).unlink(missing_ok=True)


def train(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML preset, e.g. configs/emoface-small.yaml"),
    data: Path = typer.Option(..., "--data", "-d", help="folder with train.h5 and val.h5"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="run folder (default runs/<name>)"),
    resume: bool = typer.Option(False, "--resume", help="continue from <out>/checkpoints/last.pt"),
    overwrite: bool = typer.Option(False, "--overwrite", help="delete an existing run in <out> and start again"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="override train.epochs (also when resuming)"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="stop with a checkpoint after N steps in total"),
    device: Optional[str] = typer.Option(None, "--device", help="override train.device (auto, cpu, cuda)"),
    set_: list[str] = typer.Option([], "--set", help="config override key=value (repeatable), e.g. model.fusion=add"),
) -> None:
    """Train EmoFace on HDF5 splits (``torchrun --nproc_per_node N -m emoface train ...`` for DDP)."""
    import logging

    import torch.distributed as dist

    from emoface.data.schema import SchemaError
    from emoface.model.conditioning import ConditionError
    from emoface.model.encoders import EncoderError
    from emoface.train.checkpoint import CheckpointError
    from emoface.train.config import ExperimentConfig
    from emoface.train.distributed import shutdown_distributed
    from emoface.train.trainer import Trainer, TrainingError
    from emoface.utils.config import ConfigError, load_yaml, to_dict

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    overrides = parse_overrides(set_)
    if epochs is not None:
        overrides["train.epochs"] = epochs
    if device is not None:
        overrides["train.device"] = device
    try:
        cfg = load_yaml(ExperimentConfig, config, overrides)
        run_dir = out or Path("runs") / cfg.name
        if resume:
            saved = run_dir / "config.yaml"
            if saved.is_file():
                ok_keys = {"train.epochs", "train.device", "train.threads", "train.num_workers"}
                run_cfg = load_yaml(ExperimentConfig, saved, {k: v for k, v in overrides.items() if k in ok_keys})
                if config is not None and _differs(to_dict(cfg), to_dict(run_cfg), ok_keys):
                    raise ConfigError(f"{config}: differs from the run's {saved}; resume without --config "
                                      "(only --epochs/--device may change) or start a new --out")
                cfg = run_cfg
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from exc
    rank = int(__import__("os").environ.get("RANK", "0"))
    if rank == 0:
        prepare_run_dir(run_dir, resume, overwrite)  # the trainer writes config.yaml once set up
    try:
        trainer = Trainer(cfg, data, run_dir, resume=resume, max_steps=max_steps)
        if dist.is_initialized():
            dist.barrier()
        result = trainer.run()
    except (TrainingError, EncoderError, CheckpointError, SchemaError, ConditionError) as exc:
        typer.echo(f"error: {exc}", err=True)
        shutdown_distributed()
        raise typer.Exit(1) from exc
    shutdown_distributed()
    if rank == 0:
        best = result["best"]
        typer.echo(f"{run_dir}: {result['global_step']} steps; best val LVE {best['val_lve']:.6g} m^2 at epoch "
                   f"{best['epoch'] + 1}" + (" (stopped at --max-steps)" if result["stopped_early"] else ""))


def _differs(a: dict, b: dict, ignore: set[str], prefix: str = "") -> bool:
    for k in set(a) | set(b):
        key = f"{prefix}{k}"
        if key in ignore:
            continue
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            if _differs(va, vb, ignore, key + "."):
                return True
        elif va != vb:
            return True
    return False
