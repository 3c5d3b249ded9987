"""The manifest of a build's sources: the clips kept (:class:`SourceClip`, with each file's
sha256), the entries left out (:class:`Skipped`), their validation and the JSON file.

Discovery (:mod:`pipeline.sources.ravdess`, and the generated corpus of
:mod:`pipeline.sources.synth`) fills a :class:`Manifest`; the stages read its records.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emoface.data.ravdess import parse_name
from emoface.utils.atomic import write_json_atomic

__all__ = ["MANIFEST_VERSION", "SourceClip", "Skipped", "Manifest", "ManifestError"]

MANIFEST_VERSION = 1


class ManifestError(ValueError):
    """A manifest that does not validate; the message names the record and the field."""


@dataclass(frozen=True)
class SourceClip:
    """One kept source video. ``path`` is absolute; codes are the 1-based RAVDESS fields."""

    clip_id: str
    path: str
    actor: int
    emotion: int
    intensity: int
    statement: int
    repetition: int
    size: int
    sha256: str
    ground_truth: str | None = None

    @property
    def subject(self) -> str:
        return f"Actor_{self.actor:02d}"

    def validate(self) -> None:
        name = parse_name(self.clip_id)
        if not name.is_audio_video_speech:
            raise ManifestError(f"{self.clip_id}: not an audio-video speech clip")
        if (name.actor, name.emotion, name.intensity, name.statement, name.repetition) != (
            self.actor, self.emotion, self.intensity, self.statement, self.repetition,
        ):
            raise ManifestError(f"{self.clip_id}: fields disagree with the clip id")
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ManifestError(f"{self.clip_id}: sha256 must be 64 hex digits, got {self.sha256!r}")
        if self.size <= 0:
            raise ManifestError(f"{self.clip_id}: size must be positive, got {self.size}")


@dataclass(frozen=True)
class Skipped:
    """An entry discovery left out. ``kind`` is ``filtered`` (deliberate) or ``bad`` (broken input)."""

    path: str
    reason: str
    kind: str = "filtered"

    def validate(self) -> None:
        if self.kind not in ("filtered", "bad"):
            raise ManifestError(f"{self.path}: skipped kind must be 'filtered' or 'bad', got {self.kind!r}")


@dataclass
class Manifest:
    """What discovery found: the clips to build (sorted by id) and what it skipped."""

    root: str
    clips: list[SourceClip] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    corpus: str = "ravdess"
    version: int = MANIFEST_VERSION

    def validate(self) -> None:
        seen: set[str] = set()
        for clip in self.clips:
            clip.validate()
            if clip.clip_id in seen:
                raise ManifestError(f"{clip.clip_id}: listed twice")
            seen.add(clip.clip_id)
        for s in self.skipped:
            s.validate()

    def sha256(self) -> str:
        """Identifies the source data: clip ids and content hashes (not paths, so a moved corpus keeps it)."""
        blob = json.dumps([[c.clip_id, c.sha256] for c in self.clips], separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()

    @property
    def bad(self) -> list[Skipped]:
        return [s for s in self.skipped if s.kind == "bad"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus,
            "version": self.version,
            "root": self.root,
            "sha256": self.sha256(),
            "clips": [asdict(c) for c in self.clips],
            "skipped": [asdict(s) for s in self.skipped],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Manifest":
        try:
            m = cls(
                root=str(data["root"]),
                clips=[SourceClip(**c) for c in data["clips"]],
                skipped=[Skipped(**s) for s in data.get("skipped", [])],
                corpus=str(data.get("corpus", "ravdess")),
                version=int(data.get("version", MANIFEST_VERSION)),
            )
        except (KeyError, TypeError) as exc:
            raise ManifestError(f"manifest: malformed record ({exc})") from exc
        m.validate()
        if "sha256" in data and data["sha256"] != m.sha256():
            raise ManifestError("manifest: sha256 does not match its clips")
        return m

    def write(self, path: str | Path) -> None:
        self.validate()
        write_json_atomic(path, self.to_dict())

    @classmethod
    def read(cls, path: str | Path) -> "Manifest":
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{path}: not valid JSON ({exc.msg})") from exc
