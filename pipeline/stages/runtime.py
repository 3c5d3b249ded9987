"""Per-process state of a build worker: the task context, code versions, the loaded back end and model.

Everything here is cheap to build in the main process (planning a no-op rerun imports
neither torch nor mediapipe); the back end's model is loaded on first use inside a worker
and kept for the life of that process.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from pipeline.detectors.registry import DETECTORS, DetectorRegistry
from pipeline.stages.backend import LoadedFitter, load_backend, sources_hash
from pipeline.stages.config import BuildConfig, stage_config_hash
from pipeline.stages.registry import REGISTRY, Stage, StageRegistry, resolve
from pipeline.stages.store import Store

__all__ = ["TaskContext", "code_version", "stage_hashes", "model_fingerprint", "ffmpeg_version", "detector_version",
           "load_model"]


@dataclass(frozen=True)
class TaskContext:
    """What every task carries to its worker (small and picklable)."""

    out: str
    cfg: BuildConfig
    force: frozenset[str] = frozenset()
    device: str = "cpu"
    ffmpeg_threads: int = 1
    #: the stages of this build (tests add toy stages to a copy of the registry)
    stages: StageRegistry = REGISTRY
    #: the detectors ``landmarks.detector`` may name (tests add toy detectors to a copy)
    detectors: DetectorRegistry = DETECTORS
    #: per-stage config hashes, computed once per context (planning a rerun checks thousands of sidecars)
    _config_hashes: dict = field(default_factory=dict, compare=False, repr=False)
    #: per-stage tool versions (:func:`tool_version`), likewise once per context
    _tool_versions: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def store(self) -> Store:
        return Store(self.out)

    @property
    def backend(self) -> LoadedFitter:
        return load_backend(self.cfg.backend, self.cfg.backend_options)

    def model(self) -> object:
        """The back end's model (for the default back end a MorphableModel; opaque to the stage layer)."""
        return load_model(self.cfg.backend, self.cfg.model, self.cfg.backend_options)


def load_model(backend_spec: str, model_spec: str, options: Mapping[str, object] | None = None) -> object:
    """The back end's model, loaded once per process (per back end, options and model)."""
    return _model(backend_spec, json.dumps(options or {}, sort_keys=True, default=str), model_spec)


@functools.lru_cache(maxsize=4)
def _model(backend_spec: str, options: str, model_spec: str) -> object:
    return load_backend(backend_spec, json.loads(options)).load_model(model_spec)


def model_fingerprint(spec: str) -> str:
    """The model spec, plus size and mtime when it names a file (a replaced FLAME file rebuilds the fits)."""
    path = Path(spec)
    if path.exists():
        st = path.stat()
        return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    return spec


def detector_version(ctx: TaskContext) -> str:
    """The ``landmarks`` stage's tool: the configured detector's package and model (its ``DetectorSpec.version``)
    and the sources of its own modules (``DetectorSpec.code_modules``), so that a new model file, package or
    detector code redoes its landmarks, and another detector's edit does not."""
    spec = ctx.detectors[ctx.cfg.landmarks.detector]
    return f"{spec.tool_version(spec.parse(ctx.cfg.landmarks.options))}; code {sources_hash(*spec.code_modules)}"


def ffmpeg_version(ctx: TaskContext | None = None) -> str:
    """The ffmpeg binary and imageio-ffmpeg's version (the ``decode`` stage's tool)."""
    return _ffmpeg_version()


@functools.lru_cache(maxsize=None)
def _ffmpeg_version() -> str:
    try:
        import imageio_ffmpeg

        return f"{os.path.basename(imageio_ffmpeg.get_ffmpeg_exe())}; imageio-ffmpeg {metadata.version('imageio-ffmpeg')}"
    except Exception:  # noqa: BLE001 - version strings are best effort
        return "unknown"


@functools.lru_cache(maxsize=64)
def code_version(stage: Stage, backend_spec: str, model_spec: str, options: str = "{}", tool: str = "") -> str:
    """A short hash naming the code that produces ``stage``'s artefacts (``tool``: its external tool's version,
    :func:`tool_version`)."""
    parts = [stage.name, str(stage.format_version), sources_hash(*stage.modules)]
    if tool:
        parts.append(tool)
    if stage.numerics:
        parts += [load_backend(backend_spec, json.loads(options)).code_version(stage), model_fingerprint(model_spec)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def stage_hashes(ctx: TaskContext, stage: str, input_hash: str, extra: Mapping[str, str] | None = None) -> tuple[str, str, str]:
    """``(input_hash, config_hash, code_version)`` of ``stage`` for one key."""
    key = (stage, repr(sorted(extra.items())) if extra else "")
    if key not in ctx._config_hashes:
        ctx._config_hashes[key] = stage_config_hash(ctx.cfg, stage, extra, ctx.stages)
    if stage not in ctx._tool_versions:
        ctx._tool_versions[stage] = tool_version(ctx.stages[stage], ctx)
    options = json.dumps(ctx.cfg.backend_options, sort_keys=True, default=str)
    return input_hash, ctx._config_hashes[key], code_version(ctx.stages[stage], ctx.cfg.backend, ctx.cfg.model, options,
                                                             ctx._tool_versions[stage])


def tool_version(stage: Stage, ctx: TaskContext) -> str:
    """The version of the external tool ``stage`` runs (its ``tool_version`` function called with ``ctx``), "" for none."""
    return str(resolve(stage.tool_version)(ctx)) if stage.tool_version else ""
