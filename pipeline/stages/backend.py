"""The numerical back end of a build: model, fitting, smoothing, canonicalisation and QA.

The stage framework (sidecars, resume, executors) only moves artefacts around; every
number comes from a :class:`Backend`. :class:`DefaultBackend` delegates to
``emoface.morphable`` (the model), ``pipeline.fitting`` (``fit_identity``, ``fit_clip``,
``smooth_clip``, ``canonicalize``) and ``pipeline.qa``, imported lazily inside the worker
processes. ``BuildConfig.backend`` names the class as ``module:Class``, so a worker
process (local or on Ray) builds the same back end from the config alone.

A backend's :meth:`Backend.code_version` enters the sidecar of every stage after landmarks,
per stage: when the fitting or model code changes the fits are redone; when only the QA code
changes, only ``qa`` and ``report`` are (later stages see their inputs' content hashes, so an
unchanged artefact does not redo what follows it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Topology", "QAInputs", "Backend", "DefaultBackend", "load_backend", "sources_hash"]


@dataclass(frozen=True)
class Topology:
    """What the split files need from the model: ``faces (F, 3) int32``, regions, names, ``n_vertices``."""

    faces: np.ndarray
    regions: dict[str, np.ndarray]
    model_name: str
    topology_name: str
    n_vertices: int


@dataclass
class QAInputs:
    """Everything the per-clip QA sees (all arrays numpy).

    - ``clip_id``, ``subject``; ``decoded``: the decode artefact (``audio``, ``n_frames``,
      ``fps``, ``audio_duration_s``, ``thumbnails (K, h, w, 3)``, ``thumbnail_frames (K,)``,
      ``thumbnail_scale``); ``track``: the landmark track (backend type);
    - ``raw_fit`` / ``fit``: the clip fit before and after smoothing (backend type);
    - ``vertices (T, V, 3)`` front-facing metres and ``template (V, 3)``;
    - ``model``; ``ground_truth``: path of ``ground_truth/<clip_id>.npz`` when the corpus has one.
    """

    clip_id: str
    subject: str
    decoded: dict[str, np.ndarray]
    track: Any
    raw_fit: Any
    fit: Any
    vertices: np.ndarray
    template: np.ndarray
    model: Any
    ground_truth: str | None = None


def sources_hash(*packages: str) -> str:
    """sha256 of the ``.py`` files of the named packages/modules (missing ones count as absent)."""
    h = hashlib.sha256()
    for name in packages:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None or spec.origin is None:
            h.update(f"{name}:absent".encode())
            continue
        origin = Path(spec.origin)
        files = sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]
        for f in files:
            h.update(str(f.relative_to(origin.parent)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


class Backend:
    """The interface the stages call (duck-typed; subclass for convenience). All methods are per clip/actor."""

    def code_version(self, stage: str) -> str:
        """A short hash of the code that makes ``stage``'s artefacts (``identity`` ... ``package``)."""
        raise NotImplementedError

    def load_model(self, spec: str) -> Any:
        raise NotImplementedError

    def topology(self, model: Any) -> Topology:
        raise NotImplementedError

    # artefacts -------------------------------------------------------------------------------
    def make_track(self, arrays: dict[str, np.ndarray], clip_id: str) -> Any:
        raise NotImplementedError

    def save(self, obj: Any, path: Path) -> None:
        """Write a fit result (identity or clip fit) as ``.npz`` atomically."""
        raise NotImplementedError

    def load(self, kind: str, path: Path) -> Any:
        """Read what :meth:`save` wrote; ``kind`` is ``identity`` or ``fit``."""
        raise NotImplementedError

    # numerics ----------------------------------------------------------------------------------
    def fit_identity(self, tracks: list[Any], model: Any, cfg: dict[str, Any], device: str) -> Any:
        raise NotImplementedError

    def fit_clip(self, track: Any, identity: Any, model: Any, cfg: dict[str, Any], device: str) -> Any:
        raise NotImplementedError

    def smooth_clip(self, fit: Any, cfg: dict[str, Any]) -> Any:
        raise NotImplementedError

    def canonicalize(self, fit: Any, identity: Any, model: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(vertices (T, V, 3), template (V, 3))`` metres, head pose removed."""
        raise NotImplementedError

    def clip_params(self, fit: Any) -> dict[str, np.ndarray]:
        """The split file's ``params`` group for one clip."""
        raise NotImplementedError

    def fit_error(self, fit: Any) -> np.ndarray | None:
        """Per-frame reprojection error ``(T,)`` in pixels (``-1`` where the frame had no face)."""
        raise NotImplementedError

    def divergence(self, fit: Any) -> str | None:
        """A one-line reason when ``fit`` diverged (non-finite values), else ``None``."""
        for f in dataclasses.fields(fit):
            value = getattr(fit, f.name)
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                bad = np.argwhere(~np.isfinite(value))[0]
                return f"fit diverged: non-finite {f.name} at index {tuple(int(i) for i in bad)}"
        return None

    # QA ----------------------------------------------------------------------------------------
    def clip_qa(self, inputs: QAInputs, cfg: dict[str, Any]) -> dict[str, Any]:
        """Per-clip metrics and flags: a JSON-able dict, plus optional numpy arrays (plots, overlays)."""
        raise NotImplementedError

    def write_report(self, out_dir: Path, clips: list[dict[str, Any]], failures: list[dict[str, Any]],
                     skipped: list[dict[str, Any]], cfg: dict[str, Any], work: Path) -> list[Path]:
        """Write ``out_dir/report.html`` and ``out_dir/report.json``; returns the paths written."""
        raise NotImplementedError


class DefaultBackend(Backend):
    """``emoface.morphable`` + ``pipeline.fitting`` + ``pipeline.qa``."""

    def __init__(self) -> None:
        self._fit_cfg: dict[str, Any] = {}

    _CODE = {
        "fitting": ("pipeline.fitting", "emoface.morphable", "emoface.mesh.camera"),
        "qa": ("pipeline.qa", "emoface.morphable", "emoface.mesh.camera"),
        "package": ("emoface.morphable",),
    }

    def code_version(self, stage: str) -> str:
        group = "qa" if stage in ("qa", "report") else "package" if stage == "package" else "fitting"
        return sources_hash(*self._CODE[group])

    def load_model(self, spec: str) -> Any:
        from emoface import morphable

        return morphable.load(spec)

    def topology(self, model: Any) -> Topology:
        faces = np.asarray(model.faces, dtype=np.int32)
        regions = {k: np.asarray(v, dtype=np.int32) for k, v in getattr(model, "regions", {}).items()}
        kind = getattr(model, "kind", "")
        topo = "flame-5023" if kind == "flame" else f"{model.name}-{len(model.v_template)}"
        return Topology(faces, regions, str(model.name), topo, int(len(model.v_template)))

    def _configs(self, cfg: dict[str, Any], kind: str) -> Any:
        from emoface.utils.config import from_dict
        from pipeline.fitting.config import FitConfig, SmoothConfig

        cls = FitConfig if kind == "fit" else SmoothConfig
        return from_dict(cls, cfg, where=kind)

    def make_track(self, arrays: dict[str, np.ndarray], clip_id: str) -> Any:
        from pipeline.fitting import LandmarkTrack

        return LandmarkTrack.from_arrays(arrays, clip_id)

    def save(self, obj: Any, path: Path) -> None:
        obj.save(path)

    def load(self, kind: str, path: Path) -> Any:
        from pipeline.fitting import ClipFit, IdentityFit

        return (IdentityFit if kind == "identity" else ClipFit).load(path)

    def fit_identity(self, tracks: list[Any], model: Any, cfg: dict[str, Any], device: str) -> Any:
        from pipeline.fitting import default_camera, fit_identity

        from pipeline.fitting.schemes import embedding_for_scheme

        fcfg = self._configs(cfg, "fit")
        fcfg.embedding = embedding_for_scheme(model.landmark_embeddings, tracks[0].scheme, fcfg.embedding)
        camera = default_camera(tracks[0].width, tracks[0].height, fcfg.camera)
        return fit_identity(tracks, model, camera, fcfg, device)

    def fit_clip(self, track: Any, identity: Any, model: Any, cfg: dict[str, Any], device: str) -> Any:
        from pipeline.fitting import fit_clip

        return fit_clip(track, identity, model, identity.camera, self._configs(cfg, "fit"), device)

    def smooth_clip(self, fit: Any, cfg: dict[str, Any]) -> Any:
        from pipeline.fitting import smooth_clip

        return smooth_clip(fit, self._configs(cfg, "smooth"))

    def canonicalize(self, fit: Any, identity: Any, model: Any) -> tuple[np.ndarray, np.ndarray]:
        from pipeline.fitting import canonicalize

        vertices, template = canonicalize(fit, identity, model)
        return np.asarray(vertices, np.float32), np.asarray(template, np.float32)

    def clip_params(self, fit: Any) -> dict[str, np.ndarray]:
        return fit.params()

    def fit_error(self, fit: Any) -> np.ndarray | None:
        return np.asarray(fit.fit_error, np.float32)

    def clip_qa(self, inputs: QAInputs, cfg: dict[str, Any]) -> dict[str, Any]:
        from pipeline import qa

        return qa.clip_qa(inputs, cfg)

    def write_report(self, out_dir: Path, clips: list[dict[str, Any]], failures: list[dict[str, Any]],
                     skipped: list[dict[str, Any]], cfg: dict[str, Any], work: Path) -> list[Path]:
        from pipeline import qa

        return qa.write_report(out_dir, clips, failures, skipped, cfg, work)


_CACHE: dict[str, Backend] = {}


def load_backend(spec: str) -> Backend:
    """Instantiate ``module:Class`` once per process."""
    if spec not in _CACHE:
        mod_name, _, cls_name = spec.partition(":")
        if not cls_name:
            raise ValueError(f"backend {spec!r}: expected module:Class")
        try:
            cls = getattr(importlib.import_module(mod_name), cls_name)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"backend {spec!r} cannot be loaded: {exc}") from exc
        _CACHE[spec] = cls()
    return _CACHE[spec]
