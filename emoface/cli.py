"""``emoface``: the library's command line (validate, train, evaluate, diagnose, animate, render, export/import).

Each command lives beside the code it drives (``emoface/<area>/commands.py``) and is registered
here with one line; heavy imports (torch, transformers) happen inside the commands so that
``emoface --help`` stays fast.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="emoface",
    no_args_is_help=True,
    add_completion=False,
    help="EmoFace: emotion-content disentangled speech-driven 3D talking faces (arXiv 2408.11518).",
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from emoface import __version__

        typer.echo(f"emoface {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Commands are listed below; each has its own --help."""

from emoface.data.commands import validate  # noqa: E402

app.command("validate")(validate)

from emoface.data.interop_commands import MOVED_COMMAND_SETTINGS, export_faceformer_cmd, import_vocaset_cmd  # noqa: E402

app.command("import-vocaset", hidden=True, context_settings=MOVED_COMMAND_SETTINGS)(import_vocaset_cmd)
app.command("export-faceformer")(export_faceformer_cmd)

from emoface.eval.commands import animate, evaluate, render  # noqa: E402

app.command("evaluate")(evaluate)
app.command("animate")(animate)
app.command("render")(render)

from emoface.eval.diagnose_command import diagnose  # noqa: E402

app.command("diagnose")(diagnose)

from emoface.train.commands import train  # noqa: E402

app.command("train")(train)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
