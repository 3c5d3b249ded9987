"""``emoface validate FILE.h5 [...]``: check split files against the format."""

from __future__ import annotations

from pathlib import Path

import typer


def validate(
    files: list[Path] = typer.Argument(..., help="Split files (.h5) to check."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only problems."),
) -> None:
    """Check versions, shapes, dtypes, finite values, audio/frame agreement and region indices.

    Exits 1 with a readable list of problems when any file is invalid.
    """
    from rich.console import Console

    from emoface.data.schema import open_split, validate_split

    console = Console(highlight=False)
    failed = 0
    for path in files:
        problems = validate_split(path)
        if problems:
            failed += 1
            console.print(f"[red]INVALID[/red] {path} ({len(problems)} problem{'s' if len(problems) != 1 else ''})")
            for p in problems:
                console.print(f"  - {p}")
        elif not quiet:
            with open_split(path) as r:
                frames = sum(r.clip_meta(c).n_frames for c in r.clip_ids)
                console.print(
                    f"[green]OK[/green] {path}: {len(r.clip_ids)} clips, {len(r.subjects)} subjects, {frames} frames, "
                    f"V={r.n_vertices}, model={r.attrs.get('model')}, topology={r.attrs.get('topology')}"
                )
    raise typer.Exit(1 if failed else 0)
