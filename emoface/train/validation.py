"""Validation during training: autoregressive prediction of held-out clips, LVE and EVE.

LVE (paper §4.2): per frame, the maximum over lip vertices of the squared L2 error (metres^2),
averaged over all frames of all clips. EVE (paper §4.2): the same over the eye region and the
forehead. Values are in m^2 (the paper reports them divided by 1e-5). The per-frame errors
and the regions come from :mod:`emoface.metrics` (the project's one definition). The
template-only floor is the same metric for a prediction that is the subject's template at
every frame. With Mesh Attention, ``mesh_attention_weight`` is the emotion branch's mean
fusion weight over the clips' frames and vertices: a value pinned near 0 or 1 means the fusion
has collapsed onto one branch (its sigmoid saturated, so no gradient brings it back;
:func:`collapsed` and the trainer's warning).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from emoface.data.dataset import MeshSeqDataset
from emoface.metrics import MetricError, region_frame_errors, resolve_regions
from emoface.train.distributed import DistInfo, all_sum

__all__ = ["COLLAPSE_MARGIN", "METRICS", "ValidationResult", "collapsed", "eval_regions", "validate"]

#: a mean Mesh Attention weight within this of 0 or 1 counts as a collapse onto one branch
COLLAPSE_MARGIN = 1e-3


@dataclass
class ValidationResult:
    lve: float  # m^2
    eve: float  # m^2 (nan without eye/forehead regions)
    template_lve: float
    template_eve: float
    clips: int
    frames: int
    mesh_attention_weight: float = float("nan")  # emotion branch's mean fusion weight (nan without Mesh Attention)

    def to_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


#: the per-epoch validation measures of :class:`ValidationResult` (``metrics.json`` ``val``, tensorboard
#: ``val/*``, ``emoface diagnose``'s curves); nan where they do not apply
METRICS: tuple[str, ...] = ("lve", "eve", "template_lve", "template_eve", "mesh_attention_weight")


def collapsed(weight: float, margin: float = COLLAPSE_MARGIN) -> bool:
    """Whether a mean Mesh Attention weight says that the fusion uses one branch only (nan: no)."""
    return weight == weight and (weight < margin or weight > 1.0 - margin)


def eval_regions(regions: dict[str, np.ndarray], n_vertices: int) -> tuple[np.ndarray, np.ndarray | None]:
    """LVE vertices (``lips``) and EVE vertices (``eye_region`` ∪ ``forehead``), as the evaluation uses them.

    A topology without these regions still validates: LVE then uses every vertex (and EVE is
    skipped), so that training on custom data works; the evaluation command will refuse it.
    """
    try:
        r = resolve_regions(regions, n_vertices)
        return r.lips, r.emotion
    except MetricError:
        lips = regions.get("lips")
        return (np.asarray(lips, dtype=np.int64) if lips is not None and len(lips) else np.arange(n_vertices)), None


def validate(model, data: MeshSeqDataset, device: torch.device, info: DistInfo, val_speaker: int = 0,
             max_clips: int | None = None, clip_ids: Sequence[str] | None = None) -> ValidationResult:
    """Predict each validation clip autoregressively (GT first frame, its intensity label, emotion from audio).

    In DDP each rank takes every ``world_size``-th clip and the sums are reduced.
    """
    ids = list(clip_ids or data.clip_ids)[: max_clips or None]
    lips, eve = eval_regions({k: np.asarray(v) for k, v in data.regions.items()}, model.n_vertices)
    first = model.cfg.decoder.start_token == "first_frame"
    sums = [0.0] * 8  # lve, eve, tpl_lve, tpl_eve, frames, clips, Mesh Attention weight sum, its count
    for cid in ids[info.rank :: info.world_size]:
        s = data[data.index_of(cid)]
        spk = s.speaker if s.speaker >= 0 else val_speaker
        gt = s.vertices
        out = model.generate(s.audio, s.template, speaker=spk, intensity=s.intensity, n_frames=s.n_frames,
                             first_frame=gt[0] if first else None)
        pred = out.vertices[0].cpu()
        if out.offsets.weight is not None:
            sums[6] += float(out.offsets.weight.sum())
            sums[7] += out.offsets.weight.numel()
        tpl = s.template.unsqueeze(0).expand_as(gt)
        sums[0] += float(region_frame_errors(pred, gt, lips).sum())
        sums[2] += float(region_frame_errors(tpl, gt, lips).sum())
        if eve is not None:
            sums[1] += float(region_frame_errors(pred, gt, eve).sum())
            sums[3] += float(region_frame_errors(tpl, gt, eve).sum())
        sums[4] += gt.shape[0]
        sums[5] += 1
    sums = all_sum(sums, device, info)
    n = max(sums[4], 1.0)
    nan = float("nan")
    return ValidationResult(
        lve=sums[0] / n, eve=sums[1] / n if eve is not None else nan,
        template_lve=sums[2] / n, template_eve=sums[3] / n if eve is not None else nan,
        clips=int(sums[5]), frames=int(sums[4]),
        mesh_attention_weight=sums[6] / sums[7] if sums[7] else nan,
    )
