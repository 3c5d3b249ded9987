"""Training a run from Python: :func:`train` (what ``emoface train`` calls), and the run folder rules.

    from emoface.train import train
    result = train("configs/emoface-small.yaml", "OUT", "runs/small", overrides={"train.epochs": 3})
    print(result.best_val_lve, result.run_dir / "checkpoints" / "best.pt")

Under ``torchrun`` (DDP) every rank calls :func:`train` with the same arguments: rank 0 alone
prepares the run folder, the others wait at a barrier, and every rank returns a
:class:`TrainResult` (``is_main`` tells which one should report). Errors are typed:
:class:`~emoface.utils.config.ConfigError`, :class:`RunFolderError` and
:class:`~emoface.data.schema.InvalidSplitError` are setup errors (nothing was trained);
:data:`TRAIN_FAILURES` are failures of the run itself.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from emoface.train.config import ExperimentConfig
from emoface.utils.config import ConfigError, apply_overrides, from_dict, load_yaml, to_dict

__all__ = [
    "RUN_FILES",
    "RUN_DIRS",
    "RESUMABLE_KEYS",
    "RunFolderError",
    "TrainResult",
    "train",
    "resolve_config",
    "prepare_run_dir",
    "parse_overrides",
    "clean_stale_temporaries",
    "has_checkpoint",
]

log = logging.getLogger("emoface.train")

RUN_FILES = ("config.yaml", "metrics.json")
RUN_DIRS = ("checkpoints", "events")
#: the only settings that may change when a run is resumed: where and how long it runs, and the options
#: that change no result beyond float rounding (Adam's kernel, the step in backward, the allocator)
RESUMABLE_KEYS = frozenset({"train.epochs", "train.device", "train.threads", "train.num_workers", "optim.fused",
                            "optim.foreach", "optim.step_in_backward", "train.malloc_release"})


class RunFolderError(ValueError):
    """A run folder that the rules forbid to use as asked (exists, nothing to resume...); names the folder."""


@dataclass(frozen=True)
class TrainResult:
    """What one call of :func:`train` did.

    ``best_epoch`` is 0-based (-1: no epoch finished); ``best_val_lve`` is the validation LVE
    (m^2) of ``checkpoints/best.pt`` (without a validation split the trainer scores epochs by
    ``-epoch``, so it follows the last one). ``epochs`` are the per-epoch entries of
    ``metrics.json``. ``is_main`` is False on DDP ranks other than 0.
    """

    run_dir: Path
    config: ExperimentConfig
    global_step: int
    best_epoch: int
    best_val_lve: float
    stopped_early: bool
    resumed: bool
    is_main: bool = True
    epochs: list[dict] = field(default_factory=list)


def parse_overrides(items: list[str]) -> dict[str, object]:
    """``["train.epochs=3", "model.fusion=add"]`` -> ``{"train.epochs": 3, "model.fusion": "add"}`` (values as YAML).

    Raises :class:`ConfigError` naming the item that is not ``key=value`` or not valid YAML.
    """
    import yaml

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML ({exc.__class__.__name__})") from exc
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
    - ``resume`` continues from ``last.pt``; when the run has no checkpoint yet (it was
      stopped before its first checkpoint, or the folder is new) it starts from scratch with a note;
    - without ``resume``, a folder holding a checkpoint is never reused unless ``overwrite``
      wipes it; leftovers of a run stopped before its first checkpoint are replaced with a note.

    Raises :class:`RunFolderError` when the folder may not be used as asked.
    """
    for tmp in clean_stale_temporaries(run_dir):
        log.info("removed %s (temporary file of an interrupted write)", tmp)
    has_run = any((run_dir / n).exists() for n in RUN_FILES + RUN_DIRS)
    finished = has_checkpoint(run_dir)
    if resume and finished:
        return True
    if resume:
        others = sorted(p.name for p in (run_dir / "checkpoints").glob("*.pt")) if has_run else []
        if others:
            raise RunFolderError(f"{run_dir}: nothing to resume (no checkpoints/last.pt, but {', '.join(others)}); "
                                 "use --overwrite to start again")
        log.warning("%s: no checkpoint to resume yet%s: starting from scratch", run_dir,
                    " (the earlier run stopped before its first checkpoint)" if has_run else "")
    elif finished and not overwrite:
        raise RunFolderError(f"{run_dir}: run folder already exists; use --resume to continue it or --overwrite "
                             "to start again")
    elif has_run and not overwrite:
        others = sorted(p.name for p in (run_dir / "checkpoints").glob("*.pt"))
        if others:
            raise RunFolderError(f"{run_dir}: run folder holds {', '.join(others)}; use --overwrite to start again")
        log.warning("%s: the earlier run stopped before its first checkpoint: starting again", run_dir)
    if has_run:
        for n in RUN_DIRS:
            shutil.rmtree(run_dir / n, ignore_errors=True)
        for n in RUN_FILES:
            (run_dir / n).unlink(missing_ok=True)
    return False


def resolve_config(
    config: ExperimentConfig | str | Path | None,
    out: str | Path | None,
    resume: bool,
    overrides: Mapping[str, object],
) -> tuple[ExperimentConfig, Path]:
    """The run's config and folder: defaults < ``config`` (a YAML preset or a config) < ``overrides``.

    When resuming a run that saved its ``config.yaml``, that file wins: only
    :data:`RESUMABLE_KEYS` may be overridden, and a ``config`` that differs from it otherwise
    is a :class:`ConfigError`.
    """
    overrides = dict(overrides)
    if isinstance(config, ExperimentConfig):
        cfg = from_dict(ExperimentConfig, apply_overrides(to_dict(config), overrides), "config")
    else:
        cfg = load_yaml(ExperimentConfig, config, overrides)
    run_dir = Path(out) if out is not None else Path("runs") / cfg.name
    saved = run_dir / "config.yaml"
    if resume and saved.is_file():
        run_cfg = load_yaml(ExperimentConfig, saved, {k: v for k, v in overrides.items() if k in RESUMABLE_KEYS})
        ignore = set(RESUMABLE_KEYS) | ({"pairs.cross_reconstruction"} if cfg.pairs.cross_reconstruction is None else set())
        if config is not None and _differs(to_dict(cfg), to_dict(run_cfg), ignore):
            where = config if not isinstance(config, ExperimentConfig) else "the given config"
            raise ConfigError(f"{where}: differs from the run's {saved}; resume without --config "
                              f"(only {', '.join(sorted(RESUMABLE_KEYS))} may change) or start a new --out")
        cfg = run_cfg
    return cfg, run_dir


def train(
    config: ExperimentConfig | str | Path | None,
    data: str | Path,
    out: str | Path | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    epochs: int | None = None,
    max_steps: int | None = None,
    device: str | None = None,
    overrides: Mapping[str, object] | None = None,
) -> TrainResult:
    """Train EmoFace (or an ablation) on ``data`` (a folder with ``train.h5`` and ``val.h5``).

    Args:
        config: a YAML preset (``configs/emoface-small.yaml``), an :class:`ExperimentConfig`,
            or None for the defaults.
        out: the run folder (default ``runs/<config name>``); see :func:`prepare_run_dir`.
        resume: continue from ``out/checkpoints/last.pt`` (a run without one starts from scratch).
        overwrite: delete an existing run in ``out`` and start again.
        epochs, device: override ``train.epochs`` / ``train.device`` (also when resuming).
        max_steps: stop with a checkpoint after this many steps in total.
        overrides: dotted config overrides, ``{"model.fusion": "add"}``.

    Raises:
        ConfigError, RunFolderError, InvalidSplitError, TrainingSetupError: setup errors, nothing was trained.
        TrainingError, EncoderError, CheckpointError, SchemaError, ConditionError: the run failed.
    """
    from emoface.train.distributed import shutdown_distributed
    from emoface.train.trainer import Trainer

    extra = dict(overrides or {})
    if epochs is not None:
        extra["train.epochs"] = epochs
    if device is not None:
        extra["train.device"] = device
    cfg, run_dir = resolve_config(config, out, resume, extra)
    rank = int(os.environ.get("RANK", "0"))
    resuming = resume and has_checkpoint(run_dir)  # decided before rank 0 touches the folder, the same on every rank
    if rank == 0:
        prepare_run_dir(run_dir, resume, overwrite)  # the trainer writes config.yaml
    trainer = None
    try:
        import torch.distributed as dist

        trainer = Trainer(cfg, data, run_dir, resume=resuming, max_steps=max_steps)
        if dist.is_initialized():
            dist.barrier()
        summary = trainer.run()
        if dist.is_initialized():  # every rank done with its collectives before any tears the group down
            dist.barrier()
    finally:
        # the trainer's DDP wrapper (its reducer holds the process group) goes before the group: a gloo
        # group destroyed under a live reducer could abort one rank at exit ("terminate called without
        # an active exception", seen once in CI). close() drops it even when a traceback still holds
        # the trainer; collect() frees the wrapper's reference cycle
        if trainer is not None:
            trainer.close()
        trainer = None
        gc.collect()
        shutdown_distributed()
    best = summary["best"]
    return TrainResult(
        run_dir=run_dir, config=cfg, global_step=int(summary["global_step"]), best_epoch=int(best["epoch"]),
        best_val_lve=float(best["val_lve"]), stopped_early=bool(summary["stopped_early"]), resumed=resuming,
        is_main=rank == 0, epochs=list(summary["epochs"]),
    )


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
