"""``build-dataset vocaset``: the command line around :func:`pipeline.sources.vocaset.import_vocaset`."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["vocaset"]


def vocaset(
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
    """Build VOCASET as HDF5 splits: 60 -> 30 fps, 16 kHz audio, FaceFormer's subject/sentence split."""
    from rich.console import Console

    from pipeline.sources.vocaset import VocasetError, import_vocaset, load_topology

    console = Console(highlight=False)
    if layout not in ("auto", "voca", "faceformer"):
        raise typer.BadParameter(f"--layout must be auto, voca or faceformer, got {layout!r}")
    try:
        faces, regions, topo_name, model_name = load_topology(topology, masks)
        if not {"lips", "eye_region", "forehead"} <= set(regions):
            console.print("[yellow]warning[/yellow]: no FLAME_masks.pkl regions (lips, eye_region, forehead); pass --masks for LVE/EVE")
        report = import_vocaset(src, out, faces, regions, topo_name, model_name, layout=layout, overwrite=overwrite)
    except (VocasetError, FileNotFoundError, ValueError) as exc:  # a bad input: names the file
        console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(2) from exc
    console.print(f"imported {report.layout} layout from {src}: " + ", ".join(f"{s} {n} clips" for s, n in sorted(report.clips.items())))
    for line in report.adjusted:
        console.print(f"  trimmed: {line}")
    for line in report.skipped:
        console.print(f"  [yellow]skipped[/yellow]: {line}")
    for s, p in sorted(report.paths.items()):
        console.print(f"  {s}: {p}")
