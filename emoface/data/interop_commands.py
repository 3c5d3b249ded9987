"""``emoface import-vocaset`` and ``emoface export-faceformer``: data interop with the field's tools."""

from __future__ import annotations

from pathlib import Path

import typer


def import_vocaset_cmd(
    src: Path = typer.Argument(..., help="VOCASET folder: the VOCA files (data_verts.npy, raw_audio_fixed.pkl, templates.pkl, subj_seq_to_idx.pkl) or FaceFormer's vocaset/ (vertices_npy/, wav/, templates.pkl)."),
    out: Path = typer.Option(..., "--out", help="Folder for train.h5, val.h5, test.h5."),
    topology: str = typer.Option(
        "flame", "--topology",
        help="Faces (and regions) of the data: 'flame' ($EMOFACE_FLAME_DIR), a FLAME .pkl/.npz, or a mesh file such as VOCA's FLAME_sample.ply.",
    ),
    masks: Path | None = typer.Option(None, "--masks", help="FLAME_masks.pkl (lips, eye_region, forehead for LVE/EVE); found beside a FLAME model automatically."),
    layout: str = typer.Option("auto", "--layout", help="auto | voca | faceformer"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing split files."),
) -> None:
    """Import VOCASET into the HDF5 format: 60 -> 30 fps, 16 kHz audio, FaceFormer's subject/sentence split."""
    from rich.console import Console

    from emoface.data.vocaset import VocasetError, import_vocaset, load_topology

    console = Console(highlight=False)
    if layout not in ("auto", "voca", "faceformer"):
        raise typer.BadParameter(f"--layout must be auto, voca or faceformer, got {layout!r}")
    try:
        faces, regions, topo_name, model_name = load_topology(topology, masks)
        if not {"lips", "eye_region", "forehead"} <= set(regions):
            console.print("[yellow]warning[/yellow]: no FLAME_masks.pkl regions (lips, eye_region, forehead); pass --masks for LVE/EVE")
        report = import_vocaset(src, out, faces, regions, topo_name, model_name, layout=layout, overwrite=overwrite)
    except (VocasetError, FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(1) from exc
    console.print(f"imported {report.layout} layout from {src}: " + ", ".join(f"{s} {n} clips" for s, n in sorted(report.clips.items())))
    for line in report.adjusted:
        console.print(f"  trimmed: {line}")
    for line in report.skipped:
        console.print(f"  [yellow]skipped[/yellow]: {line}")
    for s, p in sorted(report.paths.items()):
        console.print(f"  {s}: {p}")


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
        console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(1) from exc
    console.print(f"wrote {report.clips} clips at {report.fps:g} fps to {out}")
    for split, subjects in report.subjects.items():
        console.print(f"  {split} subjects: {' '.join(subjects)}")
