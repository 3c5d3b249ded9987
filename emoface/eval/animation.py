"""An animation and its pieces: conditions, templates, the :class:`Animation` result and its output files.

:func:`emoface.eval.animate` returns an :class:`Animation`; each output is written by its own
function: :func:`write_vertices_npy` (``vertices.npy``, (T, V, 3) float32 metres),
:func:`write_animation_h5` (``animation.h5``, the HDF5 split format, one subject and one clip,
so that ``emoface render`` and ``emoface validate`` read it), :func:`write_obj_sequence`
(``obj/frame_XXXXXX.obj``) and :func:`write_video` (``animation.mp4``, pyrender, audio muxed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emoface.utils.atomic import atomic_path

if TYPE_CHECKING:
    from emoface.train.checkpoint import RunMeta

__all__ = [
    "AnimateError",
    "Conditions",
    "Animation",
    "resolve_speaker",
    "resolve_intensity",
    "resolve_emotion",
    "resolve_template",
    "write_vertices_npy",
    "write_obj_sequence",
    "write_animation_h5",
    "write_video",
]


class AnimateError(ValueError):
    """A request that cannot be animated (unknown speaker, wrong template...); the message says why."""


@dataclass(frozen=True)
class Conditions:
    """Resolved inference conditions: a speaker index, an intensity and emotion weights (or None)."""

    speaker: int
    intensity: int | float
    emotion: dict[str, float] | None  # None: emotion from the audio only


@dataclass(frozen=True)
class Animation:
    """One animated sequence and what it was made from.

    ``vertices`` (T, V, 3) float32 metres at ``fps``; ``faces`` (F, 3) the run's topology;
    ``audio`` (N,) float32 mono at ``sample_rate`` (the speech as the model heard it);
    ``template`` (V, 3) the animated neutral face, ``template_name`` its subject or file stem;
    ``meta`` the run's :class:`~emoface.train.checkpoint.RunMeta`; ``seconds`` the inference time.
    """

    vertices: np.ndarray
    fps: float
    faces: np.ndarray
    audio: np.ndarray
    sample_rate: int
    template: np.ndarray
    template_name: str
    conditions: Conditions
    meta: RunMeta
    run_dir: Path
    audio_source: Path
    seconds: float = 0.0

    @property
    def n_frames(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return len(self.audio) / float(self.sample_rate)


def resolve_speaker(value: str, speakers: list[str]) -> int:
    """``"3"`` (index into the training speakers) or a speaker name (``"Actor_03"``) -> index."""
    if value in speakers:
        return speakers.index(value)
    try:
        idx = int(value)
    except ValueError:
        raise AnimateError(f"unknown speaker {value!r}; training speakers: {', '.join(speakers)} (or an index 0-{len(speakers) - 1})") from None
    if not 0 <= idx < len(speakers):
        raise AnimateError(f"speaker index {idx} outside 0-{len(speakers) - 1} ({len(speakers)} training speakers)")
    return idx


def resolve_intensity(value: str, names: list[str]) -> int | float:
    """``normal``/``strong`` (or 0/1), or a float in [0, 1] between them."""
    v = value.strip().lower()
    if v in names:
        return names.index(v)
    try:
        f = float(v)
    except ValueError:
        raise AnimateError(f"intensity must be one of {', '.join(names)} or a number in [0, 1], got {value!r}") from None
    if not 0.0 <= f <= 1.0:
        raise AnimateError(f"intensity {f} outside [0, 1]")
    return int(f) if f in (0.0, 1.0) else f


def resolve_emotion(emotion: str | None, mix: str | None, names: list[str]) -> dict[str, float] | None:
    """``--emotion happy`` -> ``{"happy": 1.0}``; ``--emotion-mix happy=0.7,sad=0.3`` -> weights
    normalised to sum 1; neither -> None (the emotion comes from the audio)."""
    from emoface.model.conditioning import ConditionError, parse_emotion_mix

    if emotion and mix:
        raise AnimateError("give --emotion or --emotion-mix, not both")
    if emotion:
        e = emotion.strip().lower()
        if e not in names:
            raise AnimateError(f"unknown emotion {emotion!r} (known: {', '.join(names)})")
        return {e: 1.0}
    if mix:
        try:
            w = parse_emotion_mix(mix, names)
        except ConditionError as exc:
            raise AnimateError(str(exc)) from exc
        total = sum(w.values())
        if total <= 0 or any(v < 0 for v in w.values()):
            raise AnimateError(f"emotion mix {mix!r} needs non-negative weights with a positive sum")
        return {k: v / total for k, v in w.items()}
    return None


def resolve_template(
    meta,
    speaker: int,
    template_file: Path | None = None,
    subject: str | None = None,
    data: Path | None = None,
    template_scale: float = 1.0,
) -> tuple[np.ndarray, str]:
    """The (V, 3) metres template to animate and its name.

    Order: ``template_file`` (.obj/.ply with the run's vertex count and order), ``subject``
    (a training subject stored in the run, or any subject of ``data``'s split files), else the
    template of the chosen training speaker.
    """
    if template_file is not None and subject is not None:
        raise AnimateError("give --template or --subject, not both")
    if template_file is not None:
        import trimesh

        if not template_file.is_file():
            raise AnimateError(f"{template_file}: template file not found")
        kw = {"maintain_order": True} if template_file.suffix.lower() == ".obj" else {}
        mesh = trimesh.load(template_file, process=False, force="mesh", **kw)
        v = np.asarray(mesh.vertices, dtype=np.float32) * float(template_scale)
        if v.shape != (meta.n_vertices, 3):
            raise AnimateError(f"{template_file}: {len(v)} vertices, the run's topology has {meta.n_vertices}")
        extent = float((v.max(0) - v.min(0)).max())
        if not 0.01 < extent < 1.0:
            raise AnimateError(f"{template_file}: the mesh spans {extent:g} units; templates are in metres (use --template-scale, e.g. 0.01 for cm)")
        return v, template_file.stem
    if subject is not None:
        if subject in meta.templates:
            return np.asarray(meta.templates[subject], np.float32), subject
        if data is not None:
            from emoface.data.schema import SplitReader

            files = [data] if data.suffix == ".h5" else sorted(data.glob("*.h5"))
            for f in files:
                with SplitReader(f) as r:
                    found = subject in r.subjects
                if found:
                    from emoface.data.schema import require_valid_split

                    require_valid_split(f)  # the checks of `emoface validate` (InvalidSplitError)
                    with SplitReader(f) as r:
                        return r.template(subject), subject
        known = sorted(meta.templates)
        raise AnimateError(f"no template for subject {subject!r} in the run ({', '.join(known)})" + (f" or in {data}" if data else "; pass --data OUT to look in split files"))
    name = meta.speakers[speaker]
    if name not in meta.templates:
        raise AnimateError(f"the run stores no template for speaker {name!r}; pass --template or --subject")
    return np.asarray(meta.templates[name], np.float32), name


def write_obj_sequence(vertices: np.ndarray, faces: np.ndarray, folder: Path) -> int:
    """One Wavefront .obj per frame (``frame_000000.obj`` ...); returns the number written."""
    folder.mkdir(parents=True, exist_ok=True)
    face_lines = "".join(f"f {a} {b} {c}\n" for a, b, c in (np.asarray(faces, np.int64) + 1))
    for t, v in enumerate(np.asarray(vertices, np.float32)):
        text = "".join(f"v {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in v.tolist())
        with atomic_path(folder / f"frame_{t:06d}.obj") as tmp:
            tmp.write_text(text + face_lines)
    return len(vertices)


def write_vertices_npy(animation: Animation, path: Path) -> Path:
    """``vertices.npy``: the (T, V, 3) float32 metres vertices, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        np.save(tmp, np.asarray(animation.vertices, np.float32), allow_pickle=False)
    return path


def write_animation_h5(animation: Animation, path: Path) -> Path:
    """Write the animation as a one-clip split file (clip id ``animation``)."""
    from emoface.data.schema import ClipRecord, SplitWriter
    from emoface.render.video import fit_audio

    meta, conditions, vertices = animation.meta, animation.conditions, animation.vertices
    emo = conditions.emotion or {}
    top = max(emo, key=emo.get) if emo else None
    emotion_idx = meta.emotions.index(top) if top in meta.emotions else 0
    inten = conditions.intensity
    config = {
        "run": str(animation.run_dir),
        "audio": str(animation.audio_source),
        "speaker": meta.speakers[conditions.speaker],
        "intensity": inten,
        "emotion": emo or "from audio",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with SplitWriter(path, meta.faces, meta.regions, meta.model_name or "unknown", meta.topology or "unknown", config, "",
                     fps=meta.fps, sample_rate=meta.sample_rate) as w:
        if w.n_vertices != meta.n_vertices:
            w.set_vertex_count(meta.n_vertices)
        w.add_subject(animation.template_name, animation.template)
        w.add_clip(ClipRecord(
            clip_id="animation", subject=animation.template_name, vertices=np.asarray(vertices, np.float32),
            audio=fit_audio(animation.audio, len(vertices), meta.fps, meta.sample_rate),
            emotion=emotion_idx, intensity=int(round(float(inten))), statement=0, repetition=0,
            source=str(animation.audio_source),
            extra_attrs={"generated_by": "emoface animate", "conditions": str(config)},
        ))
    return path


def write_video(animation: Animation, path: Path, size: int = 512) -> Path:
    """``animation.mp4``: the sequence rendered offscreen (pyrender) with the audio muxed.

    Raises :class:`~emoface.render.gl.RenderUnavailable` when no offscreen OpenGL is available.
    """
    from emoface.render.renderer import RenderConfig
    from emoface.render.sequence import render_sequence

    render_sequence(animation.vertices, animation.faces, path, audio=animation.audio, fps=animation.fps,
                    template=animation.template, config=RenderConfig(width=size, height=size))
    return path
