"""Stage ``package`` (a barrier per split): the fitted clips of one split -> ``OUT/<split>.h5``.

Uses the one writer, :class:`emoface.data.schema.SplitWriter`, so the file appears atomically
and only when complete. Per subject, the template is the actor's fitted identity with its
reference expression at zero pose (from the canonical stage; the reference itself is the
subject's ``expression_reference`` attribute). Per clip: front-facing vertices, the audio
trimmed or zero-padded at the end to exactly ``T / fps`` seconds (``audio_padded_samples``
says how many samples were added), the smoothed parameters, the detector landmarks and the
per-frame fit error (``-1`` on frames without a face) and the per-frame ``valid`` flags.
Clips are written in sorted order, so the file's content does not depend on scheduling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emoface.data.ravdess import gender_of
from emoface.utils.config import to_dict
from pipeline.sources.manifest import SourceClip
from pipeline.stages.fitstages import load_fit
from pipeline.stages.outcome import TaskResult, run_stage
from pipeline.stages.records import PackageMember
from pipeline.stages.runtime import TaskContext
from pipeline.stages.store import combine_hashes

__all__ = ["package_input", "run_package_task", "fit_audio", "member"]


def package_input(split: str, manifest_sha: str, members: list[PackageMember]) -> str:
    """``members``: the split's finished clips with the hashes of what ``package`` reads."""
    return combine_hashes(split, manifest_sha, sorted((m.clip.clip_id, m.clip.sha256, m.hashes) for m in members))


def fit_audio(audio: np.ndarray, n_frames: int, fps: float, sample_rate: int) -> tuple[np.ndarray, int]:
    """Trim or zero-pad ``audio`` at the end to ``round(n_frames * sample_rate / fps)`` samples."""
    n = int(round(n_frames * sample_rate / fps))
    if audio.size >= n:
        return audio[:n].astype(np.float32), 0
    pad = n - audio.size
    return np.concatenate([audio, np.zeros(pad, np.float32)]).astype(np.float32), pad


def _source_name(clip: SourceClip, root: str) -> str:
    try:
        return str(Path(clip.path).relative_to(root))
    except ValueError:
        return Path(clip.path).name


def _write_split(ctx: TaskContext, split: str, members: list[PackageMember], manifest_sha: str, root: str) -> Path:
    from emoface.data.schema import ClipRecord, SplitWriter

    store = ctx.store
    backend = ctx.backend
    topo = backend.topology(ctx.model())
    path = Path(ctx.out) / f"{split}.h5"
    cfg = ctx.cfg
    config = {"build": to_dict(cfg), "split": split, "corpus": "ravdess"}
    clips = sorted((m.clip for m in members), key=lambda c: c.clip_id)
    with SplitWriter(path, topo.faces, topo.regions, topo.model_name, topo.topology_name, config=config,
                     source_manifest_sha256=manifest_sha, fps=cfg.decode.fps, sample_rate=cfg.decode.sample_rate,
                     compression_level=cfg.package.compression_level) as writer:
        if writer.n_vertices != topo.n_vertices:
            writer.set_vertex_count(topo.n_vertices)
        for subject in sorted({c.subject for c in clips}):
            first = next(c for c in clips if c.subject == subject)
            template = store.load_npz("canonical", first.clip_id)["template"]
            identity = ctx.backend.load_identity(store.artefact("identity", subject))
            reference = np.asarray(getattr(identity, "expression_reference", np.zeros(0)), np.float32)
            extra = {"expression_reference": reference} if reference.size else {}
            writer.add_subject(subject, template, gender=gender_of(first.actor), **extra)
        for clip in clips:
            cid = clip.clip_id
            canonical = store.load_npz("canonical", cid)
            decoded = store.load_npz("decode", cid)
            track = store.load_npz("landmarks", cid)
            fit = load_fit(ctx, "smooth", cid)
            vertices = canonical["vertices"]
            audio, padded = fit_audio(decoded["audio"], len(vertices), cfg.decode.fps, cfg.decode.sample_rate)
            valid = np.asarray(track["valid"], bool)
            record = ClipRecord(
                clip_id=cid,
                subject=clip.subject,
                vertices=vertices,
                audio=audio,
                emotion=clip.emotion - 1,
                intensity=clip.intensity - 1,
                statement=clip.statement,
                repetition=clip.repetition,
                source=_source_name(clip, root),
                source_sha256=clip.sha256,
                params=backend.clip_params(fit),
                landmarks=track["landmarks"] if cfg.package.landmarks else None,
                fit_error=backend.fit_error(fit),
                valid=valid,
                extra_attrs={
                    "detection_rate": float(valid.mean()),
                    "audio_padded_samples": int(padded),
                    "source_fps": float(decoded["src_fps"]),
                    "fit_converged": bool(getattr(fit, "converged", True)),
                },
            )
            writer.add_clip(record)
    return path


def run_package_task(ctx: TaskContext, split: str, members: list[PackageMember], manifest_sha: str, root: str) -> TaskResult:
    """Write ``OUT/<split>.h5`` from ``members`` (see :func:`package_input`)."""
    input_hash = package_input(split, manifest_sha, members)

    def compute() -> tuple[str, str]:
        if not members:
            raise RuntimeError(f"{split}: no finished clip to package")
        path = _write_split(ctx, split, members, manifest_sha, root)
        return f"../../{path.name}", combine_hashes("h5", input_hash)

    return TaskResult("package", split, [run_stage(ctx, "package", split, input_hash, compute, extra={"split": split})])


def member(ctx: TaskContext, clip: SourceClip, hashes: dict[str, str]) -> PackageMember:
    """A package member: ``clip`` with the hashes of the artefacts the ``package`` stage reads."""
    return PackageMember(clip, {k: hashes[k] for k in ctx.stages["package"].reads})
