"""The HDF5 split format (``format="emoface-meshseq"``): the one writer, reader and validator.

One file per split (``train.h5``, ``val.h5``, ``test.h5``)::

    /                               attrs: format, version, fps, sample_rate, topology,
                                           topology_sha256, model, n_vertices, config (JSON),
                                           source_manifest (sha256), created, package_version
    /topology/faces                 (F, 3) int32
    /topology/regions/<name>        (K,) int32 vertex indices
    /subjects/<name>/template       (V, 3) float32 metres; attrs: gender, ...
    /clips/<clip_id>/vertices       (T, V, 3) float32 metres, chunked along T, gzip+shuffle
    /clips/<clip_id>/audio          (N,) float32, 16 kHz mono
    /clips/<clip_id>/params/<name>  float32 (T, k) per-frame, or (k,) per-clip (shape, camera)
    /clips/<clip_id>/landmarks      (T, 478, 3) float32 (optional)
    /clips/<clip_id>/fit_error      (T,) float32 (optional)
    /clips/<clip_id>/valid          (T,) uint8, 1 where the detector found the face (optional)
                                    attrs: subject, emotion, emotion_name, intensity,
                                           statement, repetition, source, source_sha256,
                                           n_frames, duration_s (+ extra)

``emotion`` is the 0-based class (order of :data:`emoface.data.ravdess.EMOTIONS`),
``intensity`` 0 normal / 1 strong, ``statement`` and ``repetition`` the 1-based source codes.
Every group, dataset, dtype and unit is documented in ``docs/format.md``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emoface.data.ravdess import EMOTIONS
from emoface.utils.atomic import atomic_path

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PER_CLIP_PARAMS",
    "SchemaError",
    "ClipRecord",
    "ClipMeta",
    "SplitWriter",
    "SplitReader",
    "open_split",
    "validate_split",
    "InvalidSplitError",
    "require_valid_split",
    "faces_sha256",
]

FORMAT_NAME = "emoface-meshseq"
FORMAT_VERSION = 1
#: params stored once per clip; every other params entry is per frame (leading dim T).
PER_CLIP_PARAMS = frozenset({"shape", "camera"})
_REQUIRED_FILE_ATTRS = ("format", "version", "fps", "sample_rate", "topology", "topology_sha256", "model", "n_vertices")
_REQUIRED_CLIP_ATTRS = ("subject", "emotion", "emotion_name", "intensity", "statement", "repetition", "n_frames", "duration_s")
_CHUNK_FRAMES = 32


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


def _check_clip(rec: ClipRecord, n_vertices: int, fps: float, sample_rate: int, where: str) -> None:
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
    problem = _length_problem(v.shape[0], a.size, fps, sample_rate)
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


def _length_problem(n_frames: int, n_samples: int, fps: float, sample_rate: int) -> str | None:
    """Audio must cover the frames at ``fps`` to within one frame."""
    expected = n_frames * sample_rate / fps
    if abs(n_samples - expected) > sample_rate / fps + 1e-6:
        return (
            f"audio has {n_samples} samples ({n_samples / sample_rate:.3f} s) but {n_frames} frames at {fps:g} fps "
            f"need {expected:.0f} (+-{sample_rate / fps:.0f})"
        )
    return None


class SplitWriter:
    """Write one split file; the file appears at ``path`` only when the ``with`` block succeeds.

    >>> with SplitWriter(path, faces, regions, "demo-head", "mediapipe-468", config, manifest_sha) as w:
    ...     w.add_subject("Actor_01", template, gender="male")
    ...     w.add_clip(record)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        faces: np.ndarray,
        regions: dict[str, np.ndarray],
        model_name: str,
        topology_name: str,
        config: dict[str, Any] | None = None,
        source_manifest_sha256: str = "",
        fps: float = 30.0,
        sample_rate: int = 16000,
        compression_level: int = 4,
    ):
        self.path = Path(path)
        self.faces = np.asarray(faces, dtype=np.int32)
        if self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise SchemaError(f"{self.path}: faces must be (F, 3), got {self.faces.shape}")
        self.n_vertices = int(self.faces.max()) + 1
        self.regions = {k: np.asarray(v, dtype=np.int32) for k, v in regions.items()}
        self.model_name = model_name
        self.topology_name = topology_name
        self.config = config or {}
        self.manifest = source_manifest_sha256
        self.fps = float(fps)
        self.sample_rate = int(sample_rate)
        self.level = compression_level
        self._ctx = None
        self._h5 = None
        self._subjects: set[str] = set()

    def __enter__(self) -> "SplitWriter":
        import h5py

        self._ctx = atomic_path(self.path)
        tmp = self._ctx.__enter__()
        try:
            self._h5 = h5py.File(tmp, "w", track_order=False)
            self._write_header()
        except BaseException:
            if self._h5 is not None:
                self._h5.close()
            self._ctx.__exit__(*sys.exc_info())
            raise
        return self

    def set_vertex_count(self, n_vertices: int) -> None:
        """Override the vertex count (a topology whose last vertices are in no face)."""
        self.n_vertices = int(n_vertices)
        self._h5.attrs["n_vertices"] = self.n_vertices

    def _write_header(self) -> None:
        from emoface import __version__

        h = self._h5
        h.attrs["format"] = FORMAT_NAME
        h.attrs["version"] = FORMAT_VERSION
        h.attrs["fps"] = self.fps
        h.attrs["sample_rate"] = self.sample_rate
        h.attrs["topology"] = self.topology_name
        h.attrs["topology_sha256"] = faces_sha256(self.faces)
        h.attrs["model"] = self.model_name
        h.attrs["n_vertices"] = self.n_vertices
        h.attrs["config"] = json.dumps(self.config, sort_keys=True, default=str)
        h.attrs["source_manifest"] = self.manifest
        h.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        h.attrs["package_version"] = __version__
        topo = h.create_group("topology")
        topo.create_dataset("faces", data=self.faces)
        reg = topo.create_group("regions")
        for name, idx in sorted(self.regions.items()):
            if idx.size and (idx.min() < 0 or idx.max() >= self.n_vertices):
                raise SchemaError(f"{self.path}: region {name!r} has indices outside 0-{self.n_vertices - 1}")
            reg.create_dataset(name, data=idx)
        h.create_group("subjects")
        h.create_group("clips")

    def add_subject(self, name: str, template: np.ndarray, gender: str | None = None, **attrs: Any) -> None:
        """Store a subject's neutral template ``(V, 3)`` metres."""
        t = np.asarray(template, dtype=np.float32)
        if t.shape != (self.n_vertices, 3):
            raise SchemaError(f"{self.path}: template of {name} must be ({self.n_vertices}, 3), got {t.shape}")
        if not np.all(np.isfinite(t)):
            raise SchemaError(f"{self.path}: template of {name} holds NaN or inf")
        g = self._h5["subjects"].create_group(name)
        g.create_dataset("template", data=t)
        g.attrs["gender"] = gender or ""
        for k, v in attrs.items():
            g.attrs[k] = v
        self._subjects.add(name)

    def add_clip(self, rec: ClipRecord) -> None:
        """Store one clip; its subject must have been added first."""
        where = f"{self.path}: clip {rec.clip_id}"
        if rec.subject not in self._subjects:
            raise SchemaError(f"{where}: subject {rec.subject!r} has no template (call add_subject first)")
        _check_clip(rec, self.n_vertices, self.fps, self.sample_rate, where)
        comp = {"compression": "gzip", "compression_opts": self.level, "shuffle": True}
        g = self._h5["clips"].create_group(rec.clip_id)
        verts = np.asarray(rec.vertices, dtype=np.float32)
        t = verts.shape[0]
        g.create_dataset("vertices", data=verts, chunks=(min(t, _CHUNK_FRAMES), self.n_vertices, 3), **comp)
        g.create_dataset("audio", data=np.asarray(rec.audio, dtype=np.float32), **comp)
        p = g.create_group("params")
        for name, arr in sorted(rec.params.items()):
            p.create_dataset(name, data=np.asarray(arr, dtype=np.float32))
        if rec.landmarks is not None:
            g.create_dataset("landmarks", data=np.asarray(rec.landmarks, dtype=np.float32), **comp)
        if rec.fit_error is not None:
            g.create_dataset("fit_error", data=np.asarray(rec.fit_error, dtype=np.float32))
        if rec.valid is not None:
            g.create_dataset("valid", data=np.asarray(rec.valid, dtype=bool).astype(np.uint8))
        a = g.attrs
        a["subject"] = rec.subject
        a["emotion"] = int(rec.emotion)
        a["emotion_name"] = EMOTIONS[rec.emotion]
        a["intensity"] = int(rec.intensity)
        a["statement"] = int(rec.statement)
        a["repetition"] = int(rec.repetition)
        a["source"] = rec.source
        a["source_sha256"] = rec.source_sha256
        a["n_frames"] = t
        a["duration_s"] = float(t / self.fps)
        for k, v in rec.extra_attrs.items():
            a[k] = v

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._h5 is not None:
                self._h5.close()
        finally:
            self._h5 = None
            self._ctx.__exit__(exc_type, exc, tb)


class SplitReader:
    """Lazy reader of one split file. Arrays are read on demand; nothing loads the whole split.

    The file handle is opened on first use in each process (safe with DataLoader workers).
    """

    def __init__(self, path: str | os.PathLike, check: bool = True):
        self.path = Path(path)
        self._h5 = None
        self._pid = None
        h = self._file()
        try:
            self.attrs = {k: _attr(v) for k, v in h.attrs.items()}
        except Exception as exc:  # noqa: BLE001 - h5py raises assorted errors on damaged files
            raise SchemaError(f"{self.path}: cannot read file attributes ({exc})") from exc
        if check:
            problems = _header_problems(h, self.attrs)
            if problems:
                raise SchemaError(f"{self.path}: {problems[0]}")
        self.fps = float(self.attrs.get("fps", 30.0))
        self.sample_rate = int(self.attrs.get("sample_rate", 16000))
        self.faces = np.asarray(h["topology/faces"][()], dtype=np.int64)
        self.regions = {k: np.asarray(d[()], dtype=np.int64) for k, d in h["topology/regions"].items()}
        self.subjects = sorted(h["subjects"].keys())
        self.clip_ids = sorted(h["clips"].keys())
        self.n_vertices = int(self.attrs.get("n_vertices", self.faces.max() + 1))

    def _file(self):
        import h5py

        if self._h5 is None or self._pid != os.getpid():
            try:
                self._h5 = h5py.File(self.path, "r")
            except FileNotFoundError as exc:
                raise SchemaError(f"{self.path}: split file not found") from exc
            except OSError as exc:
                raise SchemaError(f"{self.path}: not a readable HDF5 file (truncated or corrupt?): {exc}") from exc
            self._pid = os.getpid()
        return self._h5

    @property
    def config(self) -> dict[str, Any]:
        try:
            return json.loads(self.attrs.get("config", "{}"))
        except json.JSONDecodeError:
            return {}

    def template(self, subject: str) -> np.ndarray:
        try:
            return np.asarray(self._file()[f"subjects/{subject}/template"][()], dtype=np.float32)
        except KeyError as exc:
            raise SchemaError(f"{self.path}: no template for subject {subject!r}") from exc

    def subject_attrs(self, subject: str) -> dict[str, Any]:
        return {k: _attr(v) for k, v in self._file()[f"subjects/{subject}"].attrs.items()}

    def clip_meta(self, clip_id: str) -> ClipMeta:
        try:
            g = self._file()[f"clips/{clip_id}"]
        except KeyError as exc:
            raise SchemaError(f"{self.path}: no clip {clip_id!r}") from exc
        a = {k: _attr(v) for k, v in g.attrs.items()}
        where = f"{self.path}: /clips/{clip_id}"
        return ClipMeta(
            clip_id=clip_id,
            subject=str(a.get("subject", "")),
            emotion=_int_attr(a, "emotion", 0, where),
            emotion_name=str(a.get("emotion_name", "")),
            intensity=_int_attr(a, "intensity", 0, where),
            statement=_int_attr(a, "statement", 1, where),
            repetition=_int_attr(a, "repetition", 1, where),
            n_frames=_int_attr(a, "n_frames", 0, where),
            duration_s=_float_attr(a, "duration_s", 0.0, where),
            source=str(a.get("source", "")),
            attrs=a,
        )

    def read_clip(self, clip_id: str, landmarks: bool = False, params: bool = True) -> ClipRecord:
        """Read one clip's arrays (float32); checks shapes and finiteness."""
        meta = self.clip_meta(clip_id)
        g = self._file()[f"clips/{clip_id}"]
        rec = ClipRecord(
            clip_id=clip_id,
            subject=meta.subject,
            vertices=np.asarray(g["vertices"][()], dtype=np.float32),
            audio=np.asarray(g["audio"][()], dtype=np.float32),
            emotion=meta.emotion,
            intensity=meta.intensity,
            statement=meta.statement,
            repetition=meta.repetition,
            source=meta.source,
            source_sha256=str(meta.attrs.get("source_sha256", "")),
            params={k: np.asarray(d[()], dtype=np.float32) for k, d in g["params"].items()} if params and "params" in g else {},
            landmarks=np.asarray(g["landmarks"][()], dtype=np.float32) if landmarks and "landmarks" in g else None,
            fit_error=np.asarray(g["fit_error"][()], dtype=np.float32) if "fit_error" in g else None,
            valid=np.asarray(g["valid"][()], dtype=bool) if "valid" in g else None,
            extra_attrs={k: v for k, v in meta.attrs.items() if k not in _REQUIRED_CLIP_ATTRS + ("source", "source_sha256")},
        )
        _check_clip(rec, self.n_vertices, self.fps, self.sample_rate, f"{self.path}: clip {clip_id}")
        return rec

    def read_vertices(self, clip_id: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``[start, stop)`` of a clip's vertices, read without loading the rest."""
        return np.asarray(self._file()[f"clips/{clip_id}/vertices"][start:stop], dtype=np.float32)

    def close(self) -> None:
        if self._h5 is not None and self._pid == os.getpid():
            self._h5.close()
        self._h5 = None

    def __enter__(self) -> "SplitReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_h5"] = None
        state["_pid"] = None
        return state

    def __len__(self) -> int:
        return len(self.clip_ids)


def open_split(path: str | os.PathLike, check: bool = True) -> SplitReader:
    """Open a split file lazily; ``check`` verifies the header (format, version, topology)."""
    return SplitReader(path, check=check)


def _attr(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    return v


_INT_CLIP_ATTRS = ("emotion", "intensity", "statement", "repetition", "n_frames")


def _int_attr(attrs: dict[str, Any], name: str, default: int, where: str) -> int:
    """An integer clip attribute; anything else (a string, a float, an array) is a :class:`SchemaError`."""
    v = attrs.get(name, default)
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise SchemaError(f"{where}: attribute {name!r} must be an integer, got {v!r}")
    return int(v)


def _float_attr(attrs: dict[str, Any], name: str, default: float, where: str) -> float:
    v = attrs.get(name, default)
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise SchemaError(f"{where}: attribute {name!r} must be a number, got {v!r}")
    return float(v)


def _header_problems(h, attrs: dict[str, Any]) -> list[str]:
    problems = []
    missing = [k for k in _REQUIRED_FILE_ATTRS if k not in attrs]
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


def require_valid_split(path: str | os.PathLike) -> Path:
    """Run :func:`validate_split` (the checks of ``emoface validate``) before a command uses ``path``.

    Raises :class:`InvalidSplitError` with one line: the file, its first problem and how many
    more there are. Returns the path.
    """
    problems = validate_split(path, max_problems=1000)
    if problems:
        more = f" (and {len(problems) - 1} more problems; run `emoface validate {path}`)" if len(problems) > 1 else ""
        raise InvalidSplitError(problems[0] + more)
    return Path(path)


def validate_split(path: str | os.PathLike, max_problems: int = 200) -> list[str]:
    """Check a split file completely; returns a list of readable problems (empty when valid).

    Checks: the file opens; format and version; required attributes; faces (F, 3) int with
    indices < V; region indices in range; templates (V, 3) float32 finite; per clip: vertices
    (T, V, 3) float32 finite, audio (N,) float32 finite and covering T frames at ``fps`` to
    within one frame, attributes present and consistent, params/landmarks/fit_error with T
    frames and finite.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        return [f"{path}: file not found"]
    try:
        h = h5py.File(path, "r")
    except OSError as exc:
        return [f"{path}: not a readable HDF5 file (truncated or corrupt?): {str(exc).splitlines()[0]}"]
    problems: list[str] = []

    def add(msg: str) -> None:
        if len(problems) < max_problems:
            problems.append(f"{path}: {msg}")

    try:
        attrs = {k: _attr(v) for k, v in h.attrs.items()}
        for p in _header_problems(h, attrs):
            add(p)
        if problems:
            return problems
        fps = float(attrs["fps"])
        sr = int(attrs["sample_rate"])
        n_v = int(attrs["n_vertices"])
        faces = h["topology/faces"]
        if faces.ndim != 2 or faces.shape[1] != 3 or faces.dtype.kind not in "iu":
            add(f"/topology/faces must be (F, 3) integers, got {faces.shape} {faces.dtype}")
        else:
            f = faces[()]
            if f.size and (f.min() < 0 or f.max() >= n_v):
                add(f"/topology/faces index outside 0-{n_v - 1}")
            if faces_sha256(f) != attrs["topology_sha256"]:
                add("topology_sha256 does not match /topology/faces")
        for name, d in h["topology/regions"].items():
            idx = d[()]
            if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= n_v)):
                add(f"/topology/regions/{name}: indices must be 1-D within 0-{n_v - 1}")
        subjects = set(h["subjects"].keys())
        for s in sorted(subjects):
            g = h[f"subjects/{s}"]
            if "template" not in g:
                add(f"/subjects/{s}: missing template")
                continue
            t = g["template"]
            if t.shape != (n_v, 3) or t.dtype != np.float32:
                add(f"/subjects/{s}/template must be ({n_v}, 3) float32, got {t.shape} {t.dtype}")
            elif not np.all(np.isfinite(t[()])):
                add(f"/subjects/{s}/template holds NaN or inf")
        for cid in sorted(h["clips"].keys()):
            _validate_clip(h[f"clips/{cid}"], cid, n_v, fps, sr, subjects, add)
    except (OSError, RuntimeError, KeyError) as exc:
        add(f"unreadable content (truncated or corrupt?): {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    finally:
        h.close()
    return problems


def _validate_clip(g, cid: str, n_v: int, fps: float, sr: int, subjects: set[str], add) -> None:
    where = f"/clips/{cid}"
    for req in ("vertices", "audio"):
        if req not in g:
            add(f"{where}: missing dataset {req!r}")
            return
    v = g["vertices"]
    if v.ndim != 3 or v.shape[1:] != (n_v, 3) or v.dtype != np.float32:
        add(f"{where}/vertices must be (T, {n_v}, 3) float32, got {v.shape} {v.dtype}")
        return
    t = v.shape[0]
    if t < 1:
        add(f"{where}/vertices has no frames")
        return
    bad = 0
    for start in range(0, t, 256):
        bad += int((~np.isfinite(v[start : start + 256])).sum())
    if bad:
        add(f"{where}/vertices holds {bad} NaN/inf values")
    a = g["audio"]
    if a.ndim != 1 or a.dtype != np.float32:
        add(f"{where}/audio must be (N,) float32, got {a.shape} {a.dtype}")
    else:
        problem = _length_problem(t, a.shape[0], fps, sr)
        if problem:
            add(f"{where}: {problem}")
        if not np.all(np.isfinite(a[()])):
            add(f"{where}/audio holds NaN or inf")
    attrs = {k: _attr(x) for k, x in g.attrs.items()}
    missing = [k for k in _REQUIRED_CLIP_ATTRS if k not in attrs]
    not_int = [k for k in _INT_CLIP_ATTRS if k in attrs and
               (isinstance(attrs[k], bool) or not isinstance(attrs[k], (int, np.integer)))]
    if missing:
        add(f"{where}: missing attribute(s) {', '.join(missing)}")
    elif not_int:
        add(f"{where}: attribute(s) {', '.join(f'{k}={attrs[k]!r}' for k in not_int)} must be integers")
    else:
        if attrs["subject"] not in subjects:
            add(f"{where}: subject {attrs['subject']!r} has no /subjects entry")
        if int(attrs["n_frames"]) != t:
            add(f"{where}: n_frames={attrs['n_frames']} but vertices have {t} frames")
        if not 0 <= int(attrs["emotion"]) < len(EMOTIONS):
            add(f"{where}: emotion {attrs['emotion']} outside 0-{len(EMOTIONS) - 1}")
        elif attrs["emotion_name"] != EMOTIONS[int(attrs["emotion"])]:
            add(f"{where}: emotion_name {attrs['emotion_name']!r} does not match emotion {attrs['emotion']}")
        if int(attrs["intensity"]) not in (0, 1):
            add(f"{where}: intensity must be 0 or 1, got {attrs['intensity']}")
    if "params" in g:
        for name, d in g["params"].items():
            if name not in PER_CLIP_PARAMS and (d.ndim < 1 or d.shape[0] != t):
                add(f"{where}/params/{name} must have {t} frames first, got {d.shape}")
            elif not np.all(np.isfinite(d[()])):
                add(f"{where}/params/{name} holds NaN or inf")
    if "landmarks" in g:
        lm = g["landmarks"]
        if lm.ndim != 3 or lm.shape[0] != t or lm.shape[2] != 3:
            add(f"{where}/landmarks must be (T={t}, L, 3), got {lm.shape}")
    for name in ("fit_error", "valid"):
        if name in g and g[name].shape != (t,):
            add(f"{where}/{name} must be ({t},), got {g[name].shape}")
