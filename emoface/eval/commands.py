"""``emoface evaluate``, ``emoface animate`` and ``emoface render``.

Heavy imports (torch, pyrender) happen inside the commands so that ``emoface --help`` is fast.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from emoface.utils.cli import fail


def _console():
    from rich.console import Console

    return Console(highlight=False)


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(int(threads))


def evaluate(
    run: Path = typer.Option(..., "--run", help="Trained run folder (runs/NAME): its best checkpoint is used."),
    data: Path = typer.Option(..., "--data", help="Dataset folder (train.h5, val.h5, test.h5) or one split file."),
    split: str = typer.Option("test", "--split", help="Split to evaluate."),
    baselines: str = typer.Option("", "--baselines", help="Comma-separated runs to evaluate beside --run (e.g. runs/faceformer,runs/add,runs/teacher)."),
    out: Path | None = typer.Option(None, "--out", help="Report folder (default: RUN/eval/SPLIT)."),
    conditions: str = typer.Option("all", "--conditions", help="Training-speaker conditions: 'all' (paper §4.1), a count N (the first N), or indices '0,3,5'."),
    max_clips: int | None = typer.Option(None, "--max-clips", help="Evaluate only the first N clips (quick checks)."),
    first_frame: bool | None = typer.Option(None, "--first-frame/--no-first-frame", help="Start decoding from the ground-truth first frame (App. A.3) or the template; default: as the run was trained (model.decoder.start_token)."),
    use_labels: bool = typer.Option(False, "--use-labels", help="Also feed each clip's emotion label (label-embedding extension; off in the paper)."),
    emotion: bool = typer.Option(True, "--emotion/--no-emotion", help="Report each method's emotion accuracy (a classifier fitted on the training split; docs/evaluation.md)."),
    emotion_train: Path | None = typer.Option(None, "--emotion-train", help="Training split for the emotion classifier (default: train.h5 beside the evaluated split; none there: no emotion column)."),
    truth: Path | None = typer.Option(None, "--truth", help="The generated corpus (build-dataset synth) the split was built from: also score against its true meshes (offsets from the true template), with the split's own meshes as the method 'fitted data'."),
    truth_model: str | None = typer.Option(None, "--truth-model", help="Morphable model the --truth corpus was generated with ('demo', 'flame' or a .pkl/.npz path); default: the bundled demo head when the corpus says demo-head."),
    oracles: bool = typer.Option(False, "--oracles", help="Also score reference predictors that bound the upper face: the first frame held (the models' start token), and oracles that know the clip's emotion or its mean frame (docs/evaluation.md)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch (default: torch's choice; 1 is often fastest for small models or on a busy machine)."),
) -> None:
    """LVE / EVE / FDD of a run (and baselines, and the template-only floor) as Markdown and JSON tables."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from emoface.data.schema import InvalidSplitError
    from emoface.eval.report import render_markdown, summarize, write_report
    from emoface.eval.truth import TruthError
    from emoface.eval.workflow import MissingSplitError
    from emoface.eval.workflow import evaluate as evaluate_run
    from emoface.train.checkpoint import CheckpointError, RunSetupError

    console = _console()
    _set_threads(threads)
    t0 = time.time()
    columns = (TextColumn("evaluate"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), TextColumn("{task.description}"))
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("", total=None)

        def progress(cid: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=cid)

        try:
            result = evaluate_run(run, data, split, baselines=[b.strip() for b in baselines.split(",") if b.strip()],
                                  conditions=conditions, max_clips=max_clips, first_frame=first_frame,
                                  use_labels=use_labels, device=device, progress=progress, emotion=emotion,
                                  emotion_train=emotion_train, truth=truth, truth_model=truth_model, oracles=oracles)
        # setup errors: no split, what `emoface validate` would reject, no run, a run or truth that does not fit the data
        except (MissingSplitError, InvalidSplitError, RunSetupError, TruthError) as exc:
            bar.stop()
            raise fail(exc, 2) from exc
        except (CheckpointError, OSError, ValueError, RuntimeError) as exc:  # MetricError, SchemaError, bad conditions...
            bar.stop()
            raise fail(exc, 1) from exc
    out_dir = out or (run / "eval" / split)
    json_path, md_path = write_report(result, out_dir)
    console.print(render_markdown(summarize(result, include_clips=False)).split("## Per emotion")[0], soft_wrap=True)
    console.print(f"{result.n_clips} clips x {len(result.conditions)} conditions in {time.time() - t0:.1f} s")
    console.print(f"wrote {md_path} and {json_path}")


def animate(
    run: Path = typer.Option(..., "--run", help="Trained run folder (runs/NAME): best checkpoint and resolved config."),
    audio: Path = typer.Option(..., "--audio", help="Speech file: any length, rate and channel count (wav, flac, mp3, mp4...)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    emotion: str | None = typer.Option(None, "--emotion", help="Emotion label (neutral, calm, happy, sad, angry, fearful, disgust, surprised); default: from the audio."),
    emotion_mix: str | None = typer.Option(None, "--emotion-mix", help="Blend of emotions, e.g. happy=0.7,sad=0.3."),
    intensity: str = typer.Option("normal", "--intensity", help="normal, strong, or a number in [0, 1]."),
    speaker: str = typer.Option("0", "--speaker", help="Speaking style: training-speaker index or name."),
    template: Path | None = typer.Option(None, "--template", help="Neutral face to animate (.obj/.ply in metres, the run's topology)."),
    template_scale: float = typer.Option(1.0, "--template-scale", help="Multiply --template coordinates (0.01 for centimetres)."),
    subject: str | None = typer.Option(None, "--subject", help="Animate this subject's template (a training subject, or one in --data)."),
    data: Path | None = typer.Option(None, "--data", help="Dataset folder or .h5 to look up --subject in."),
    obj: bool = typer.Option(False, "--obj", help="Also write one .obj per frame."),
    video: bool = typer.Option(True, "--video/--no-video", help="Render an mp4 with the audio (pyrender, offscreen)."),
    size: int = typer.Option(512, "--size", help="Video height and width in pixels."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch (default: torch's choice; 1 is often fastest for small models or on a busy machine)."),
    bf16: bool = typer.Option(False, "--bf16", help="Audio encoders in bfloat16: faster on CPUs with bfloat16 support, not the same numbers (max error 0.3 mm at the paper preset; BENCHMARKS.md)."),
) -> None:
    """Animate a template from speech with a chosen emotion, intensity and speaking style."""
    from emoface.data.schema import InvalidSplitError
    from emoface.eval.animation import AnimateError, write_animation_h5, write_obj_sequence, write_vertices_npy, write_video
    from emoface.eval.workflow import animate as animate_run
    from emoface.train.checkpoint import RunSetupError
    from emoface.utils.audio import AudioError

    console = _console()
    _set_threads(threads)
    try:
        anim = animate_run(run, audio, emotion=emotion, emotion_mix=emotion_mix, intensity=intensity, speaker=speaker,
                           template=template, template_scale=template_scale, subject=subject, data=data, device=device,
                           bf16=bf16)
    except (RunSetupError, InvalidSplitError) as exc:  # no run, or the checks of `emoface validate`: a setup error
        raise fail(exc, 2) from exc
    except (AnimateError, AudioError, ValueError, RuntimeError) as exc:
        raise fail(exc, 1) from exc
    console.print(f"{anim.n_frames} frames ({anim.duration:.1f} s of audio) in {anim.seconds:.1f} s")
    write_vertices_npy(anim, out / "vertices.npy")
    write_animation_h5(anim, out / "animation.h5")
    console.print(f"wrote {out / 'vertices.npy'} ({anim.vertices.shape}) and {out / 'animation.h5'}")
    if obj:
        n = write_obj_sequence(anim.vertices, anim.faces, out / "obj")
        console.print(f"wrote {n} .obj files to {out / 'obj'}")
    if video:
        from emoface.render.gl import RenderUnavailable

        try:
            write_video(anim, out / "animation.mp4", size)
        except RenderUnavailable as exc:
            raise fail(f"{exc} (the vertices and .h5 are written; rerun with --no-video to skip rendering)", 2,
                       "cannot render the video") from exc
        console.print(f"wrote {out / 'animation.mp4'}")


def render(
    data: Path = typer.Option(..., "--data", help="Dataset folder (searched: test, val, train) or one .h5 file."),
    clip: str = typer.Option(..., "--clip", help="Clip id."),
    run: Path | None = typer.Option(None, "--run", help="Trained run: render its prediction beside the ground truth with an error heat map."),
    speaker: str | None = typer.Option(None, "--speaker", help="Speaker condition for the prediction (index or name; default: the clip's subject if it is a training speaker, else 0)."),
    out: Path | None = typer.Option(None, "--out", help="Output mp4 (default: RUN/renders/CLIP.mp4, or DATA/renders/CLIP.mp4)."),
    vmax_mm: float | None = typer.Option(None, "--vmax-mm", help="Top of the error colour scale in mm (default: 99th percentile)."),
    size: int = typer.Option(512, "--size", help="Panel height and width in pixels."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch (default: torch's choice; 1 is often fastest for small models or on a busy machine)."),
) -> None:
    """Render a clip's ground truth (and a run's prediction side by side, with a per-vertex error heat map)."""
    import numpy as np

    from emoface.data.schema import SplitReader
    from emoface.render.gl import RenderUnavailable
    from emoface.render.renderer import RenderConfig
    from emoface.render.sequence import render_comparison, render_sequence

    console = _console()
    _set_threads(threads)
    files = [data] if data.suffix == ".h5" else [data / f"{s}.h5" for s in ("test", "val", "train") if (data / f"{s}.h5").is_file()]
    found = None
    for f in files:
        with SplitReader(f) as r:
            if clip in r.clip_ids:
                found = f
                rec, tpl, faces = r.read_clip(clip, params=False), r.template(r.clip_meta(clip).subject), r.faces
                fps = r.fps
                break
    if found is None:
        raise fail(f"clip {clip!r} not in {', '.join(map(str, files)) or data}", 1)
    cfg = RenderConfig(width=size, height=size)
    target = out or ((run if run else (data if data.is_dir() else data.parent)) / "renders" / f"{clip}.mp4")
    try:
        if run is None:
            n = render_sequence(rec.vertices, faces, target, audio=rec.audio, fps=fps, template=tpl, config=cfg, label=clip)
        else:
            from emoface.eval.animation import AnimateError, resolve_speaker
            from emoface.eval.methods import RunMethod
            from emoface.train.checkpoint import RunSetupError

            try:
                method = RunMethod(run, None, device=device)
                speakers = method.speakers
                spk = resolve_speaker(speaker, speakers) if speaker is not None else (speakers.index(rec.subject) if rec.subject in speakers else 0)
            except RunSetupError as exc:
                raise fail(exc, 2) from exc
            except (AnimateError, ValueError, RuntimeError) as exc:
                raise fail(exc, 1) from exc
            pred = method.predict(rec, tpl, spk)
            n = render_comparison(rec.vertices, pred, faces, target, tpl, audio=rec.audio, fps=fps, vmax_mm=vmax_mm, config=cfg,
                                  labels=("ground truth", f"{run.name} (speaker {speakers[spk]})"))
            err = np.linalg.norm(pred - rec.vertices, axis=-1) * 1000
            console.print(f"mean per-vertex error {err.mean():.2f} mm, max {err.max():.2f} mm")
    except RenderUnavailable as exc:
        raise fail(exc, 2, "cannot render") from exc
    console.print(f"wrote {target} ({n} frames, from {found})")
