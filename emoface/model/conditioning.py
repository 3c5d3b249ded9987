"""Conditioning vectors from user-friendly values: speaker, intensity and emotion weights.

Each function returns a ``(B, K)`` float32 tensor: one-hot rows for a single choice, or
normalised weights for a mix (a speaking-style mix, an intensity between normal and strong,
an emotion mix such as ``happy=0.7,sad=0.3``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from emoface.data.ravdess import EMOTIONS

__all__ = ["speaker_weights", "intensity_weights", "emotion_weights", "parse_emotion_mix", "ConditionError"]


class ConditionError(ValueError):
    """A speaker, intensity or emotion value that does not fit the model (the message says why)."""


def _rows(value, k: int, batch: int, what: str) -> torch.Tensor:
    """Index / list of indices / (K,) / (B, K) weights -> (B, K)."""
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if isinstance(value, torch.Tensor) and value.is_floating_point() or (
        isinstance(value, Sequence) and value and isinstance(value[0], float)
    ):
        w = torch.as_tensor(value, dtype=torch.float32)
        w = w.unsqueeze(0) if w.dim() == 1 else w
        if w.shape[-1] != k:
            raise ConditionError(f"{what} weights must have {k} entries, got {tuple(w.shape)}")
        if w.shape[0] == 1 and batch > 1:
            w = w.expand(batch, -1)
        if w.shape[0] != batch:
            raise ConditionError(f"{what} weights for {w.shape[0]} items, batch is {batch}")
        if (w < 0).any():
            raise ConditionError(f"{what} weights must be >= 0")
        return w.clone()
    idx = torch.as_tensor(value, dtype=torch.long).reshape(-1)
    if idx.numel() == 1 and batch > 1:
        idx = idx.expand(batch)
    if idx.numel() != batch:
        raise ConditionError(f"{idx.numel()} {what} indices for a batch of {batch}")
    if (idx < 0).any() or (idx >= k).any():
        raise ConditionError(f"{what} index out of range [0, {k}): {idx.tolist()}")
    return torch.nn.functional.one_hot(idx, k).float()


def speaker_weights(speaker, n_speakers: int, batch: int = 1) -> torch.Tensor:
    """Speaker one-hot ``(B, S)`` from an index, B indices, or weights over the training speakers."""
    return _rows(speaker, n_speakers, batch, "speaker")


def intensity_weights(intensity, n_intensities: int = 2, batch: int = 1) -> torch.Tensor:
    """Intensity ``(B, 2)``: 0 normal, 1 strong, a float ``a`` in [0, 1] gives ``[1 - a, a]``."""
    if isinstance(intensity, float) and n_intensities == 2:
        if not 0.0 <= intensity <= 1.0:
            raise ConditionError(f"intensity {intensity} is not in [0, 1]")
        return torch.tensor([[1.0 - intensity, intensity]]).expand(batch, -1).clone()
    return _rows(intensity, n_intensities, batch, "intensity")


def parse_emotion_mix(text: str, names: Sequence[str] = EMOTIONS) -> dict[str, float]:
    """``"happy=0.7,sad=0.3"`` -> ``{"happy": 0.7, "sad": 0.3}`` (names checked)."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, val = part.partition("=")
        name = name.strip().lower()
        if not sep:
            raise ConditionError(f"emotion mix {text!r}: expected name=weight, got {part!r}")
        if name not in names:
            raise ConditionError(f"emotion mix {text!r}: unknown emotion {name!r} (known: {', '.join(names)})")
        try:
            out[name] = out.get(name, 0.0) + float(val)
        except ValueError as exc:
            raise ConditionError(f"emotion mix {text!r}: weight {val!r} is not a number") from exc
    if not out:
        raise ConditionError(f"emotion mix {text!r} is empty")
    return out


def emotion_weights(emotion, n_emotions: int, batch: int = 1, names: Sequence[str] | None = None) -> torch.Tensor:
    """Emotion-label weights ``(B, E)``, rows summing to 1.

    ``emotion``: a class index, a name (``"happy"``), a mix ``{"happy": 0.7, "sad": 0.3}``
    (names or indices; weights are normalised to sum 1), a mix string
    ``"happy=0.7,sad=0.3"``, a list of B indices, or ``(B, E)`` / ``(E,)`` weights.
    """
    names = tuple(names or EMOTIONS)
    if isinstance(emotion, str):
        emotion = parse_emotion_mix(emotion, names) if "=" in emotion else emotion.strip().lower()
        if isinstance(emotion, str):
            if emotion not in names:
                raise ConditionError(f"unknown emotion {emotion!r} (known: {', '.join(names)})")
            emotion = names.index(emotion)
    if isinstance(emotion, Mapping):
        w = torch.zeros(n_emotions)
        for key, val in emotion.items():
            i = names.index(key) if isinstance(key, str) and key in names else key
            if not isinstance(i, int) or not 0 <= i < n_emotions:
                raise ConditionError(f"unknown emotion {key!r} in mix (known: {', '.join(names)})")
            w[i] += float(val)
        if (w < 0).any() or w.sum() <= 0:
            raise ConditionError(f"emotion mix {dict(emotion)} needs non-negative weights with a positive sum")
        emotion = w
    w = _rows(emotion, n_emotions, batch, "emotion")
    s = w.sum(dim=1, keepdim=True)
    if (s <= 0).any():
        raise ConditionError("emotion weights need a positive sum")
    return w / s
