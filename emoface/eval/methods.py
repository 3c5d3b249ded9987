"""Predict every clip of a split under every training-speaker condition and collect the metrics.

paper §4.1: test subjects are unseen, so (following FaceFormer and CodeTalker) each test clip
is predicted once per training speaker's style one-hot; the report gives the mean over these
conditions and their spread. Methods are anything with :class:`Method`'s shape: a trained run
(:class:`RunMethod`), or the template-only floor (:class:`TemplateFloor`, a face that never
moves), so every number has its floor beside it. Metrics never depend on rendering.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from emoface.data.schema import ClipRecord, SplitReader
from emoface.eval.emotion_accuracy import EmotionCall, EmotionProbe
from emoface.metrics import ClipMetrics, EvalRegions, clip_metrics, resolve_regions

if TYPE_CHECKING:
    from emoface.eval.truth import TruthCorpus

__all__ = ["Method", "TemplateFloor", "RunMethod", "describe_run", "EvalResult", "MethodResult", "evaluate_methods"]


class Method(Protocol):
    """A predictor under evaluation.

    ``name``: short table label; ``description``: what it is; ``conditioned``: whether the
    prediction depends on the speaker condition (if not, it is predicted once per clip).
    ``predict(record, template, speaker)`` -> ``(T, V, 3)`` metres with ``T = record.n_frames``.
    """

    name: str
    description: str
    conditioned: bool

    def predict(self, record: ClipRecord, template: np.ndarray, speaker: int | None) -> np.ndarray: ...


@dataclass
class TemplateFloor:
    """The template-only floor: the subject's neutral template repeated for every frame."""

    name: str = "template only"
    description: str = "floor: the neutral template, no motion"
    conditioned: bool = False

    def predict(self, record: ClipRecord, template: np.ndarray, speaker: int | None) -> np.ndarray:
        return np.broadcast_to(np.asarray(template, np.float32), record.vertices.shape)


def has_reference(reader: SplitReader, subject: str) -> bool:
    """Whether the split's template of ``subject`` holds a reference expression (docs/format.md)."""
    ref = reader.subject_attrs(subject).get("expression_reference")
    return ref is not None and bool(np.any(np.asarray(ref) != 0))


def describe_run(cfg) -> str:
    """What a run is, from its resolved :class:`~emoface.train.config.ExperimentConfig`."""
    m = cfg.model
    if m.single_branch:
        what = "FaceFormer-style single branch"
    elif m.fusion == "add":
        what = "EmoFace, add instead of Mesh Attention (ablation)"
    else:
        dil = m.mesh_attention.dilation
        what = "EmoFace (Mesh Attention)" if dil == 1 else f"EmoFace (Mesh Attention, SpiralConv3D dilation {dil})"
    kind = cfg.schedule.kind
    training = {"self_growing": "self-growing", "teacher_forcing": "teacher forcing (ablation)"}.get(kind, kind.replace("_", " "))
    return f"{what}, {training} training"


class RunMethod:
    """A trained run (``runs/NAME``, its best checkpoint) as a :class:`Method`.

    Each clip is predicted autoregressively from its audio with the clip's intensity and the
    given training-speaker condition. ``first_frame`` starts decoding from the clip's first
    ground-truth frame (App. A.3: the models are trained with it as condition), otherwise from
    the template; ``None`` (default) follows the run's ``model.decoder.start_token``. ``use_labels`` additionally feeds the
    clip's emotion label through the optional label embedding (off by default: in the paper
    emotion comes from the audio).
    """

    conditioned = True

    def __init__(self, run_dir: str | Path, speakers: Sequence[str] | None = None, device: str = "cpu", which: str = "best",
                 first_frame: bool | None = None, use_labels: bool = False, data_topology_sha256: str | None = None):
        from emoface.train.checkpoint import RunSetupError, find_checkpoint, load_run

        self.run_dir = Path(run_dir)
        self.model, self.cfg, self.meta = load_run(self.run_dir, device, which)
        if first_frame is None:
            first_frame = getattr(self.cfg.model.decoder, "start_token", "first_frame") == "first_frame"
        self.info = {"run": str(self.run_dir), "checkpoint": str(find_checkpoint(self.run_dir, which)),
                     "first_frame": first_frame, "use_labels": use_labels}
        if data_topology_sha256 and self.meta.topology_sha256 and data_topology_sha256 != self.meta.topology_sha256:
            raise RunSetupError(f"{self.run_dir}: the run was trained on topology {self.meta.topology!r}, which differs from the data's")
        speakers = list(self.meta.speakers) if speakers is None else list(speakers)
        self.speakers = speakers
        missing = [s for s in speakers if s not in self.meta.speakers]
        if missing:
            raise ValueError(f"{self.run_dir}: condition speaker(s) {', '.join(missing)} are not training speakers of this run "
                             f"({', '.join(self.meta.speakers)})")
        self._index = [self.meta.speakers.index(s) for s in speakers]
        if use_labels and getattr(self.model, "emotion_label", None) is None:
            raise ValueError(f"{self.run_dir}: use_labels (--use-labels) needs the emotion-label embedding, and this run "
                             "was trained without it (model.emotion_label.enabled: false); its emotion comes from the audio")
        self.name = self.run_dir.name
        self.description = describe_run(self.cfg)
        self.first_frame = first_frame
        self.use_labels = use_labels

    def predict(self, record: ClipRecord, template: np.ndarray, speaker: int | None) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.model.predict(
                record.audio, template, speaker=self._index[speaker if speaker is not None else 0],
                intensity=int(record.intensity), emotion=int(record.emotion) if self.use_labels else None,
                n_frames=record.n_frames, first_frame=record.vertices[0] if self.first_frame else None,
            )
        return out.detach().cpu().numpy()


@dataclass
class MethodResult:
    """All per-clip, per-condition metric sums of one method."""

    name: str
    description: str
    clips: list[ClipMetrics] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    emotion_calls: list[EmotionCall] = field(default_factory=list)  # the emotion probe's verdicts (if one was given)


@dataclass
class EvalResult:
    """Metrics of every method on one split."""

    split_path: Path
    speakers: list[str]
    regions: EvalRegions
    n_clips: int
    n_frames: int
    methods: list[MethodResult]
    data_attrs: dict = field(default_factory=dict)
    conditions: list[int] = field(default_factory=list)  # the speaker indices predicted under
    truth: str | None = None  # the generated corpus scored against (``--truth``), if any
    emotion_probe: dict | None = None  # EmotionProbe.describe() of the classifier used, None: no emotion accuracy
    emotion_ceiling: list[EmotionCall] = field(default_factory=list)  # the probe on the test meshes themselves


def evaluate_methods(
    split_path: str | Path,
    methods: Sequence[Method],
    speakers: Sequence[str],
    conditions: Sequence[int] | None = None,
    clip_ids: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
    emotion_probe: EmotionProbe | None = None,
    truth: TruthCorpus | None = None,
) -> EvalResult:
    """Run ``methods`` on every clip of ``split_path``.

    Args:
        speakers: the training speakers (names; the condition index is a position here).
        conditions: speaker indices to condition on (default: all of ``speakers``).
        clip_ids: restrict to these clips (default: all, sorted).
        emotion_probe: also classify each prediction's emotion (and the test meshes themselves,
            the ceiling): :mod:`emoface.eval.emotion_accuracy`.
        truth: a generated corpus's ground truth: every prediction is also scored against
            the true offsets (:mod:`emoface.eval.truth`; checked against the split first).
    Each clip is read once; conditioned methods run once per condition, others once.
    """
    split_path = Path(split_path)
    conds = list(range(len(speakers))) if conditions is None else [int(c) for c in conditions]
    bad = [c for c in conds if not 0 <= c < len(speakers)]
    if bad or not conds:
        raise ValueError(f"conditions {bad or conds} not in 0..{len(speakers) - 1} (training speakers: {', '.join(speakers)})")
    results = [MethodResult(m.name, m.description, extra=dict(getattr(m, "info", {}))) for m in methods]
    with SplitReader(split_path) as reader:
        regions = resolve_regions(reader.regions, reader.n_vertices)
        if emotion_probe is not None:
            emotion_probe.check_compatible(split_path, reader.n_vertices, str(reader.attrs.get("topology_sha256", "")))
        ceiling: list[EmotionCall] = []
        ids = list(reader.clip_ids if clip_ids is None else clip_ids)
        if not ids:
            raise ValueError(f"{split_path}: no clips to evaluate")
        if truth is not None:
            truth.check({cid: reader.clip_meta(cid).n_frames for cid in ids}, reader.n_vertices)
        n_frames = 0
        for cid in ids:
            rec = reader.read_clip(cid, params=False)
            template = reader.template(rec.subject)
            true_offsets = (truth.offsets(cid, rec.n_frames, reference=has_reference(reader, rec.subject))
                            if truth is not None else None)
            n_frames += rec.n_frames
            if emotion_probe is not None:
                ceiling.append(EmotionCall(cid, "-", int(rec.emotion), emotion_probe.predict(rec.vertices, template)))
            for m, res in zip(methods, results):
                for c in conds if m.conditioned else [None]:
                    pred = np.asarray(m.predict(rec, template, c), dtype=np.float32)
                    if pred.shape != rec.vertices.shape:
                        raise ValueError(f"{m.name}: prediction for {cid} has shape {pred.shape}, expected {rec.vertices.shape}")
                    res.clips.append(
                        clip_metrics(
                            pred, rec.vertices, template, regions,
                            clip_id=cid, condition=speakers[c] if c is not None else "-", subject=rec.subject,
                            emotion=rec.emotion, intensity=rec.intensity, true_offsets=true_offsets,
                        )
                    )
                    if emotion_probe is not None:
                        cond = speakers[c] if c is not None else "-"
                        res.emotion_calls.append(EmotionCall(cid, cond, int(rec.emotion), emotion_probe.predict(pred, template)))
            if progress:
                progress(cid)
        attrs = dict(reader.attrs)
    return EvalResult(split_path, list(speakers), regions, len(ids), n_frames, results, attrs, conds,
                      str(truth.folder) if truth is not None else None,
                      emotion_probe.describe() if emotion_probe is not None else None, ceiling)
