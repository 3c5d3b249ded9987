"""Head motion and blinks.

Head motion = the actor's rest pose + slow smooth wandering (Gaussian-filtered noise with the
actor's standard deviations and timescale) + small nods that follow speech loudness + an
emotion-dependent posture (sad: head lowered; surprised: raised; angry: chin down and
forward). Blinks are a Poisson process at the actor's rate (fewer while speaking, as people
do), each a fast close (~80 ms) and a slower opening (~150 ms).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from pipeline.sources.synth.actors import Actor

__all__ = ["speech_envelope", "head_motion", "blinks"]

# posture offsets at strong intensity: (pitch rad, yaw rad, roll rad, forward m)
_POSTURE = {
    "neutral": (0.0, 0.0, 0.0, 0.0),
    "calm": (0.0, 0.0, 0.01, 0.0),
    "happy": (-0.015, 0.0, 0.02, 0.0),
    "sad": (0.06, 0.0, 0.01, -0.005),
    "angry": (0.03, 0.0, 0.0, 0.012),
    "fearful": (0.0, 0.02, 0.0, -0.01),
    "disgust": (0.01, -0.03, 0.015, -0.006),
    "surprised": (-0.04, 0.0, 0.0, -0.008),
}


def speech_envelope(audio: np.ndarray, sample_rate: int, n_frames: int, fps: float, offset_s: float = 0.0) -> np.ndarray:
    """RMS loudness per video frame ``(T,)``, normalised to [0, 1]; ``audio`` starts at ``offset_s``."""
    out = np.zeros(n_frames)
    half = int(sample_rate / fps)
    for k in range(n_frames):
        c = int(round((k / fps - offset_s) * sample_rate))
        lo, hi = max(c - half, 0), min(c + half, audio.shape[0])
        if hi > lo:
            out[k] = float(np.sqrt(np.mean(audio[lo:hi].astype(np.float64) ** 2)))
    peak = out.max()
    return out / peak if peak > 0 else out


def _wander(rng: np.random.Generator, n: int, fps: float, timescale_s: float) -> np.ndarray:
    x = gaussian_filter1d(rng.standard_normal(n + 120), timescale_s * fps / 2.0, mode="nearest")[60 : 60 + n]
    return x / max(float(x.std()), 1e-6)


def head_motion(
    actor: Actor, emotion: str, intensity_scale: float, envelope: np.ndarray, fps: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Head rotation (axis-angle) and translation (metres), each ``(T, 3)``, camera space."""
    n = envelope.shape[0]
    m = actor.motion
    rot = np.tile(actor.rest_rotation, (n, 1)).astype(np.float64)
    trans = np.tile(actor.rest_translation, (n, 1)).astype(np.float64)
    for j in range(3):
        rot[:, j] += m.rot_std[j] * _wander(rng, n, fps, m.timescale_s)
        trans[:, j] += m.trans_std[j] * _wander(rng, n, fps, m.timescale_s)
    nod = gaussian_filter1d(envelope, 0.08 * fps, mode="nearest")
    rot[:, 0] += m.nod_gain * (nod - nod.mean())
    p, y, r, fwd = _POSTURE[emotion]
    t = np.arange(n) / fps
    ramp = np.clip(t / 0.8, 0.0, 1.0)
    ramp = ramp * ramp * (3 - 2 * ramp)
    rot[:, 0] += intensity_scale * p * ramp
    rot[:, 1] += intensity_scale * y * ramp
    rot[:, 2] += intensity_scale * r * ramp
    trans[:, 2] += intensity_scale * fwd * ramp
    return rot, trans


def blinks(n_frames: int, fps: float, rate_per_min: float, speaking: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Eyelid closure ``(T,)`` in [0, 1]; ``speaking (T,)`` bool lowers the blink rate to 60 %."""
    t = np.arange(n_frames) / fps
    out = np.zeros(n_frames)
    time = float(rng.uniform(0.0, 60.0 / rate_per_min))
    duration = n_frames / fps
    while time < duration:
        k = min(int(time * fps), n_frames - 1)
        if not speaking[k] or rng.random() < 0.6:
            close, open_ = rng.uniform(0.06, 0.1), rng.uniform(0.12, 0.2)
            depth = rng.uniform(0.85, 1.0)
            up = np.clip((t - time) / close, 0.0, 1.0)
            down = np.clip((t - time - close - 0.03) / open_, 0.0, 1.0)
            out = np.maximum(out, depth * (up - down) * (t >= time))
        time += float(rng.exponential(60.0 / rate_per_min)) + 0.25
    return np.clip(out, 0.0, 1.0)
