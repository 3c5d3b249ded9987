"""The split format's definitions: names and versions, errors, the clip records, and the checks
that the writer, the reader and the validator share (one place each)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emoface.data.ravdess import EMOTIONS

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PER_CLIP_PARAMS",
    "REQUIRED_FILE_ATTRS",
    "REQUIRED_CLIP_ATTRS",
    "INT_CLIP_ATTRS",
    "SchemaError",
    "InvalidSplitError",
    "faces_sha256",
    "ClipRecord",
    "ClipMeta",
    "check_clip",
    "length_problem",
    "attr_value",
    "int_attr",
    "float_attr",
    "header_problems",
]

FORMAT_NAME = "emoface-meshseq"
FORMAT_VERSION = 1
#: params stored once per clip; every other params entry is per frame (leading dim T).
PER_CLIP_PARAMS = frozenset({"shape", "camera"})
REQUIRED_FILE_ATTRS = ("format", "version", "fps", "sample_rate", "topology", "topology_sha256", "model", "n_vertices")
REQUIRED_CLIP_ATTRS = ("subject", "emotion", "emotion_name", "intensity", "statement", "repetition", "n_frames", "duration_s")
INT_CLIP_ATTRS = ("emotion", "intensity", "statement", "repetition", "n_frames")


class SchemaError(ValueError):
    """A split file that does not follow the format; the message names the file and the problem."""


class InvalidSplitError(SchemaError):
    """A split file that ``emoface validate`` rejects, found before a command starts its work."""


def faces_sha256(faces: np.ndarray) -> str:
    """sha256 of the faces as little-endian int32 (identifies a topology)."""
    return hashlib.sha256(np.ascontiguousarray(faces, dtype="<i4").tobytes()).hexdigest()


@dataclass
class ClipRecord:
    """One clip, in memory. Shapes: ``vertices (T, V, 3)`` metres, ``audio (N,)`` 16 kHz."""

    clip_id: str
    subject: str
    vertices: np.ndarray
    audio: np.ndarray
    emotion: int = 0
    intensity: int = 0
    statement: int = 1
    repetition: int = 1
    source: str = ""
    source_sha256: str = ""
    params: dict[str, np.ndarray] = field(default_factory=dict)
    landmarks: np.ndarray | None = None
    fit_error: np.ndarray | None = None
    valid: np.ndarray | None = None
    extra_attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def emotion_name(self) -> str:
        return EMOTIONS[self.emotion]


@dataclass(frozen=True)
class ClipMeta:
    """A clip's attributes, read without touching its arrays."""

    clip_id: str
    subject: str
    emotion: int
    emotion_name: str
    intensity: int
    statement: int
    repetition: int
    n_frames: int
    duration_s: float
    source: str
    attrs: dict[str, Any]


def check_clip(rec: ClipRecord, n_vertices: int, fps: float, sample_rate: int, where: str) -> None:
    """Shapes, finiteness, labels and audio length of an in-memory clip; :class:`SchemaError` naming ``where``."""
    v = np.asarray(rec.vertices)
    if v.ndim != 3 or v.shape[1:] != (n_vertices, 3) or v.shape[0] < 1:
        raise SchemaError(f"{where}: vertices must be (T, {n_vertices}, 3) with T >= 1, got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise SchemaError(f"{where}: vertices hold NaN or inf")
    a = np.asarray(rec.audio)
    if a.ndim != 1 or a.size == 0:
        raise SchemaError(f"{where}: audio must be a non-empty (N,) array, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise SchemaError(f"{where}: audio holds NaN or inf")
    problem = length_problem(v.shape[0], a.size, fps, sample_rate)
    if problem:
        raise SchemaError(f"{where}: {problem}")
    if not 0 <= rec.emotion < len(EMOTIONS):
        raise SchemaError(f"{where}: emotion {rec.emotion} outside 0-{len(EMOTIONS) - 1}")
    if rec.intensity not in (0, 1):
        raise SchemaError(f"{where}: intensity must be 0 (normal) or 1 (strong), got {rec.intensity}")
    t = v.shape[0]
    for name, arr in rec.params.items():
        arr = np.asarray(arr)
        if name not in PER_CLIP_PARAMS and (arr.ndim < 1 or arr.shape[0] != t):
            raise SchemaError(f"{where}: params/{name} must have {t} frames first, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise SchemaError(f"{where}: params/{name} holds NaN or inf")
    if rec.landmarks is not None and (rec.landmarks.ndim != 3 or rec.landmarks.shape[0] != t or rec.landmarks.shape[2] != 3):
        raise SchemaError(f"{where}: landmarks must be (T, L, 3) with T={t}, got {rec.landmarks.shape}")
    if rec.fit_error is not None and np.asarray(rec.fit_error).shape != (t,):
        raise SchemaError(f"{where}: fit_error must be ({t},), got {np.asarray(rec.fit_error).shape}")
    if rec.valid is not None and np.asarray(rec.valid).shape != (t,):
        raise SchemaError(f"{where}: valid must be ({t},), got {np.asarray(rec.valid).shape}")


def length_problem(n_frames: int, n_samples: int, fps: float, sample_rate: int) -> str | None:
    """Audio must cover the frames at ``fps`` to within one frame."""
    expected = n_frames * sample_rate / fps
    if abs(n_samples - expected) > sample_rate / fps + 1e-6:
        return (
            f"audio has {n_samples} samples ({n_samples / sample_rate:.3f} s) but {n_frames} frames at {fps:g} fps "
            f"need {expected:.0f} (+-{sample_rate / fps:.0f})"
        )
    return None


def attr_value(v: Any) -> Any:
    """An HDF5 attribute as a plain Python value (bytes decoded, numpy scalars unwrapped)."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    return v


def int_attr(attrs: dict[str, Any], name: str, default: int, where: str) -> int:
    """An integer clip attribute; anything else (a string, a float, an array) is a :class:`SchemaError`."""
    v = attrs.get(name, default)
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise SchemaError(f"{where}: attribute {name!r} must be an integer, got {v!r}")
    return int(v)


def float_attr(attrs: dict[str, Any], name: str, default: float, where: str) -> float:
    """A numeric clip attribute; anything else is a :class:`SchemaError`."""
    v = attrs.get(name, default)
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise SchemaError(f"{where}: attribute {name!r} must be a number, got {v!r}")
    return float(v)


def header_problems(h, attrs: dict[str, Any]) -> list[str]:
    """Problems of a split file's header: format, version, required attributes and groups."""
    problems = []
    missing = [k for k in REQUIRED_FILE_ATTRS if k not in attrs]
    if missing:
        problems.append(f"missing file attribute(s): {', '.join(missing)}")
    if "format" in attrs and attrs["format"] != FORMAT_NAME:
        problems.append(f"format is {attrs.get('format')!r}, expected {FORMAT_NAME!r}")
    version = attrs.get("version")
    if version is not None and int(version) > FORMAT_VERSION:
        problems.append(f"format version {version} is newer than this reader ({FORMAT_VERSION}); upgrade emoface3d")
    for grp in ("topology/faces", "topology/regions", "subjects", "clips"):
        if grp not in h:
            problems.append(f"missing /{grp}")
    return problems
