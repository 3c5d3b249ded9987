"""The MediaPipe canonical face mesh, read from the bundled ``face_landmarker.task``.

The bundle is a zip; ``geometry_pipeline_metadata_landmarks.binarypb`` inside it is a
``GeometryPipelineMetadata`` protobuf whose ``canonical_mesh`` (field 1, a ``Mesh3d``)
holds a vertex buffer of ``x, y, z, u, v`` floats (field 3, packed) and a triangle index
buffer (field 4, packed uint32). The file is tiny, so a minimal wire-format reader is used
instead of shipping the generated protobuf classes. Coordinates are centimetres, y up,
the face looking towards +z.
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import emoface.morphable

__all__ = ["CanonicalMesh", "load_canonical_mesh", "task_file"]

_METADATA = "geometry_pipeline_metadata_landmarks.binarypb"


def task_file() -> Path:
    """The bundled MediaPipe Face Landmarker model file."""
    return Path(emoface.morphable.__file__).resolve().parent / "assets" / "face_landmarker.task"


@dataclass(frozen=True)
class CanonicalMesh:
    """``vertices (468, 3)`` centimetres, ``uv (468, 2)``, ``faces (898, 3)`` int32."""

    vertices: np.ndarray
    uv: np.ndarray
    faces: np.ndarray


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes):
    """Yield ``(field_number, wire_type, value)``; length-delimited values are bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + n], pos + n
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, wire, value


def _packed_varints(buf: bytes) -> list[int]:
    out, pos = [], 0
    while pos < len(buf):
        v, pos = _varint(buf, pos)
        out.append(v)
    return out


def load_canonical_mesh(path: str | Path | None = None) -> CanonicalMesh:
    """Parse the canonical mesh out of a ``face_landmarker.task`` bundle (default: the bundled one)."""
    path = Path(path) if path is not None else task_file()
    try:
        with zipfile.ZipFile(path) as zf:
            blob = zf.read(_METADATA)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: cannot read {_METADATA} from the Face Landmarker bundle ({exc})") from exc
    mesh_blob = None
    for field, wire, value in _fields(blob):
        if field == 1 and wire == 2:
            mesh_blob = value
    if mesh_blob is None:
        raise ValueError(f"{path}: {_METADATA} holds no canonical_mesh")
    floats: list[float] = []
    indices: list[int] = []
    for field, wire, value in _fields(mesh_blob):
        if field == 3:
            if wire == 2:
                floats.extend(struct.unpack(f"<{len(value) // 4}f", value))
            elif wire == 5:
                floats.append(struct.unpack("<f", value)[0])
        elif field == 4:
            if wire == 2:
                indices.extend(_packed_varints(value))
            elif wire == 0:
                indices.append(int(value))
    vb = np.asarray(floats, dtype=np.float32).reshape(-1, 5)
    faces = np.asarray(indices, dtype=np.int32).reshape(-1, 3)
    return CanonicalMesh(vertices=vb[:, :3].copy(), uv=vb[:, 3:].copy(), faces=faces)
