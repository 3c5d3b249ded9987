"""``build-dataset synth``: write the generated RAVDESS-shaped corpus with ground truth."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import List, Optional

import typer


def synth(
    out: Path = typer.Option(..., "--out", help="Corpus folder (Actor_XX/*.mp4 and ground_truth/*.npz are written here)."),
    actors: int = typer.Option(24, "--actors", min=1, max=24, help="Actors 1..N (odd male, even female)."),
    clips_per_actor: int = typer.Option(60, "--clips-per-actor", min=1, max=60, help="60 = every speech trial; fewer = a balanced subset."),
    seed: int = typer.Option(0, "--seed", help="Corpus seed: the same seed gives the same ground truth."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes (one clip per task)."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Frame rate (default 30; 29.97 like real RAVDESS)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML overrides of SynthConfig (e.g. configs/synth.yaml)."),
    photo: Optional[List[str]] = typer.Option(
        None, "--photo", help="A frontal face photograph (image file, or the built-in astronaut / grace_hopper); "
        "repeat it for several: actors alternate among them in order. Default: astronaut, grace_hopper.",
    ),
) -> None:
    """Generate a RAVDESS-shaped corpus (eSpeak NG speech, a textured face driven by the demo head)
    with per-clip ground truth (demo-head parameters, vertices, phonemes, camera).

    eSpeak NG (GPL-3.0-or-later) is called at run time from the espeakng-loader wheel; the face
    photographs alternate by actor: skimage's astronaut (NASA) and Grace Hopper's official
    portrait (US Navy), both public domain. A rerun finishes an interrupted corpus.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from emoface.utils.config import ConfigError, dump_yaml, load_yaml
    from pipeline.sources.synth.config import SynthConfig
    from pipeline.sources.synth.corpus import generate_corpus

    console = Console(stderr=True)
    try:
        cfg = load_yaml(SynthConfig, config)
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if photo:
        from pipeline.sources.synth.photoset import BUILTIN

        cfg = dataclasses.replace(cfg, photos=tuple(p if p in BUILTIN else str(Path(p).expanduser().resolve()) for p in photo))
    if fps is not None and fps <= 0:
        console.print(f"[red]error:[/red] --fps must be positive, got {fps}")
        raise typer.Exit(2)
    from pipeline.sources.synth.photoset import resolve_photos

    try:  # before anything is written: each photo readable, with a face (generate_corpus checks again)
        resolve_photos(cfg.photos)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    with Progress(
        TextColumn("[bold]synth[/bold]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        TextColumn("{task.description}"), console=console, transient=False,
    ) as bar:
        task = bar.add_task("", total=None)

        def progress(result, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"{result.clip_id} {result.status}")

        try:
            result = generate_corpus(out, actors, clips_per_actor, seed, workers, fps, cfg, progress=progress)
        except ValueError as exc:
            console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
            raise typer.Exit(2) from exc
    dump_yaml(dataclasses.replace(cfg, fps=float(fps)) if fps is not None else cfg, out / "synth_config.yaml")
    console.print(
        f"{out}: {result.count('done')} generated, {result.count('skipped')} already there, "
        f"{len(result.failed)} failed in {result.seconds:.1f} s"
    )
    for clip in result.failed:
        console.print(f"[red]failed[/red] {clip.clip_id}: {clip.error}")
    if result.failed:
        raise typer.Exit(1)
