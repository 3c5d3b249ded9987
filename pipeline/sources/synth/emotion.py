"""Emotion and intensity -> facial expression curves and speech prosody.

Expression channels (0 none .. 1 full), loosely the FACS action units of Ekman's prototypes:

- ``smile`` (AU12 lip corner puller), ``frown`` (AU15 lip corner depressor),
- ``brow_raise`` (AU1+2 inner and outer brow raiser), ``brow_inner`` (AU1 alone, the sad brow),
- ``brow_lower`` (AU4), ``eye_wide`` (AU5 upper lid raiser), ``squint`` (AU6/7 cheek raiser,
  lid tightener), ``sneer`` (AU9/10 nose wrinkler, upper lip raiser),
- ``press`` (AU24 lip presser), ``lip_stretch`` (AU20), ``jaw_drop`` (AU26, a tonic opening).

A clip's curve starts near neutral, rises to the emotion's level around speech onset, varies
slowly while speaking, adds brow emphasis on stressed syllables, and relaxes a little after
the speech ends. ``strong`` intensity uses the profile as is, ``normal`` a fraction of it.
Prosody follows the direction of the classic findings (Murray & Arnott 1993): joy, anger,
fear and surprise raise pitch, range and loudness; sadness and calm lower rate, pitch and
range; fear speeds speech up; sadness and disgust slow it down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from emoface.data.ravdess import EMOTIONS
from pipeline.sources.synth.speech import Phoneme, Prosody

__all__ = ["EXPRESSION_CHANNELS", "PROFILES", "EmotionConfig", "emotion_prosody", "expression_curves"]

EXPRESSION_CHANNELS: tuple[str, ...] = (
    "smile", "frown", "brow_raise", "brow_inner", "brow_lower", "eye_wide", "squint", "sneer", "press", "lip_stretch", "jaw_drop",
)

# Strong-intensity profiles (normal intensity scales them by EmotionConfig.normal_scale).
PROFILES: dict[str, dict[str, float]] = {
    "neutral": {},
    "calm": {"smile": 0.25, "squint": 0.10},
    "happy": {"smile": 0.95, "squint": 0.55, "brow_raise": 0.15},
    "sad": {"brow_inner": 0.85, "brow_lower": 0.15, "frown": 0.75, "squint": 0.10},
    "angry": {"brow_lower": 0.75, "squint": 0.45, "press": 0.45, "sneer": 0.25},
    "fearful": {"brow_raise": 0.75, "brow_inner": 0.4, "eye_wide": 0.85, "lip_stretch": 0.7, "jaw_drop": 0.12},
    "disgust": {"sneer": 0.95, "brow_lower": 0.4, "frown": 0.35, "squint": 0.3},
    "surprised": {"brow_raise": 1.0, "eye_wide": 0.9, "jaw_drop": 0.3},
}

# (rate factor, pitch offset, range factor, loudness factor) at strong intensity
_PROSODY: dict[str, tuple[float, float, float, float]] = {
    "neutral": (1.00, 0.0, 1.00, 1.00),
    "calm": (0.90, -5.0, 0.80, 0.80),
    "happy": (1.08, 12.0, 1.50, 1.20),
    "sad": (0.80, -9.0, 0.55, 0.70),
    "angry": (1.12, 8.0, 1.55, 1.55),
    "fearful": (1.25, 16.0, 1.35, 1.05),
    "disgust": (0.85, -6.0, 1.20, 1.00),
    "surprised": (1.00, 18.0, 1.80, 1.25),
}

# how much the brows move with stressed syllables (arousal)
_EMPHASIS: dict[str, float] = {
    "neutral": 0.4, "calm": 0.3, "happy": 0.6, "sad": 0.3, "angry": 0.5, "fearful": 0.6, "disgust": 0.4, "surprised": 0.7,
}


@dataclass(frozen=True)
class EmotionConfig:
    """``normal_scale``: normal intensity relative to strong; ``variation``: slow random variation
    of the expression while speaking (fraction); ``onset_s``: rise time of the expression;
    ``emphasis_gain``: brow movement on stressed syllables; ``release``: fraction of the
    expression kept after speech ends."""

    normal_scale: float = 0.55
    variation: float = 0.12
    onset_s: float = 0.6
    emphasis_gain: float = 0.8
    release: float = 0.75


def _level(emotion: str, intensity: int, cfg: EmotionConfig) -> float:
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}; choose one of {', '.join(EMOTIONS)}")
    return 1.0 if intensity == 2 else cfg.normal_scale


def emotion_prosody(base: Prosody, emotion: str, intensity: int, cfg: EmotionConfig = EmotionConfig()) -> Prosody:
    """An actor's base prosody changed by ``emotion`` at ``intensity`` (1 normal, 2 strong)."""
    k = _level(emotion, intensity, cfg)
    rate, pitch, prange, loud = _PROSODY[emotion]
    return Prosody(
        rate=int(round(base.rate * (1.0 + k * (rate - 1.0)))),
        pitch=int(round(base.pitch + k * pitch)),
        pitch_range=int(round(base.pitch_range * (1.0 + k * (prange - 1.0)))),
        gain=float(base.gain * (1.0 + k * (loud - 1.0))),
    ).clamped()


def _smooth_noise(rng: np.random.Generator, n: int, fps: float, timescale_s: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian noise low-passed with a ``timescale_s`` Gaussian."""
    x = gaussian_filter1d(rng.standard_normal(n + 64), max(timescale_s * fps, 0.5), mode="wrap")[32 : 32 + n]
    return x / max(float(x.std()), 1e-6)


def expression_curves(
    emotion: str,
    intensity: int,
    phonemes: Sequence[Phoneme],
    n_frames: int,
    fps: float,
    rng: np.random.Generator,
    cfg: EmotionConfig = EmotionConfig(),
    expressiveness: float = 1.0,
) -> np.ndarray:
    """Expression channel values ``(T, len(EXPRESSION_CHANNELS))`` at frame times ``k / fps``.

    ``expressiveness`` is the actor's overall gain (0.7-1.3); ``rng`` drives onset timing,
    slow variation and emphasis and is the only source of randomness.
    """
    k = _level(emotion, intensity, cfg) * expressiveness
    t = np.arange(n_frames) / fps
    speech_on = phonemes[0].start_s if phonemes else 0.3 * t[-1]
    speech_off = phonemes[-1].end_s if phonemes else 0.8 * t[-1]
    start = max(0.0, speech_on - cfg.onset_s * rng.uniform(0.6, 1.2))
    rise = np.clip((t - start) / cfg.onset_s, 0.0, 1.0)
    rise = rise * rise * (3.0 - 2.0 * rise)  # smoothstep
    base = rng.uniform(0.1, 0.3)  # actors start a little in character
    after = np.clip((t - speech_off) / 0.6, 0.0, 1.0)
    envelope = (base + (1.0 - base) * rise) * (1.0 - (1.0 - cfg.release) * after)
    out = np.zeros((n_frames, len(EXPRESSION_CHANNELS)), dtype=np.float64)
    for name, value in PROFILES[emotion].items():
        j = EXPRESSION_CHANNELS.index(name)
        wobble = 1.0 + cfg.variation * _smooth_noise(rng, n_frames, fps, 0.5)
        out[:, j] = k * value * envelope * wobble
    # prosodic brow emphasis: a raise on each stressed vowel, larger for aroused emotions
    amp = cfg.emphasis_gain * _EMPHASIS[emotion] * (0.6 + 0.4 * k) * expressiveness
    pulses = np.zeros(n_frames)
    for ph in phonemes:
        if ph.stressed:
            centre = 0.5 * (ph.start_s + ph.end_s)
            pulses += rng.uniform(0.6, 1.2) * np.exp(-0.5 * ((t - centre) / 0.12) ** 2)
    j = EXPRESSION_CHANNELS.index("brow_raise")
    out[:, j] += amp * np.minimum(pulses, 1.3)
    return np.clip(out, 0.0, 1.3).astype(np.float32)
