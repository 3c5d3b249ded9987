"""``emoface train``: train EmoFace (or an ablation) on HDF5 splits; also under ``torchrun`` (DDP)."""

from __future__ import annotations

import logging
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
        if not sep or not key.strip():
            raise typer.BadParameter(f"--set expects key=value, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise typer.BadParameter(f"--set {item!r}: the value is not valid YAML ({exc.__class__.__name__})") from exc
    return out


def clean_stale_temporaries(run_dir: Path) -> list[Path]:
    """Remove the temporary files of atomic writes (``.NAME.*.tmp*``) that a killed run left behind."""
    removed = []
    for folder in (run_dir, run_dir / "checkpoints"):
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp*"):
                if tmp.is_file():
                    tmp.unlink(missing_ok=True)
                    removed.append(tmp)
    return removed


def has_checkpoint(run_dir: Path) -> bool:
    """Whether the run folder holds finished work (``checkpoints/last.pt``) to resume from."""
    return (run_dir / "checkpoints" / "last.pt").is_file()


def prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> bool:
    """Apply the run folder rules; returns whether the trainer resumes from ``checkpoints/last.pt``.

    - temporaries of a killed run (``.last.pt.*.tmp.pt`` ...) are removed first;
    - ``--resume`` continues from ``last.pt``; when the run has no checkpoint yet (it was
      stopped before its first checkpoint, or the folder is new) it starts from scratch with a note;
    - without ``--resume``, a folder holding a checkpoint is never reused unless ``--overwrite``
      wipes it; leftovers of a run stopped before its first checkpoint are replaced with a note.
    """
    log = logging.getLogger("emoface.train")
    for tmp in clean_stale_temporaries(run_dir):
        log.info("removed %s (temporary file of an interrupted write)", tmp)
    has_run = any((run_dir / n).exists() for n in RUN_FILES + RUN_DIRS)
    finished = has_checkpoint(run_dir)
    if resume and finished:
        return True
    if resume:
        others = sorted(p.name for p in (run_dir / "checkpoints").glob("*.pt")) if has_run else []
        if others:
            raise typer.BadParameter(f"{run_dir}: nothing to resume (no checkpoints/last.pt, but {', '.join(others)}); "
                                     "use --overwrite to start again")
        log.warning("%s: no checkpoint to resume yet%s: starting from scratch", run_dir,
                    " (the earlier run stopped before its first checkpoint)" if has_run else "")
    elif finished and not overwrite:
        raise typer.BadParameter(f"{run_dir}: run folder already exists; use --resume to continue it or --overwrite "
                                 "to start again")
    elif has_run and not overwrite:
        others = sorted(p.name for p in (run_dir / "checkpoints").glob("*.pt"))
        if others:
            raise typer.BadParameter(f"{run_dir}: run folder holds {', '.join(others)}; use --overwrite to start again")
        log.warning("%s: the earlier run stopped before its first checkpoint: starting again", run_dir)
    if has_run:
        for n in RUN_DIRS:
            shutil.rmtree(run_dir / n, ignore_errors=True)
        for n in RUN_FILES:
            (run_dir / n).unlink(missing_ok=True)
    return False


def _fail(message: str, code: int) -> typer.Exit:
    """Print one ``error:`` line to stderr; the caller raises the returned Exit."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def train(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML preset, e.g. configs/emoface-small.yaml"),
    data: Path = typer.Option(..., "--data", "-d", help="folder with train.h5 and val.h5"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="run folder (default runs/<name>)"),
    resume: bool = typer.Option(False, "--resume", help="continue from <out>/checkpoints/last.pt (a run with no checkpoint yet starts from scratch)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="delete an existing run in <out> and start again"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="override train.epochs (also when resuming)"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="stop with a checkpoint after N steps in total"),
    device: Optional[str] = typer.Option(None, "--device", help="override train.device (auto, cpu, cuda)"),
    set_: list[str] = typer.Option([], "--set", help="config override key=value (repeatable), e.g. model.fusion=add"),
) -> None:
    """Train EmoFace on HDF5 splits (``torchrun --nproc_per_node N -m emoface train ...`` for DDP)."""
    import torch.distributed as dist

    from emoface.data.schema import InvalidSplitError, SchemaError
    from emoface.model.conditioning import ConditionError
    from emoface.model.encoders import EncoderError
    from emoface.train.checkpoint import CheckpointError
    from emoface.train.config import ExperimentConfig
    from emoface.train.distributed import shutdown_distributed
    from emoface.train.trainer import Trainer, TrainingError
    from emoface.utils.config import ConfigError, load_yaml, to_dict

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    resume_requested = resume
    try:
        overrides = parse_overrides(set_)
    except typer.BadParameter as exc:
        raise _fail(exc.message, 2) from exc
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
                ignore = ok_keys | ({"pairs.cross_reconstruction"} if cfg.pairs.cross_reconstruction is None else set())
                if config is not None and _differs(to_dict(cfg), to_dict(run_cfg), ignore):
                    raise ConfigError(f"{config}: differs from the run's {saved}; resume without --config "
                                      "(only --epochs/--device may change) or start a new --out")
                cfg = run_cfg
    except ConfigError as exc:
        raise _fail(str(exc), 2) from exc
    rank = int(__import__("os").environ.get("RANK", "0"))
    resume = resume and has_checkpoint(run_dir)  # decided before rank 0 touches the folder, the same on every rank
    if rank == 0:
        try:
            prepare_run_dir(run_dir, resume_requested, overwrite)  # the trainer writes config.yaml
        except typer.BadParameter as exc:
            raise _fail(exc.message, 2) from exc
    try:
        trainer = Trainer(cfg, data, run_dir, resume=resume, max_steps=max_steps)
        if dist.is_initialized():
            dist.barrier()
        result = trainer.run()
    except InvalidSplitError as exc:  # the checks of `emoface validate`: a setup error
        shutdown_distributed()
        raise _fail(str(exc), 2) from exc
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
