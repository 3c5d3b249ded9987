"""RAVDESS metadata: the one file-name parser of the project, emotions, statements, splits.

A RAVDESS file name has seven two-digit fields
``Modality-VocalChannel-Emotion-Intensity-Statement-Repetition-Actor``, e.g.
``01-01-06-01-02-01-12.mp4`` (Livingstone & Russo 2018, Zenodo record 1188976):

- modality: 01 full audio-video, 02 video-only, 03 audio-only
- vocal channel: 01 speech, 02 song
- emotion: 01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised
- intensity: 01 normal, 02 strong (there is no strong intensity for neutral)
- statement: 01 "Kids are talking by the door", 02 "Dogs are sitting by the door"
- repetition: 01 or 02
- actor: 01-24, odd male, even female
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "EMOTIONS",
    "INTENSITIES",
    "STATEMENTS",
    "MODALITIES",
    "N_ACTORS",
    "RavdessName",
    "RavdessNameError",
    "parse_name",
    "speech_names",
    "emotion_index",
    "gender_of",
]

EMOTIONS: tuple[str, ...] = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
INTENSITIES: tuple[str, ...] = ("normal", "strong")
STATEMENTS: tuple[str, ...] = ("Kids are talking by the door", "Dogs are sitting by the door")
MODALITIES: dict[int, str] = {1: "audio-video", 2: "video-only", 3: "audio-only"}
VOCAL_CHANNELS: dict[int, str] = {1: "speech", 2: "song"}
N_ACTORS = 24

_NAME_RE = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")


class RavdessNameError(ValueError):
    """A file name that is not a valid RAVDESS identifier; the message names the file and the field."""


@dataclass(frozen=True, order=True)
class RavdessName:
    """One parsed RAVDESS identifier. Fields hold the 1-based codes of the file name."""

    modality: int
    vocal_channel: int
    emotion: int
    intensity: int
    statement: int
    repetition: int
    actor: int

    @property
    def clip_id(self) -> str:
        """The seven-field stem, e.g. ``01-01-06-01-02-01-12`` (unique within RAVDESS)."""
        return "-".join(
            f"{v:02d}"
            for v in (self.modality, self.vocal_channel, self.emotion, self.intensity, self.statement, self.repetition, self.actor)
        )

    @property
    def emotion_name(self) -> str:
        return EMOTIONS[self.emotion - 1]

    @property
    def emotion_index(self) -> int:
        """0-based emotion class (0 neutral ... 7 surprised)."""
        return self.emotion - 1

    @property
    def intensity_name(self) -> str:
        return INTENSITIES[self.intensity - 1]

    @property
    def intensity_index(self) -> int:
        """0 normal, 1 strong."""
        return self.intensity - 1

    @property
    def statement_text(self) -> str:
        return STATEMENTS[self.statement - 1]

    @property
    def gender(self) -> str:
        return gender_of(self.actor)

    @property
    def actor_folder(self) -> str:
        return f"Actor_{self.actor:02d}"

    @property
    def is_speech(self) -> bool:
        return self.vocal_channel == 1

    @property
    def is_audio_video_speech(self) -> bool:
        """Full audio-video speech trials: the 1,440 clips 3D-RAVDESS is built from."""
        return self.modality == 1 and self.vocal_channel == 1

    def filename(self, ext: str | None = None) -> str:
        if ext is None:
            ext = ".wav" if self.modality == 3 else ".mp4"
        return self.clip_id + ext

    def with_modality(self, modality: int) -> "RavdessName":
        return RavdessName(modality, self.vocal_channel, self.emotion, self.intensity, self.statement, self.repetition, self.actor)


def parse_name(name: str | Path) -> RavdessName:
    """Parse a RAVDESS file name or path (the extension is ignored).

    Raises :class:`RavdessNameError` with the file and the offending field.
    """
    stem = Path(str(name)).name
    stem = stem.split(".", 1)[0] if "." in stem else stem
    m = _NAME_RE.match(stem)
    if not m:
        raise RavdessNameError(f"{name}: not a RAVDESS name (expected seven 2-digit fields like 01-01-06-01-02-01-12)")
    mod, voc, emo, inten, stmt, rep, actor = (int(g) for g in m.groups())
    checks = (
        ("modality", mod, 1, 3),
        ("vocal channel", voc, 1, 2),
        ("emotion", emo, 1, 8),
        ("intensity", inten, 1, 2),
        ("statement", stmt, 1, 2),
        ("repetition", rep, 1, 2),
        ("actor", actor, 1, N_ACTORS),
    )
    for field, value, lo, hi in checks:
        if not lo <= value <= hi:
            raise RavdessNameError(f"{name}: {field} code {value:02d} is outside {lo:02d}-{hi:02d}")
    if emo == 1 and inten == 2:
        raise RavdessNameError(f"{name}: neutral has no strong intensity (emotion 01 with intensity 02)")
    if voc == 2 and emo in (7, 8):
        raise RavdessNameError(f"{name}: song trials have no {EMOTIONS[emo - 1]} emotion")
    return RavdessName(mod, voc, emo, inten, stmt, rep, actor)


def speech_names(actor: int, modality: int = 1) -> list[RavdessName]:
    """The 60 speech trials of one actor, in a fixed order (emotion, intensity, statement, repetition)."""
    if not 1 <= actor <= N_ACTORS:
        raise ValueError(f"actor must be 1-{N_ACTORS}, got {actor}")
    out = []
    for emo in range(1, 9):
        for inten in (1,) if emo == 1 else (1, 2):
            for stmt in (1, 2):
                for rep in (1, 2):
                    out.append(RavdessName(modality, 1, emo, inten, stmt, rep, actor))
    return out


def emotion_index(name: str) -> int:
    """0-based index of an emotion name (``"happy"`` -> 2); raises ``ValueError`` listing the valid names."""
    key = name.strip().lower()
    aliases = {"disgusted": "disgust", "fear": "fearful", "surprise": "surprised", "anger": "angry"}
    key = aliases.get(key, key)
    if key not in EMOTIONS:
        raise ValueError(f"unknown emotion {name!r}; choose one of {', '.join(EMOTIONS)}")
    return EMOTIONS.index(key)


def gender_of(actor: int) -> str:
    """RAVDESS convention: odd actors are male, even actors female."""
    return "male" if actor % 2 else "female"
