"""``build-dataset ravdess``: the command line around :func:`pipeline.build.build_ravdess`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from pipeline.detectors.registry import DETECTORS
from pipeline.executors import EXECUTORS
from pipeline.stages.registry import REGISTRY

if TYPE_CHECKING:
    from pipeline.build import BuildSummary

__all__ = ["ravdess"]

# defaults: the shipped configs/ravdess.yaml and configs/split-paper.yaml (emoface.utils.resources)
_DEFAULT_CONFIG = "ravdess.yaml"
_DEFAULT_SPLIT = "split-paper.yaml"


def ravdess(
    root: Path = typer.Option(..., "--root", help="RAVDESS folder: Actor_XX/ folders, Video_Speech_Actor_XX.zip archives or a flat folder."),
    out: Path = typer.Option(..., "--out", help="Output folder (work/, qa/, train/val/test.h5); a rerun resumes."),
    model: Optional[str] = typer.Option(None, "--model", help="'demo' (the bundled demo head, default) or the path of a FLAME model file."),
    workers: int = typer.Option(1, "--workers", min=1, help="Local worker processes (1: run in this process)."),
    gpus: int = typer.Option(0, "--gpus", min=0, help="One fitting worker per CUDA device; stops at once when fewer are visible."),
    executor: str = typer.Option("local", "--executor", help=f"Where the tasks run: {', '.join(EXECUTORS)} (ray: optional extra 'cluster')."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address ('auto', HOST:PORT); default: a local instance."),
    actors: Optional[str] = typer.Option(None, "--actors", help="Actors to build, e.g. 1-24 or 1,3,5-7 (default: all found)."),
    split: Optional[Path] = typer.Option(None, "--split", help="Split config (default configs/split-paper.yaml: 01-20 / 21-22 / 23-24)."),
    force: Optional[str] = typer.Option(None, "--force", help=f"Redo this stage and every later one: {', '.join(REGISTRY.names)}."),
    download: bool = typer.Option(False, "--download", help="Fetch the Video_Speech_Actor_XX.zip archives of Zenodo record 1188976 into --root first."),
    config: Optional[Path] = typer.Option(None, "--config", help="Build config overrides (default configs/ravdess.yaml)."),
    detector: Optional[str] = typer.Option(None, "--detector", help=f"Landmark detector: {', '.join(DETECTORS.names)} (default {DETECTORS.default}; docs/pipeline.md, 'Detectors')."),
    oracle: bool = typer.Option(False, "--oracle", help="Where the corpus has ground truth (build-dataset synth), also fit those clips from their true landmarks (+ oracle.noise_px noise, default 1 px) and report the oracle's measures beside the build's (docs/fitting.md, 'The oracle'); a second fit of each such clip."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bars (default: when stderr is a terminal)."),
) -> None:
    """Build 3D-RAVDESS: decode, landmarks, fit, smooth, canonical, qa, package (resumable, parallel)."""
    from emoface.utils.config import ConfigError
    from emoface.utils.resources import config_file
    from pipeline.build import BuildLocked, SetupError, build_ravdess
    from pipeline.executors import ExecutorUnavailable
    from pipeline.executors.local import GPUError
    from pipeline.detectors import DetectorError
    from pipeline.stages.config import load_build_config, load_split
    from pipeline.sources.zenodo import DownloadError

    import signal

    def _stop(signum, frame):  # SIGTERM: stop the workers too, like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        cfg_path = config if config is not None else config_file(_DEFAULT_CONFIG)
        overrides = {"model": model} if model else {}
        if detector:
            overrides["landmarks.detector"] = detector
        if oracle:
            overrides["oracle.enabled"] = True
        cfg = load_build_config(cfg_path, overrides or None)
        split_cfg = load_split(split if split is not None else config_file(_DEFAULT_SPLIT))
        summary = build_ravdess(root, out, cfg, split=split_cfg, actors=actors, force=force, workers=workers, gpus=gpus,
                                executor=executor, address=address, download=download, progress=progress)
    except (GPUError, ExecutorUnavailable, DownloadError, BuildLocked, SetupError, ConfigError, DetectorError,
            FileNotFoundError, PermissionError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except OSError as exc:  # the run itself failed (e.g. the disk filled up while writing build.json)
        from pipeline.build import os_error_line

        typer.echo(f"error: {os_error_line(exc)}", err=True)
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        typer.echo("interrupted: finished artefacts are kept; rerun the same command to resume", err=True)
        raise typer.Exit(130) from None

    _print_summary(summary)
    raise typer.Exit(summary.exit_code)


def _print_summary(summary: BuildSummary) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    console.print(f"[bold]{summary.n_ok}/{summary.n_clips}[/] clips built in {summary.seconds:.1f} s ({summary.executor}); "
                  f"{summary.filtered} input(s) filtered out")
    for note in summary.notes:
        console.print(f"[bold yellow]note:[/] {note}", markup=True, highlight=False)
    for name, info in summary.splits.items():
        console.print(f"  {name}: {info.clips} clips, {info.status}" + (f" -> {info.path}" if info.path else ""))
    if summary.report:
        console.print(f"  QA report: {summary.report.path} ({summary.report.status})")
    problems = [("input", b.path, b.reason) for b in summary.bad_inputs]
    problems += [(f.stage, f.clip_id or "-", f.reason) for f in summary.failures]
    if problems:
        table = Table(title=f"{len(problems)} failure(s)", show_lines=False)
        table.add_column("stage")
        table.add_column("clip / entry", overflow="fold")
        table.add_column("reason", overflow="fold")
        for row in problems[:50]:
            table.add_row(*row)
        console.print(table)
        if len(problems) > 50:
            console.print(f"  ... and {len(problems) - 50} more: see {summary.out}/build.json")
