"""The ranking experiment's methods (bench/rank.py): each one's ``emoface train --set`` overrides, the ones
``make rank`` runs, and the ones with an emotion branch (diagnosed after training, bench/rank_stages.py)."""

from __future__ import annotations

__all__ = ["COMMON", "METHODS", "DEFAULT_METHODS", "DIAGNOSED"]

#: ``emoface train --set`` overrides of every method: the comparison is the paper's (conditioned on audio
#: alone, so no emotion-label embedding: evaluate gives no label), and with randomly initialised encoders the
#: emotion branch needs L_cls to weigh: at the paper's 1e-4 (meant for a pretrained speech-emotion encoder)
#: L_cls stayed at a uniform guess, ln 8, through training (docs/deviations.md, "Emotion classification weight")
COMMON: tuple[str, ...] = ("model.emotion_label.enabled=false", "loss.classification_weight=1.0")
#: method -> ``emoface train --set`` overrides (paper §4.4 ablations; the single branch is FaceFormer-style)
METHODS: dict[str, tuple[str, ...]] = {
    "emoface": (),
    "single_branch": ("model.single_branch=true",),
    "add": ("model.fusion=add",),
    "teacher_forcing": ("schedule.kind=teacher_forcing",),
    # opt-in (``--methods``), not in the default run: Table 4's dilation question (issue 16 item 5), EmoFace with
    # the SpiralConv3D dilation of the paper preset (2) and one above it, against the small preset's 1
    "emoface_dilation2": ("model.mesh_attention.dilation=2",),
    "emoface_dilation3": ("model.mesh_attention.dilation=3",),
}
#: the methods of ``make rank`` (the paper's Table 2 ablations)
DEFAULT_METHODS: tuple[str, ...] = ("emoface", "single_branch", "add", "teacher_forcing")
#: the methods with an emotion branch (all but the single branch), diagnosed after training (``emoface diagnose``)
DIAGNOSED: tuple[str, ...] = tuple(m for m, sets in METHODS.items() if "model.single_branch=true" not in sets)
