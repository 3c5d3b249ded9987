"""Audio loading for training and inference: any file, any rate, any channel count -> 16 kHz mono float32."""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np

from emoface.utils.media import SAMPLE_RATE, MediaError, decode_audio

__all__ = ["load_audio", "resample", "to_mono", "AudioError", "SAMPLE_RATE"]


class AudioError(ValueError):
    """Audio that cannot be used (unreadable, empty, non-finite); the message names the file."""


def to_mono(audio: np.ndarray) -> np.ndarray:
    """(N,) or (N, C) -> (N,) by averaging channels."""
    audio = np.asarray(audio)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if audio.ndim != 1:
        raise AudioError(f"expected (N,) or (N, C) audio, got shape {audio.shape}")
    return audio.astype(np.float32, copy=False)


def resample(audio: np.ndarray, orig_sr: int, target_sr: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling (scipy ``resample_poly``, Kaiser window); exact for rational ratios."""
    from scipy.signal import resample_poly

    if orig_sr == target_sr:
        return np.asarray(audio, dtype=np.float32)
    g = gcd(int(orig_sr), int(target_sr))
    out = resample_poly(np.asarray(audio, dtype=np.float64), target_sr // g, orig_sr // g)
    return out.astype(np.float32)


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Load ``path`` as mono float32 in [-1, 1] at ``sample_rate`` Hz.

    WAV/FLAC/OGG are read with soundfile; anything else (mp4, m4a, mp3, ...) is decoded with
    the bundled ffmpeg. Raises :class:`AudioError` naming the file.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=False)
        audio = resample(to_mono(data), int(sr), sample_rate)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        try:
            audio = decode_audio(path, sample_rate)
        except MediaError as exc:
            raise AudioError(str(exc)) from exc
    if audio.size == 0:
        raise AudioError(f"{path}: no audio samples")
    if not np.all(np.isfinite(audio)):
        raise AudioError(f"{path}: audio holds NaN or inf samples")
    return audio
