"""Phonemes -> articulation curves (jaw, lips) with coarticulation and smoothing.

Every phoneme (IPA, as eSpeak NG names it) gets articulation targets for five channels,

- ``jaw``: jaw opening, 0 closed .. 1 wide open,
- ``round``: lip rounding / protrusion (u, o, w),
- ``close``: lip closure and press (p, b, m),
- ``stretch``: lip spreading (i, e),
- ``tuck``: lower lip tucked under the upper teeth (f, v),

and a dominance per channel. The trajectory follows the dominance model of Cohen & Massaro
(1993): each segment pulls a channel towards its target with a weight that decays
exponentially with the distance from the segment's centre, so neighbouring phonemes blend
(coarticulation) and strong articulations (bilabial closure) win over weak ones (velars).
Diphthongs move from a first to a second target within their segment. Silence is a segment
with the rest posture. The curves are computed on a 1 ms grid, smoothed with a Gaussian
(muscles cannot jump) and sampled at the video frame times ``t_k = k / fps``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from pipeline.sources.synth.speech import Phoneme

__all__ = ["CHANNELS", "VisemeConfig", "Articulation", "viseme_targets", "articulation_curves"]

CHANNELS: tuple[str, ...] = ("jaw", "round", "close", "stretch", "tuck")

# (targets jaw, round, close, stretch, tuck), dominance (one number: weight of this segment)
_C = {
    "bilabial": ((0.02, 0.0, 1.0, 0.0, 0.0), 3.0),
    "labiodental": ((0.10, 0.0, 0.0, 0.0, 1.0), 2.5),
    "dental": ((0.18, 0.0, 0.0, 0.1, 0.0), 1.2),
    "alveolar": ((0.14, 0.0, 0.0, 0.2, 0.0), 0.8),
    "postalveolar": ((0.14, 0.7, 0.0, 0.0, 0.0), 1.5),
    "velar": ((0.22, 0.0, 0.0, 0.0, 0.0), 0.4),
    "glottal": ((0.25, 0.0, 0.0, 0.0, 0.0), 0.2),
    "rhotic": ((0.16, 0.45, 0.0, 0.0, 0.0), 1.0),
    "w": ((0.08, 1.0, 0.0, 0.0, 0.0), 2.0),
    "j": ((0.10, 0.0, 0.0, 0.45, 0.0), 1.0),
    "i": ((0.18, 0.0, 0.0, 0.65, 0.0), 1.2),
    "ɪ": ((0.28, 0.0, 0.0, 0.45, 0.0), 1.0),
    "e": ((0.42, 0.0, 0.0, 0.45, 0.0), 1.1),
    "æ": ((0.70, 0.0, 0.0, 0.30, 0.0), 1.3),
    "a": ((0.85, 0.0, 0.0, 0.10, 0.0), 1.4),
    "ɑ": ((0.95, 0.0, 0.0, 0.0, 0.0), 1.4),
    "ɔ": ((0.65, 0.60, 0.0, 0.0, 0.0), 1.3),
    "ʌ": ((0.60, 0.0, 0.0, 0.05, 0.0), 1.1),
    "ə": ((0.40, 0.0, 0.0, 0.0, 0.0), 0.7),
    "o": ((0.50, 0.80, 0.0, 0.0, 0.0), 1.3),
    "ʊ": ((0.32, 0.65, 0.0, 0.0, 0.0), 1.1),
    "u": ((0.22, 1.00, 0.0, 0.0, 0.0), 1.3),
    "rest": ((0.0, 0.0, 1.0, 0.0, 0.0), 0.6),
}

# IPA symbol (or its first characters) -> class; longest match wins.
_SYMBOLS: dict[str, str] = {
    "p": "bilabial", "b": "bilabial", "m": "bilabial",
    "f": "labiodental", "v": "labiodental",
    "θ": "dental", "ð": "dental",
    "t": "alveolar", "d": "alveolar", "n": "alveolar", "s": "alveolar", "z": "alveolar", "l": "alveolar",
    "ɾ": "alveolar", "ɬ": "alveolar", "ʔ": "glottal", "h": "glottal",
    "ʃ": "postalveolar", "ʒ": "postalveolar", "tʃ": "postalveolar", "dʒ": "postalveolar",
    "k": "velar", "ɡ": "velar", "g": "velar", "ŋ": "velar", "x": "velar",
    "ɹ": "rhotic", "r": "rhotic", "w": "w", "ʍ": "w", "j": "j",
    "i": "i", "iː": "i", "ɪ": "ɪ", "ᵻ": "ɪ", "e": "e", "ɛ": "e", "æ": "æ", "a": "a", "ɐ": "ʌ",
    "ɑ": "ɑ", "ɒ": "ɑ", "ɔ": "ɔ", "ʌ": "ʌ", "ə": "ə", "ɚ": "rhotic", "ɜ": "ə", "o": "o", "ʊ": "ʊ", "u": "u",
}
_BY_LENGTH = sorted(_SYMBOLS, key=len, reverse=True)
_VOWEL_CLASSES = {"i", "ɪ", "e", "æ", "a", "ɑ", "ɔ", "ʌ", "ə", "o", "ʊ", "u"}


@dataclass(frozen=True)
class VisemeConfig:
    """Coarticulation settings: ``tau_s`` decay of dominance (s), ``smooth_s`` Gaussian sigma (s),
    ``anticipation_s`` how much earlier than the sound the mouth moves (lip movement leads
    acoustics), ``jaw_gain`` scales the jaw channel (per actor: some speakers open wider)."""

    tau_s: float = 0.055
    smooth_s: float = 0.018
    anticipation_s: float = 0.03
    jaw_gain: float = 1.0


@dataclass
class Articulation:
    """Articulation curves sampled at video frames: ``values (T, 5)`` in the order of
    :data:`CHANNELS`, ``t (T,)`` frame times in seconds."""

    values: np.ndarray
    t: np.ndarray

    def __getitem__(self, channel: str) -> np.ndarray:
        return self.values[:, CHANNELS.index(channel)]


def _classes(ipa: str) -> list[str]:
    """Split an eSpeak IPA phoneme name into one or more articulation classes (diphthongs: two)."""
    s = ipa.strip("ˈˌ").replace("ː", "")
    out: list[str] = []
    while s:
        for sym in _BY_LENGTH:
            key = sym.replace("ː", "")
            if key and s.startswith(key):
                out.append(_SYMBOLS[sym])
                s = s[len(key) :]
                break
        else:
            s = s[1:]  # an unknown mark (length, tie bar, nasalisation): skip it
    # a vowel followed by r-colouring keeps the vowel first and ends rhotic (e.g. "ɑːɹ")
    return out or ["ə"]


def viseme_targets(ipa: str) -> list[tuple[np.ndarray, float]]:
    """Articulation targets ``(5,)`` and dominance for one phoneme (one or two sub-targets)."""
    return [(np.asarray(_C[c][0], dtype=np.float64), float(_C[c][1])) for c in _classes(ipa)[:2]]


def articulation_curves(
    phonemes: Sequence[Phoneme], n_frames: int, fps: float, cfg: VisemeConfig = VisemeConfig(), emphasis: float = 1.0
) -> Articulation:
    """Articulation at the frame times ``k / fps`` for a phoneme timeline (seconds).

    ``emphasis`` (about 0.7-1.4) scales how far the jaw opens on vowels (loud, aroused speech
    opens wider); stressed vowels open a further 15 %.
    """
    dt = 0.001
    duration = n_frames / fps
    grid = np.arange(0.0, duration + 0.2, dt)
    centres, targets, doms = [], [], []
    lead = cfg.anticipation_s
    prev_end = 0.0
    for ph in phonemes:
        if ph.start_s - prev_end > 0.06:  # a pause: the mouth relaxes towards rest
            centres.append(0.5 * (prev_end + ph.start_s) - lead)
            targets.append(np.asarray(_C["rest"][0]))
            doms.append(_C["rest"][1])
        subs = viseme_targets(ph.phoneme)
        span = max(ph.end_s - ph.start_s, 1e-3)
        positions = [0.5] if len(subs) == 1 else [0.3, 0.8]
        for (tgt, dom), pos in zip(subs, positions):
            tgt = tgt.copy()
            is_vowel = any(c in _VOWEL_CLASSES for c in _classes(ph.phoneme)[:1])
            if is_vowel:
                tgt[0] *= emphasis * (1.15 if ph.stressed else 1.0)
            centres.append(ph.start_s + pos * span - lead)
            targets.append(tgt)
            # long segments hold their target longer: dominance grows with duration
            doms.append(dom * (1.0 + 4.0 * min(span, 0.25)))
        prev_end = ph.end_s
    # leading and trailing silence
    first = phonemes[0].start_s if phonemes else duration
    for c in (first - 0.25, min(first - 0.5, -0.1), prev_end + 0.25, max(prev_end + 0.6, duration + 0.1)):
        centres.append(c)
        targets.append(np.asarray(_C["rest"][0]))
        doms.append(_C["rest"][1] * 2.0)
    c = np.asarray(centres)[:, None]
    tg = np.stack(targets)  # (S,5)
    d = np.asarray(doms)[:, None] * np.exp(-np.abs(grid[None, :] - c) / cfg.tau_s)  # (S,G)
    # channel-specific dominance: a segment dominates a channel more where its target is strong
    w = d[:, :, None] * (0.25 + tg[:, None, :])  # (S,G,5)
    curves = (w * tg[:, None, :]).sum(0) / np.maximum(w.sum(0), 1e-12)  # (G,5)
    curves = gaussian_filter1d(curves, cfg.smooth_s / dt, axis=0, mode="nearest")
    curves[:, 0] *= cfg.jaw_gain
    t = np.arange(n_frames) / fps
    idx = np.clip(np.round(t / dt).astype(int), 0, len(grid) - 1)
    return Articulation(values=np.clip(curves[idx], 0.0, 1.5).astype(np.float32), t=t.astype(np.float64))
