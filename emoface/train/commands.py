"""``emoface train``: the command line around :func:`emoface.train.workflow.train` (also under ``torchrun``, DDP)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from emoface.utils.cli import fail

__all__ = ["train"]


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
    from emoface.data.schema import InvalidSplitError, SchemaError
    from emoface.model.conditioning import ConditionError
    from emoface.model.encoders import EncoderError
    from emoface.train.checkpoint import CheckpointError
    from emoface.train.trainer import TrainingError, TrainingSetupError
    from emoface.train.workflow import RunFolderError, parse_overrides
    from emoface.train.workflow import train as train_run
    from emoface.utils.config import ConfigError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        result = train_run(config, data, out, resume=resume, overwrite=overwrite, epochs=epochs, max_steps=max_steps,
                           device=device, overrides=parse_overrides(set_))
    except (ConfigError, RunFolderError, InvalidSplitError, TrainingSetupError) as exc:  # setup errors (InvalidSplitError: `emoface validate`'s checks)
        raise fail(str(exc), 2) from exc
    except (TrainingError, EncoderError, CheckpointError, SchemaError, ConditionError) as exc:  # the run failed
        raise fail(str(exc), 1) from exc
    if result.is_main:
        typer.echo(f"{result.run_dir}: {result.global_step} steps; best val LVE {result.best_val_lve:.6g} m^2 at epoch "
                   f"{result.best_epoch + 1}" + (" (stopped at --max-steps)" if result.stopped_early else ""))
