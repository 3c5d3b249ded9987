"""Evaluating and animating from Python: :func:`evaluate` and :func:`animate` (what the CLIs call).

    from emoface.eval import animate, evaluate
    from emoface.eval.report import write_report
    anim = animate("runs/small", "speech.wav", emotion="happy", intensity="strong")
    anim.vertices.shape          # (T, V, 3) metres at anim.fps
    result = evaluate("runs/small", "OUT", "test", baselines=["runs/add"])
    write_report(result, "runs/small/eval/test")

Errors are typed: :class:`~emoface.data.schema.InvalidSplitError` and
:class:`~emoface.train.checkpoint.InvalidRunError` are inputs that ``emoface validate`` would
reject, :class:`~emoface.train.checkpoint.RunSetupError` (their base) also no run at the path or a
run of another topology than the data (setup errors); :class:`MissingSplitError` a split file that is not there;
:class:`~emoface.eval.animation.AnimateError`, ``AudioError``, ``CheckpointError`` and other
``ValueError``/``RuntimeError`` a request that could not be carried out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emoface.eval.animation import Animation, AnimateError, Conditions

if TYPE_CHECKING:
    from emoface.eval.methods import EvalResult

__all__ = ["MissingSplitError", "split_file", "resolve_conditions", "evaluate", "animate"]

log = logging.getLogger(__name__)


class MissingSplitError(ValueError):
    """The split file to evaluate is not there; the message names the path."""


def split_file(data: str | Path, split: str) -> Path:
    """``data`` itself if it is an ``.h5`` file, else ``data/<split>.h5``; :class:`MissingSplitError` if absent."""
    data = Path(data)
    path = data if data.suffix == ".h5" else data / f"{split}.h5"
    if not path.is_file():
        raise MissingSplitError(f"{path}: split file not found (--data is the dataset folder holding {split}.h5, or an .h5 file)")
    return path


def resolve_conditions(conditions: str | int | Sequence[int] | None, n_speakers: int) -> list[int] | None:
    """``"all"``/None -> None (every training speaker); a count N (int or ``"N"``) -> the first N;
    ``"0,3,5"`` or a sequence -> those indices (checked against the speakers by the evaluation)."""
    if conditions is None or conditions == "all":
        return None
    if isinstance(conditions, int) or (isinstance(conditions, str) and conditions.strip().isdigit()):
        return list(range(min(int(conditions), n_speakers)))
    if isinstance(conditions, str):
        try:
            return [int(c) for c in conditions.split(",") if c.strip()]
        except ValueError:
            raise ValueError(f"conditions must be 'all', a count N or indices like '0,3,5', got {conditions!r}") from None
    return [int(c) for c in conditions]


def evaluate(
    run: str | Path,
    data: str | Path,
    split: str = "test",
    *,
    baselines: Sequence[str | Path] = (),
    conditions: str | int | Sequence[int] | None = "all",
    max_clips: int | None = None,
    first_frame: bool | None = None,
    use_labels: bool = False,
    device: str = "cpu",
    progress: Callable[[str, int, int], None] | None = None,
    emotion: bool = True,
    emotion_train: str | Path | None = None,
    truth: str | Path | None = None,
    truth_model: str | None = None,
    oracles: bool = False,
) -> EvalResult:
    """LVE / EVE / FDD of ``run`` (and ``baselines``, and the template-only floor) on one split.

    Args:
        run: trained run folder; its best checkpoint is used, its training speakers are the conditions.
        data: dataset folder (``<split>.h5``) or one split file.
        conditions: see :func:`resolve_conditions` (default ``"all"``: every training speaker, as FaceFormer evaluates unseen subjects).
        max_clips: only the first N clips. first_frame: decode from the ground-truth first
            frame (None: as the run was trained). use_labels: also feed the emotion labels.
        progress: called after each clip with ``(clip_id, done, total)``.
        emotion: also report the emotion accuracy of each method's motion
            (:mod:`emoface.eval.emotion_accuracy`), with a classifier fitted on ``emotion_train``
            (default: ``train.h5`` beside the split; skipped when there is none and no path was given).
        truth: the generated corpus the split was built from: every method is also scored
            against its true meshes, and the split's own meshes join as the method "fitted
            data" (:mod:`emoface.eval.truth`); truth_model: the morphable model it was generated
            with when it is not the bundled demo head. A corpus that does not fit the split
            raises :class:`~emoface.eval.truth.TruthError` before any work.
        oracles: also the reference predictors of :mod:`emoface.eval.oracles` (the first frame held,
            and the oracles that know the clip's emotion or its mean frame), which bound what
            motion from audio can gain on the upper face.
    Returns the :class:`~emoface.eval.methods.EvalResult`; :func:`~emoface.eval.report.write_report` writes it.
    """
    from emoface.data.schema import SplitReader, require_valid_split
    from emoface.eval.emotion_accuracy import EmotionProbe, TooFewEmotionsError
    from emoface.eval.methods import RunMethod, TemplateFloor, evaluate_methods
    from emoface.eval.truth import FittedData, TruthCorpus

    split_path = split_file(data, split)
    corpus = TruthCorpus(Path(truth), truth_model) if truth is not None else None
    require_valid_split(split_path)  # the checks of `emoface validate`, before any work
    probe = None
    if emotion:
        train_path = Path(emotion_train) if emotion_train is not None else split_path.parent / "train.h5"
        if emotion_train is not None and not train_path.is_file():
            raise MissingSplitError(f"{train_path}: training split for the emotion classifier not found (--emotion-train)")
        if train_path.is_file():
            require_valid_split(train_path)
            try:
                probe = EmotionProbe.fit_split(train_path)
            except TooFewEmotionsError as exc:
                if emotion_train is not None:  # asked for by name: an error
                    raise
                log.warning("no emotion-accuracy column: %s", exc)  # e.g. VOCASET: every clip is neutral
    with SplitReader(split_path) as r:
        topo_sha = str(r.attrs.get("topology_sha256", ""))
        clip_ids = r.clip_ids[:max_clips] if max_clips else None
        n_clips = len(clip_ids) if clip_ids is not None else len(r.clip_ids)
    kw = dict(device=device, first_frame=first_frame, use_labels=use_labels, data_topology_sha256=topo_sha)
    main = RunMethod(run, None, **kw)
    speakers = main.speakers
    methods = [main] + [RunMethod(Path(b), speakers, **kw) for b in baselines] + [TemplateFloor()]
    if oracles:
        from emoface.eval.oracles import oracle_methods

        methods += oracle_methods(split_path.parent / "train.h5")
    if corpus is not None:
        methods.append(FittedData())
    conds = resolve_conditions(conditions, len(speakers))
    done = 0

    def step(cid: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(cid, done, n_clips)

    return evaluate_methods(split_path, methods, speakers, conditions=conds, clip_ids=clip_ids, progress=step, truth=corpus,
                            emotion_probe=probe)


def animate(
    run: str | Path,
    audio: str | Path,
    *,
    emotion: str | None = None,
    emotion_mix: str | Mapping[str, float] | None = None,
    intensity: str | float = "normal",
    speaker: str | int = 0,
    template: str | Path | None = None,
    template_scale: float = 1.0,
    subject: str | None = None,
    data: str | Path | None = None,
    device: str = "cpu",
    bf16: bool = False,
) -> Animation:
    """Animate a neutral face from speech with a chosen emotion, intensity and speaking style.

    Args:
        run: trained run folder (best checkpoint and resolved config).
        audio: speech file of any length, rate and channel count (wav, flac, mp3, mp4...).
        emotion: one emotion label (``happy``...); emotion_mix: ``"happy=0.7,sad=0.3"`` or
            ``{"happy": 0.7, "sad": 0.3}``; neither: the emotion comes from the audio.
        intensity: ``normal``, ``strong`` or a number in [0, 1]. speaker: training-speaker index or name.
        template: a neutral .obj/.ply in the run's topology (times ``template_scale`` to metres);
            subject: a training subject's template, or one found in ``data``'s split files;
            neither: the chosen training speaker's template.
        bf16: run the two audio encoders in bfloat16 (``EmoFace.generate(encoder_dtype=torch.bfloat16)``):
            faster on CPUs with bfloat16 support, not the same numbers (measured error and speed in
            BENCHMARKS.md, "FLAME scale"); default float32, the exact path. On a CPU without bfloat16
            instructions (:func:`emoface.utils.cpu.bf16_native`) it is slower and a warning says so.
    Raises AnimateError, AudioError, CheckpointError (RunSetupError: a setup error), InvalidSplitError.
    """
    import torch

    from emoface.eval.animation import resolve_emotion, resolve_intensity, resolve_speaker, resolve_template
    from emoface.train.checkpoint import load_run
    from emoface.utils.audio import load_audio

    run, audio = Path(run), Path(audio)
    if isinstance(emotion_mix, Mapping):
        emotion_mix = ",".join(f"{k}={float(v)}" for k, v in emotion_mix.items())
    model, _cfg, meta = load_run(run, device)
    wav = load_audio(audio, meta.sample_rate)
    spk = resolve_speaker(str(speaker), list(meta.speakers))
    cond = Conditions(spk, resolve_intensity(str(intensity), list(meta.intensities)),
                      resolve_emotion(emotion, emotion_mix, list(meta.emotions)))
    tpl, tpl_name = resolve_template(meta, spk, Path(template) if template is not None else None, subject,
                                     Path(data) if data is not None else None, template_scale)
    if cond.emotion is not None and getattr(model, "emotion_label", None) is None:
        raise AnimateError("this run has no emotion-label embedding (model.emotion_label.enabled was false); "
                           "drop --emotion/--emotion-mix to take the emotion from the audio")
    if bf16 and torch.device(device).type == "cpu":
        from emoface.utils.cpu import bf16_native

        if bf16_native() is False:
            log.warning("--bf16: this CPU has no bfloat16 instructions (no avx512_bf16 or amx_bf16 in /proc/cpuinfo), "
                        "so bfloat16 runs emulated and is slower than float32 (2.6-3x its time on such a CPU, "
                        "BENCHMARKS.md); leave --bf16 off here")
    t0 = time.time()
    with torch.inference_mode():
        verts = model.predict(wav, tpl, speaker=cond.speaker, intensity=cond.intensity, emotion=cond.emotion,
                              encoder_dtype=torch.bfloat16 if bf16 else None)
    verts = verts.detach().cpu().numpy().astype(np.float32)
    return Animation(vertices=verts, fps=float(meta.fps), faces=np.asarray(meta.faces), audio=wav,
                     sample_rate=int(meta.sample_rate), template=tpl, template_name=tpl_name, conditions=cond, meta=meta,
                     run_dir=run, audio_source=audio, seconds=time.time() - t0)
