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

from emoface.data.schema.reader import SplitReader, open_split
from emoface.data.schema.records import (
    FORMAT_NAME,
    FORMAT_VERSION,
    PER_CLIP_PARAMS,
    ClipMeta,
    ClipRecord,
    InvalidSplitError,
    SchemaError,
    faces_sha256,
)
from emoface.data.schema.validation import require_valid_split, validate_split
from emoface.data.schema.writer import SplitWriter

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
