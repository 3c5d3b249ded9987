"""The one writer of split files: :class:`SplitWriter` (atomic: the file appears only when complete)."""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from emoface.data.ravdess import EMOTIONS
from emoface.data.schema.records import FORMAT_NAME, FORMAT_VERSION, ClipRecord, SchemaError, check_clip, faces_sha256
from emoface.utils.atomic import atomic_path
from emoface.utils.guarded_file import GuardedFile

__all__ = ["SplitWriter", "CHUNK_FRAMES"]

#: frames per HDF5 chunk of ``/clips/<id>/vertices``
CHUNK_FRAMES = 32


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
        self._file: GuardedFile | None = None
        self._subjects: set[str] = set()

    def __enter__(self) -> "SplitWriter":
        import h5py

        self._ctx = atomic_path(self.path)
        tmp = self._ctx.__enter__()
        try:
            self._file = GuardedFile(tmp)  # a full disk becomes an OSError here, never a crash in HDF5
            self._h5 = h5py.File(self._file, "w", track_order=False)
            self._write_header()
            self._check_io()
        except BaseException:
            self._close()
            self._ctx.__exit__(*sys.exc_info())
            raise
        return self

    def _check_io(self) -> None:
        """Raise the first failed write (e.g. no space left) as one line naming the split file."""
        err = self._file.error if self._file is not None else None
        if err is not None:
            what = err.strerror or str(err)
            raise OSError(err.errno, f"{self.path}: cannot write the split file: {what[:1].lower() + what[1:]}")

    def _close(self) -> None:
        try:
            if self._h5 is not None:
                self._h5.close()
        finally:
            self._h5 = None
            if self._file is not None:
                self._file.fsync()
                self._file.close()

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
        self._check_io()

    def add_clip(self, rec: ClipRecord) -> None:
        """Store one clip; its subject must have been added first."""
        where = f"{self.path}: clip {rec.clip_id}"
        if rec.subject not in self._subjects:
            raise SchemaError(f"{where}: subject {rec.subject!r} has no template (call add_subject first)")
        check_clip(rec, self.n_vertices, self.fps, self.sample_rate, where)
        comp = {"compression": "gzip", "compression_opts": self.level, "shuffle": True}
        g = self._h5["clips"].create_group(rec.clip_id)
        verts = np.asarray(rec.vertices, dtype=np.float32)
        t = verts.shape[0]
        g.create_dataset("vertices", data=verts, chunks=(min(t, CHUNK_FRAMES), self.n_vertices, 3), **comp)
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
        self._check_io()

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._close()
            if exc_type is None:
                self._check_io()
        except BaseException:
            self._ctx.__exit__(*sys.exc_info())  # removes the temporary file; the old split stays
            raise
        finally:
            self._file = None
        self._ctx.__exit__(exc_type, exc, tb)
