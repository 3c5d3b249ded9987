"""``build-dataset``: turn emotional speech videos into HDF5 mesh-sequence splits.

Each sub-command lives beside the code it drives and is registered here with one line.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="build-dataset",
    no_args_is_help=True,
    add_completion=False,
    help="Build 3D-RAVDESS (or the generated offline corpus) as fitted mesh sequences in HDF5 splits.",
    pretty_exceptions_enable=False,
)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
