"""The lazy reader of split files: :class:`SplitReader` and :func:`open_split`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from emoface.data.schema.records import (
    REQUIRED_CLIP_ATTRS,
    ClipMeta,
    ClipRecord,
    SchemaError,
    attr_value,
    check_clip,
    float_attr,
    header_problems,
    int_attr,
)

__all__ = ["SplitReader", "open_split"]


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
            self.attrs = {k: attr_value(v) for k, v in h.attrs.items()}
        except Exception as exc:  # noqa: BLE001 - h5py raises assorted errors on damaged files
            raise SchemaError(f"{self.path}: cannot read file attributes ({exc})") from exc
        if check:
            problems = header_problems(h, self.attrs)
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
        return {k: attr_value(v) for k, v in self._file()[f"subjects/{subject}"].attrs.items()}

    def clip_meta(self, clip_id: str) -> ClipMeta:
        try:
            g = self._file()[f"clips/{clip_id}"]
        except KeyError as exc:
            raise SchemaError(f"{self.path}: no clip {clip_id!r}") from exc
        a = {k: attr_value(v) for k, v in g.attrs.items()}
        where = f"{self.path}: /clips/{clip_id}"
        return ClipMeta(
            clip_id=clip_id,
            subject=str(a.get("subject", "")),
            emotion=int_attr(a, "emotion", 0, where),
            emotion_name=str(a.get("emotion_name", "")),
            intensity=int_attr(a, "intensity", 0, where),
            statement=int_attr(a, "statement", 1, where),
            repetition=int_attr(a, "repetition", 1, where),
            n_frames=int_attr(a, "n_frames", 0, where),
            duration_s=float_attr(a, "duration_s", 0.0, where),
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
            extra_attrs={k: v for k, v in meta.attrs.items() if k not in REQUIRED_CLIP_ATTRS + ("source", "source_sha256")},
        )
        check_clip(rec, self.n_vertices, self.fps, self.sample_rate, f"{self.path}: clip {clip_id}")
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
