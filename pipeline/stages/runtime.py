"""Per-process state of a build worker: the task context, code versions, the loaded back end and model.

Everything here is cheap to build in the main process (planning a no-op rerun imports
neither torch nor mediapipe); the back end's model is loaded on first use inside a worker
and kept for the life of that process.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline.stages.backend import Backend, load_backend, sources_hash
from pipeline.stages.config import BuildConfig, stage_config_hash
from pipeline.stages.store import Store

__all__ = ["TaskContext", "code_version", "stage_hashes", "model_fingerprint"]

#: bump to invalidate every artefact of a stage after a change of its on-disk format
FORMAT_VERSIONS = {"decode": 1, "landmarks": 1, "identity": 1, "fit": 1, "smooth": 1, "canonical": 1, "qa": 1, "report": 1, "package": 1}

#: the stage modules whose source enters each stage's code version
_STAGE_SOURCES = {
    "decode": ("pipeline.stages.decode", "emoface.utils.media"),
    "landmarks": ("pipeline.stages.landmarks", "pipeline.landmarker", "pipeline.detectors"),
    "identity": ("pipeline.stages.fitstages",),
    "fit": ("pipeline.stages.fitstages",),
    "smooth": ("pipeline.stages.fitstages",),
    "canonical": ("pipeline.stages.fitstages",),
    "qa": ("pipeline.stages.qastage",),
    "report": ("pipeline.stages.qastage",),
    "package": ("pipeline.stages.package", "emoface.data.schema"),
}


@dataclass(frozen=True)
class TaskContext:
    """What every task carries to its worker (small and picklable)."""

    out: str
    cfg: BuildConfig
    force: frozenset[str] = frozenset()
    device: str = "cpu"
    ffmpeg_threads: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    #: per-stage config hashes, computed once per context (planning a rerun checks thousands of sidecars)
    _config_hashes: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def store(self) -> Store:
        return Store(self.out)

    @property
    def backend(self) -> Backend:
        return load_backend(self.cfg.backend)

    def model(self) -> Any:
        return _model(self.cfg.backend, self.cfg.model)


@functools.lru_cache(maxsize=4)
def _model(backend_spec: str, model_spec: str) -> Any:
    return load_backend(backend_spec).load_model(model_spec)


def model_fingerprint(spec: str) -> str:
    """The model spec, plus size and mtime when it names a file (a replaced FLAME file rebuilds the fits)."""
    path = Path(spec)
    if path.exists():
        st = path.stat()
        return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    return spec


@functools.lru_cache(maxsize=None)
def _landmarker_version() -> str:
    from pipeline.landmarker import model_path

    try:
        mp_version = metadata.version("mediapipe")
    except metadata.PackageNotFoundError:
        mp_version = "absent"
    p = model_path()
    digest = hashlib.sha256(p.read_bytes()).hexdigest()[:16] if p.is_file() else "missing"
    return f"mediapipe {mp_version}; model {digest}"


@functools.lru_cache(maxsize=None)
def _ffmpeg_version() -> str:
    try:
        import imageio_ffmpeg

        return f"{os.path.basename(imageio_ffmpeg.get_ffmpeg_exe())}; imageio-ffmpeg {metadata.version('imageio-ffmpeg')}"
    except Exception:  # noqa: BLE001 - version strings are best effort
        return "unknown"


@functools.lru_cache(maxsize=64)
def code_version(stage: str, backend_spec: str, model_spec: str) -> str:
    """A short hash naming the code that produces ``stage``'s artefacts."""
    parts = [stage, str(FORMAT_VERSIONS[stage]), sources_hash(*_STAGE_SOURCES[stage])]
    if stage == "decode":
        parts.append(_ffmpeg_version())
    elif stage == "landmarks":
        parts.append(_landmarker_version())
    else:
        parts += [load_backend(backend_spec).code_version(stage), model_fingerprint(model_spec)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def stage_hashes(ctx: TaskContext, stage: str, input_hash: str, extra: dict | None = None) -> tuple[str, str, str]:
    """``(input_hash, config_hash, code_version)`` of ``stage`` for one key."""
    key = (stage, repr(sorted(extra.items())) if extra else "")
    if key not in ctx._config_hashes:
        ctx._config_hashes[key] = stage_config_hash(ctx.cfg, stage, extra)
    return input_hash, ctx._config_hashes[key], code_version(stage, ctx.cfg.backend, ctx.cfg.model)
