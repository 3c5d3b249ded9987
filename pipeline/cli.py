"""``build-dataset``: turn emotional speech videos into HDF5 mesh-sequence splits.

Each sub-command lives beside the code it drives and is registered here with one line.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="build-dataset",
    no_args_is_help=True,
    add_completion=False,
    help="Build 3D-RAVDESS (or the generated offline corpus, or VOCASET) as mesh sequences in HDF5 splits.",
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from emoface import __version__

        typer.echo(f"build-dataset {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Commands are listed below; each has its own --help."""


from pipeline.commands import ravdess  # noqa: E402

app.command("ravdess")(ravdess)
from pipeline.sources.synth.commands import synth  # noqa: E402

app.command("synth")(synth)
from pipeline.sources.vocaset_commands import vocaset  # noqa: E402

app.command("vocaset")(vocaset)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
