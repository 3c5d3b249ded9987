"""``make demo``: the whole chain on the embedded default, offline, resumable.

1. ``build-dataset synth``      a small RAVDESS-shaped corpus with ground truth
2. ``build-dataset ravdess``    its 3D dataset (demo head), QA report, HDF5 splits
3. ``emoface train``            EmoFace (small preset) and the FaceFormer-style single branch
4. ``emoface evaluate``         both on the test split, next to the template-only floor
5. ``emoface animate``          a generated test clip's speech (or ``--audio``) -> mesh + mp4

Each step is the command a user would type (printed before it runs), and each step skips
work that is already done, so a second ``make demo`` takes a fraction of the time.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import typer

from emoface.utils.resources import config_file

__all__ = ["DemoPlan", "plan_demo", "main"]

DEMO_AUDIO = "demo_audio.wav"  # under --out: the speech of the first generated test clip



@dataclass(frozen=True)
class Step:
    title: str
    argv: list[str]
    done: Path | None = None  # skip the step when this file exists (and is newer than ``after``)
    after: Path | None = None
    parallel: tuple[list[str], ...] = ()  # further commands run at the same time as ``argv``

    def is_done(self) -> bool:
        if self.done is None or not self.done.exists():
            return False
        return self.after is None or not self.after.exists() or self.done.stat().st_mtime >= self.after.stat().st_mtime


@dataclass(frozen=True)
class DemoPlan:
    out: Path
    steps: list[Step]
    outputs: dict[str, Path]
    generated_audio: Path | None = None  # written before the animate step (no --audio given)


def _cli(module: str, *args: str | Path) -> list[str]:
    return [sys.executable, "-m", module, *map(str, args)]


def plan_demo(
    out: Path,
    actors: int = 6,
    clips_per_actor: int = 20,
    workers: int = 2,
    epochs: int | None = None,
    audio: Path | None = None,
) -> DemoPlan:
    """The steps of the demo, as command lines (pure: runs nothing)."""
    out = out.resolve()
    corpus, data, runs = out / "corpus", out / "3d-dataset", out / "runs"
    small = config_file("emoface-small.yaml")
    split = config_file("split-demo.yaml")
    epoch_args = ["--epochs", str(epochs)] if epochs is not None else []
    emoface_run, baseline_run = runs / "emoface-small", runs / "faceformer-small"
    audio_note = "the given recording" if audio is not None else "a generated test clip's speech"
    generated_audio = out / DEMO_AUDIO if audio is None else None
    audio = audio if audio is not None else out / DEMO_AUDIO
    steps = [
        Step("generate the corpus", _cli("pipeline", "synth", "--out", corpus, "--actors", actors, "--clips-per-actor", clips_per_actor,
                                         "--workers", workers)),
        Step("build the 3D dataset", _cli("pipeline", "ravdess", "--root", corpus, "--out", data, "--workers", workers, "--split", split,
                                            "--oracle")),
    ]
    trains = []
    for run, extra in ((emoface_run, []), (baseline_run, ["--set", "model.single_branch=true", "--set", "name=faceformer-small"])):
        resume = ["--resume"] if (run / "checkpoints" / "last.pt").is_file() else []
        trains.append(_cli("emoface", "train", "--config", small, "--data", data, "--out", run, *epoch_args, *resume, *extra))
    # one thread each (the small preset), so the two runs share the 2 cores
    steps.append(Step(f"train {emoface_run.name} and {baseline_run.name} side by side", trains[0], parallel=(trains[1],)))
    report = emoface_run / "eval" / "test"
    steps.append(
        Step(
            "evaluate on the test split",
            _cli("emoface", "evaluate", "--run", emoface_run, "--data", data, "--split", "test", "--baselines", baseline_run, "--out", report,
                 "--threads", "1"),
            done=report / "metrics.json",
            after=emoface_run / "checkpoints" / "best.pt",
        )
    )
    anim = out / "animation"
    steps.append(
        Step(
            f"animate {audio_note}",
            _cli("emoface", "animate", "--run", emoface_run, "--audio", audio, "--emotion", "angry", "--intensity", "strong", "--speaker", "0",
                 "--out", anim, "--threads", "1"),
            done=anim / "animation.mp4",
            after=emoface_run / "checkpoints" / "best.pt",
        )
    )
    outputs = {
        "corpus (videos + ground truth)": corpus,
        "HDF5 splits": data,
        "QA report": data / "qa" / "report.html",
        "tensorboard runs": runs,
        "metrics table": report / "table.md",
        "animation (mp4, vertices)": anim,
    }
    return DemoPlan(out, steps, outputs, generated_audio)


def _prepare_audio(plan: DemoPlan) -> None:
    """Unless ``--audio`` names a recording, take the speech of the first generated test clip."""
    target = plan.generated_audio
    if target is None or target.exists():
        return
    from emoface.data.schema import open_split
    from emoface.utils.atomic import atomic_path

    import soundfile as sf

    with open_split(plan.out / "3d-dataset" / "test.h5") as split:
        clip = split.read_clip(split.clip_ids[0], params=False)
    with atomic_path(target) as tmp:
        sf.write(tmp, clip.audio, 16000, format="WAV")


def _shown(argv: list[str]) -> str:
    """The command line as a user would type it (console scripts instead of ``python -m``)."""
    text = " ".join(shlex.quote(a) for a in argv)
    text = text.replace(shlex.quote(sys.executable) + " -m pipeline", "build-dataset")
    return text.replace(shlex.quote(sys.executable) + " -m emoface", "emoface")


def run_demo(plan: DemoPlan) -> int:
    from rich.console import Console

    console = Console(highlight=False)
    start = time.monotonic()
    for i, step in enumerate(plan.steps, 1):
        if step.title.startswith("animate"):
            _prepare_audio(plan)
        console.rule(f"[bold]{i}/{len(plan.steps)} {step.title}")
        for argv in (step.argv, *step.parallel):
            console.print(f"$ {_shown(argv)}{' &' if step.parallel else ''}")
        if step.is_done():
            console.print("[green]already done[/green] (outputs are newer than their inputs)")
            continue
        t0 = time.monotonic()
        procs = [subprocess.Popen(argv) for argv in (step.argv, *step.parallel)]
        codes = [p.wait() for p in procs]
        rc = next((c for c in codes if c != 0), 0)
        console.print(f"[dim]{step.title}: {time.monotonic() - t0:.0f} s, exit code {rc}[/dim]")
        if rc != 0:
            # a dataset build exits 1 when some clips failed; the splits it wrote are still usable
            usable = step.title.startswith("build") and (plan.out / "3d-dataset" / "test.h5").exists()
            if not usable:
                console.print(f"[red]step failed[/red]: {step.title} (exit code {rc})")
                return rc
            console.print("[yellow]some clips failed; they are listed in the QA report[/yellow]")
    console.rule("[bold]outputs")
    for what, path in plan.outputs.items():
        console.print(f"{what:32s} {path}")
    console.print(f"tensorboard: tensorboard --logdir {plan.outputs['tensorboard runs']}")
    console.print(f"total {time.monotonic() - start:.0f} s")
    return 0


def main(
    out: Path = typer.Option(Path("demo_out"), "--out", help="Folder for every output of the demo."),
    actors: int = typer.Option(6, "--actors", help="Generated actors (the demo split: 1-4 train, 5 val, 6 test)."),
    clips_per_actor: int = typer.Option(20, "--clips-per-actor", help="Clips per actor (a balanced subset of the 60)."),
    workers: int = typer.Option(2, "--workers", help="Worker processes for the corpus and the dataset build."),
    epochs: int | None = typer.Option(None, "--epochs", help="Training epochs (default: the small preset's 30, which the demo needs for both models' upper face to beat the no-motion floor; about 15 minutes in all on 2 idle cores)."),
    audio: Path = typer.Option(None, "--audio", help="Speech to animate, e.g. a RAVDESS .wav (default: the speech of the first generated test clip)."),
) -> None:
    """Run the whole chain offline on the embedded default."""
    raise typer.Exit(run_demo(plan_demo(out, actors, clips_per_actor, workers, epochs, audio)))


if __name__ == "__main__":
    typer.run(main)
