"""Vertex-error metrics of the speech-driven 3D face literature: LVE, EVE and FDD.

All three take vertex sequences in **metres** and compare a prediction with the ground truth
frame by frame (frame ``t`` of one is frame ``t`` of the other).

LVE (lip vertex error; MeshTalk, FaceFormer, CodeTalker, EmoFace section 4.2)::

    e_t   = max_{v in lips} || gt[t, v] - pred[t, v] ||_2^2          (squared metres, no sqrt)
    LVE   = (1 / N) * sum_t e_t     over ALL N test frames, every clip concatenated

EVE (emotional vertex error; EmoTalk, EmoFace section 4.2): the same recipe over the
eye and forehead vertices (``eye_region`` union ``forehead`` of FLAME_masks.pkl).

Both are reported divided by :data:`REPORT_SCALE` (1e-5), the scale of EmoFace's Table 2
(values "x10^-5"; squared metres). Because the mean runs over frames, not clips, a long clip
weighs more than a short one; :class:`ClipMetrics` keeps per-clip *sums* so that any subset
of clips (one emotion, one intensity, one condition) aggregates exactly.

The per-clip computation is ``torchmetrics.functional.multimodal.lip_vertex_error`` (the
torchmetrics implementation of this exact definition), run in float64; EVE is the same
function with the eye+forehead index list.

FDD (upper-face dynamics deviation; CodeTalker ``cal_metric.py``)::

    d_X(v)  = std_t( || X[t, v] - template[v] ||_2^2 )     population std (ddof 0), per vertex
    dyn(X)  = mean_{v in upper} d_X(v)
    FDD_clip = dyn(gt) - dyn(pred)                          signed: > 0 means too little motion
    FDD     = mean over clips of FDD_clip                   (a per-sequence mean, not per frame)

FDD is reported divided by :data:`FDD_REPORT_SCALE` (1e-7), as CodeTalker reports it.

Against the truth (a generated corpus; ``emoface.eval.truth``): the same LVE/EVE recipe on
offsets, ``pred - template`` against ``true vertices - true template``, so that the error of
the fitted identity does not count (``true_offsets`` of :func:`clip_metrics`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torchmetrics.functional.multimodal import lip_vertex_error as _tm_lip_vertex_error

__all__ = [
    "REPORT_SCALE",
    "FDD_REPORT_SCALE",
    "MetricError",
    "EvalRegions",
    "resolve_regions",
    "region_frame_errors",
    "region_vertex_error",
    "lip_vertex_error",
    "emotional_vertex_error",
    "upper_face_dynamics",
    "fdd",
    "ClipMetrics",
    "clip_metrics",
    "Aggregate",
    "aggregate",
]

REPORT_SCALE = 1e-5
FDD_REPORT_SCALE = 1e-7


class MetricError(ValueError):
    """Inputs that the metrics cannot compare (shapes, regions); the message says which."""


ArrayLike = np.ndarray | torch.Tensor


def _as_f64(x: ArrayLike, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x.detach().to(device="cpu", dtype=torch.float64)
    else:
        t = torch.from_numpy(np.array(x, dtype=np.float64))  # a copy: inputs may be read-only views
    if t.ndim == 2 and t.shape[-1] % 3 == 0 and t.shape[-1] != 3:
        t = t.reshape(t.shape[0], -1, 3)  # FaceFormer's flat (T, V*3) layout
    if t.ndim != 3 or t.shape[-1] != 3:
        raise MetricError(f"{name}: expected (T, V, 3) vertices, got shape {tuple(t.shape)}")
    return t


def _pair(pred: ArrayLike, gt: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    p, g = _as_f64(pred, "pred"), _as_f64(gt, "gt")
    if p.shape != g.shape:
        raise MetricError(f"pred {tuple(p.shape)} and gt {tuple(g.shape)} differ: predictions must have the ground truth's frame count")
    if p.shape[0] == 0:
        raise MetricError("empty sequence (0 frames)")
    return p, g


def _indices(idx: Sequence[int] | np.ndarray, n_vertices: int, name: str) -> list[int]:
    arr = np.asarray(idx, dtype=np.int64).ravel()
    if arr.size == 0:
        raise MetricError(f"region {name!r} is empty")
    if arr.min() < 0 or arr.max() >= n_vertices:
        raise MetricError(f"region {name!r} holds indices outside [0, {n_vertices})")
    return arr.tolist()


@dataclass(frozen=True)
class EvalRegions:
    """Vertex index sets used by the metrics (int64 arrays, sorted, unique).

    ``lips`` for LVE, ``emotion`` (eye region plus forehead) for EVE, ``upper`` (the
    upper face) for FDD.
    """

    lips: np.ndarray
    emotion: np.ndarray
    upper: np.ndarray
    source: dict[str, list[str]] = field(default_factory=dict)


def resolve_regions(regions: Mapping[str, np.ndarray], n_vertices: int | None = None) -> EvalRegions:
    """Pick the metric regions from a topology's named regions (HDF5 ``/topology/regions``).

    - LVE: ``lips`` (FLAME_masks ``lips``; the demo head's ``lips``).
    - EVE: ``eye_region`` union ``forehead`` (paper §4.2; EmoFace names no exact set).
    - FDD: ``upper_face`` when the topology defines it, otherwise ``eye_region`` union
      ``forehead`` (CodeTalker's ``fdd.txt`` for FLAME is not public).

    Raises :class:`MetricError` naming the missing region(s).
    """
    missing = [k for k in ("lips", "eye_region", "forehead") if k not in regions]
    if missing:
        raise MetricError(f"topology lacks region(s) {', '.join(missing)} (has: {', '.join(sorted(regions)) or 'none'})")

    def norm(*names: str) -> np.ndarray:
        arr = np.unique(np.concatenate([np.asarray(regions[n], dtype=np.int64).ravel() for n in names]))
        if n_vertices is not None:
            _indices(arr, n_vertices, "+".join(names))
        return arr

    upper_names = ("upper_face",) if "upper_face" in regions else ("eye_region", "forehead")
    return EvalRegions(
        lips=norm("lips"),
        emotion=norm("eye_region", "forehead"),
        upper=norm(*upper_names),
        source={"lve": ["lips"], "eve": ["eye_region", "forehead"], "fdd": list(upper_names)},
    )


def region_frame_errors(pred: ArrayLike, gt: ArrayLike, region: Sequence[int] | np.ndarray) -> torch.Tensor:
    """Per-frame maximum squared L2 error over ``region``.

    Args:
        pred, gt: (T, V, 3) (or flat (T, V*3)) vertices in metres.
        region: vertex indices.
    Returns:
        (T,) float64 tensor, ``e_t = max_{v in region} ||gt[t,v] - pred[t,v]||^2`` in m^2.
    """
    p, g = _pair(pred, gt)
    idx = torch.as_tensor(_indices(region, p.shape[1], "region"))
    return ((g[:, idx] - p[:, idx]) ** 2).sum(-1).amax(dim=1)


def region_vertex_error(pred: ArrayLike, gt: ArrayLike, region: Sequence[int] | np.ndarray) -> float:
    """Mean over the frames of ``pred``/``gt`` of the per-frame max squared error over ``region``
    (m^2, unscaled), computed by torchmetrics' ``lip_vertex_error`` in float64."""
    p, g = _pair(pred, gt)
    idx = _indices(region, p.shape[1], "region")
    return float(_tm_lip_vertex_error(p, g, idx))


def lip_vertex_error(pred: ArrayLike, gt: ArrayLike, lips: Sequence[int] | np.ndarray) -> float:
    """LVE of one sequence (or of all test frames stacked into one (N, V, 3) array), in m^2.

    ``mean_t max_{v in lips} ||gt[t,v] - pred[t,v]||_2^2``; divide by :data:`REPORT_SCALE`
    for the paper's units. For several clips use :func:`aggregate` over :func:`clip_metrics`
    (frame-weighted, identical to concatenating every frame).
    """
    return region_vertex_error(pred, gt, lips)


def emotional_vertex_error(pred: ArrayLike, gt: ArrayLike, eye_forehead: Sequence[int] | np.ndarray) -> float:
    """EVE of one sequence in m^2: the LVE recipe over the eye and forehead vertices."""
    return region_vertex_error(pred, gt, eye_forehead)


def upper_face_dynamics(vertices: ArrayLike, template: ArrayLike, upper: Sequence[int] | np.ndarray) -> float:
    """``mean_{v in upper} std_t ||vertices[t,v] - template[v]||_2^2`` (m^2; population std).

    Args:
        vertices: (T, V, 3) metres. template: (V, 3) metres, the subject's neutral face.
    """
    x = _as_f64(vertices, "vertices")
    tpl = torch.as_tensor(np.asarray(template), dtype=torch.float64).reshape(1, -1, 3)
    if tpl.shape[1] != x.shape[1]:
        raise MetricError(f"template has {tpl.shape[1]} vertices, sequence has {x.shape[1]}")
    idx = torch.as_tensor(_indices(upper, x.shape[1], "upper"))
    disp = ((x[:, idx] - tpl[:, idx]) ** 2).sum(-1)  # (T, |upper|)
    return float(disp.std(dim=0, correction=0).mean())


def fdd(pred: ArrayLike, gt: ArrayLike, template: ArrayLike, upper: Sequence[int] | np.ndarray) -> float:
    """Upper-face dynamics deviation of one clip, ``dyn(gt) - dyn(pred)`` (m^2, signed)."""
    p, g = _pair(pred, gt)
    return upper_face_dynamics(g, template, upper) - upper_face_dynamics(p, template, upper)


@dataclass(frozen=True)
class ClipMetrics:
    """Metric sums of one predicted clip (one conditioning speaker), unscaled (m^2).

    ``lve_sum`` / ``eve_sum`` are sums over the clip's frames of the per-frame region maxima,
    so that frame-weighted means over any set of clips are exact.
    """

    clip_id: str
    condition: str
    subject: str
    emotion: int
    intensity: int
    n_frames: int
    lve_sum: float
    eve_sum: float
    fdd: float
    truth_lve_sum: float | None = None  # offsets against the true offsets (generated corpus); None: no truth
    truth_eve_sum: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def clip_metrics(
    pred: ArrayLike,
    gt: ArrayLike,
    template: ArrayLike,
    regions: EvalRegions,
    *,
    clip_id: str = "",
    condition: str = "",
    subject: str = "",
    emotion: int = -1,
    intensity: int = -1,
    true_offsets: ArrayLike | None = None,
) -> ClipMetrics:
    """All metric sums of one clip; ``pred`` and ``gt`` (T, V, 3) metres, ``template`` (V, 3).

    ``true_offsets (T, V, 3)`` (true vertices minus the true template) adds the sums against
    the truth: ``pred - template`` compared with them over the lips and the eye+forehead set.
    """
    p, g = _pair(pred, gt)
    n = int(p.shape[0])
    truth_lve = truth_eve = None
    if true_offsets is not None:
        tpl = torch.as_tensor(np.asarray(template), dtype=torch.float64).reshape(1, -1, 3)
        if tpl.shape[1] != p.shape[1]:
            raise MetricError(f"template has {tpl.shape[1]} vertices, the prediction {p.shape[1]}")
        po, to = _pair(p - tpl, true_offsets)
        truth_lve = region_vertex_error(po, to, regions.lips) * n
        truth_eve = region_vertex_error(po, to, regions.emotion) * n
    return ClipMetrics(
        clip_id=clip_id,
        condition=condition,
        subject=subject,
        emotion=int(emotion),
        intensity=int(intensity),
        n_frames=n,
        lve_sum=region_vertex_error(p, g, regions.lips) * n,
        eve_sum=region_vertex_error(p, g, regions.emotion) * n,
        fdd=fdd(p, g, template, regions.upper),
        truth_lve_sum=truth_lve,
        truth_eve_sum=truth_eve,
    )


@dataclass(frozen=True)
class Aggregate:
    """Aggregated metrics in report units: LVE and EVE in 1e-5 m^2, FDD in 1e-7 m^2."""

    lve: float
    eve: float
    fdd: float
    n_frames: int
    n_clips: int
    lve_truth: float | None = None  # 1e-5 m^2 against the truth; None unless every clip has it
    eve_truth: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def aggregate(clips: Iterable[ClipMetrics]) -> Aggregate:
    """Frame-weighted LVE/EVE (mean over all frames of all clips) and the per-clip mean FDD.

    Raises :class:`MetricError` when ``clips`` is empty.
    """
    clips = list(clips)
    if not clips:
        raise MetricError("no clips to aggregate")
    n = sum(c.n_frames for c in clips)
    truth = all(c.truth_lve_sum is not None and c.truth_eve_sum is not None for c in clips)
    return Aggregate(
        lve=sum(c.lve_sum for c in clips) / n / REPORT_SCALE,
        eve=sum(c.eve_sum for c in clips) / n / REPORT_SCALE,
        fdd=float(np.mean([c.fdd for c in clips])) / FDD_REPORT_SCALE,
        n_frames=n,
        n_clips=len(clips),
        lve_truth=sum(c.truth_lve_sum for c in clips) / n / REPORT_SCALE if truth else None,
        eve_truth=sum(c.truth_eve_sum for c in clips) / n / REPORT_SCALE if truth else None,
    )
