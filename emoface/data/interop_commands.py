"""``emoface export-faceformer`` (data interop with the field's tools); ``emoface import-vocaset`` now points to ``build-dataset vocaset``."""

from __future__ import annotations

from pathlib import Path

import typer

from emoface.utils.cli import fail

#: lets ``emoface import-vocaset ANY ARGS`` reach the message instead of a usage error
MOVED_COMMAND_SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def import_vocaset_cmd() -> None:
    """Moved: VOCASET is built by ``build-dataset vocaset`` (dataset construction lives in ``pipeline``)."""
    raise fail("`emoface import-vocaset` was replaced by `build-dataset vocaset SRC --out OUT` "
               "(same arguments; `python -m pipeline vocaset --help`)", 2)


def export_faceformer_cmd(
    splits: list[Path] = typer.Argument(..., help="Split files (.h5), e.g. OUT/train.h5 OUT/val.h5 OUT/test.h5."),
    out: Path = typer.Option(..., "--out", help="Folder to write vertices_npy/, wav/, templates.pkl into."),
    fps: float = typer.Option(60.0, "--fps", help="60 (default: FaceFormer's VOCASET loader keeps every 2nd frame) or 30."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a folder that already holds an export."),
) -> None:
    """Export HDF5 splits to FaceFormer's layout (vertices_npy/*.npy, wav/*.wav, templates.pkl)."""
    from rich.console import Console

    from emoface.data.faceformer import ExportError, export_faceformer
    from emoface.data.schema import SchemaError

    console = Console(highlight=False)
    try:
        report = export_faceformer(splits, out, fps=fps, overwrite=overwrite)
    except (ExportError, SchemaError) as exc:
        raise fail(exc, 1) from exc
    console.print(f"wrote {report.clips} clips at {report.fps:g} fps to {out}")
    for split, subjects in report.subjects.items():
        console.print(f"  {split} subjects: {' '.join(subjects)}")
