"""``emoface diagnose``: the diagnostics of :mod:`emoface.eval.diagnose` for one trained run (a thin wrapper)."""

from __future__ import annotations

from pathlib import Path

import typer

from emoface.utils.cli import fail


def diagnose(
    run: Path = typer.Option(..., "--run", help="Trained run folder (runs/NAME) with its metrics.json."),
    data: Path = typer.Option(..., "--data", help="Dataset folder: train.h5, the held-out split, and val.h5 if there is one."),
    split: str = typer.Option("test", "--split", help="Held-out split of unseen actors to measure on."),
    out: Path | None = typer.Option(None, "--out", help="Report folder (default: RUN/diagnose/SPLIT)."),
    max_clips: int | None = typer.Option(None, "--max-clips", help="Held-out clips for the region drive (default: all)."),
    max_pairs: int = typer.Option(24, "--max-pairs", help="Cross-reconstruction pairs per split for the final losses."),
    which: str = typer.Option("best", "--which", help="Checkpoint: best, last or an epoch file name."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch."),
) -> None:
    """Why a run does (not) beat the single branch: its emotion head and feature probes on unseen actors, how much
    each branch drives the lips, eye region and forehead, and its training curves (docs/evaluation.md)."""
    from emoface.data.schema import InvalidSplitError
    from emoface.eval.diagnose import diagnose as run_diagnose
    from emoface.eval.diagnose import diagnosis_dict, render_diagnosis, write_diagnosis
    from emoface.eval.diagnose_curves import CurvesError
    from emoface.eval.workflow import MissingSplitError
    from emoface.train.checkpoint import CheckpointError, RunSetupError

    if threads:
        import torch

        torch.set_num_threads(int(threads))
    try:
        d = run_diagnose(run, data, split, max_clips=max_clips, max_pairs=max_pairs, which=which, device=device,
                         progress=lambda msg: typer.echo(msg, err=True))
    except (MissingSplitError, InvalidSplitError, RunSetupError, CurvesError) as exc:
        raise fail(exc, 2) from exc
    except (CheckpointError, OSError, ValueError, RuntimeError) as exc:
        raise fail(exc, 1) from exc
    r = diagnosis_dict(d)
    json_path, md_path = write_diagnosis(r, out or (run / "diagnose" / split))
    typer.echo(render_diagnosis(r))
    typer.echo(f"wrote {json_path} and {md_path}")
