"""The numerical back end of a build: model, fitting, smoothing, canonicalisation and QA.

The stage framework (sidecars, resume, executors) only moves artefacts around; every
number comes from a :class:`Fitter`. :class:`DefaultBackend` delegates to
``emoface.morphable`` (the model), ``pipeline.fitting`` (``fit_identity``, ``fit_clip``,
``smooth_clip``, ``canonicalize``) and ``pipeline.qa``, imported lazily inside the worker
processes (their types are named under ``TYPE_CHECKING`` only, so planning imports no torch).
``BuildConfig.backend`` names the class as ``module:Class``, so a worker process (local or
on Ray) builds the same back end from the config alone; ``BuildConfig.backend_options`` are
checked against the class's ``Options`` dataclass when the config is loaded.

A back end's :meth:`Fitter.code_version` enters the sidecar of every stage that declares
``numerics`` in :mod:`pipeline.stages.registry`: when the fitting or model code changes the
fits are redone; when only the QA code changes, only ``qa`` and ``report`` are (later stages
see their inputs' content hashes, so an unchanged artefact does not redo what follows it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np

from pipeline._spec import load_object

if TYPE_CHECKING:
    from emoface.morphable.model import MorphableModel
    from pipeline.fitting import ClipFit, FitConfig, IdentityFit, LandmarkTrack, SmoothConfig
    from pipeline.qa import QAConfig
    from pipeline.qa.expressive import FrontRenderer
    from pipeline.stages.registry import Stage

__all__ = ["Topology", "QAInputs", "Fitter", "LoadedFitter", "Backend", "DefaultBackend", "load_backend", "check_backend", "sources_hash"]

TrackT = TypeVar("TrackT")
IdentityT = TypeVar("IdentityT")
FitT = TypeVar("FitT")
ModelT = TypeVar("ModelT")


@dataclass(frozen=True)
class Topology:
    """What the split files need from the model: ``faces (F, 3) int32``, regions, names, ``n_vertices``."""

    faces: np.ndarray
    regions: dict[str, np.ndarray]
    model_name: str
    topology_name: str
    n_vertices: int


@dataclass
class QAInputs(Generic[TrackT, FitT, ModelT]):
    """Everything the per-clip QA sees (all arrays numpy).

    - ``clip_id``, ``subject``; ``decoded``: the decode artefact (``audio``, ``n_frames``,
      ``fps``, ``audio_duration_s``, ``thumbnails (K, h, w, 3)``, ``thumbnail_frames (K,)``,
      ``thumbnail_scale``); ``track``: the landmark track;
    - ``raw_fit`` / ``fit``: the clip fit before and after smoothing;
    - ``vertices (T, V, 3)`` front-facing metres and ``template (V, 3)``;
    - ``model``; ``ground_truth``: path of ``ground_truth/<clip_id>.npz`` when the corpus has one;
    - ``source``: path of the clip's video (the QA reads its most expressive frame again).
    """

    clip_id: str
    subject: str
    decoded: dict[str, np.ndarray]
    track: TrackT
    raw_fit: FitT
    fit: FitT
    vertices: np.ndarray
    template: np.ndarray
    model: ModelT
    ground_truth: str | None = None
    source: str | None = None


def sources_hash(*packages: str) -> str:
    """sha256 of the ``.py`` files of the named packages/modules (missing ones count as absent); ``pkg.__init__``
    names a package's ``__init__.py`` alone, ``pkg`` every module below it."""
    h = hashlib.sha256()
    for name in packages:
        init_only = name.endswith(".__init__")
        try:
            spec = importlib.util.find_spec(name[: -len(".__init__")] if init_only else name)
        except (ImportError, ValueError):
            spec = None
        if spec is None or spec.origin is None:
            h.update(f"{name}:absent".encode())
            continue
        origin = Path(spec.origin)
        files = sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" and not init_only else [origin]
        for f in files:
            h.update(str(f.relative_to(origin.parent)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


class Fitter(Protocol[TrackT, IdentityT, FitT, ModelT]):
    """What the stages call, per clip or actor. :class:`DefaultBackend` is
    ``Fitter[LandmarkTrack, IdentityFit, ClipFit, MorphableModel]``; the test back end uses its own types."""

    def code_version(self, stage: Stage) -> str:
        """A short hash of the code that makes ``stage``'s artefacts (stages with ``numerics``)."""
        ...

    def load_model(self, spec: str) -> ModelT: ...

    def topology(self, model: ModelT) -> Topology: ...

    def make_track(self, arrays: dict[str, np.ndarray], clip_id: str) -> TrackT:
        """The landmark track from the ``landmarks`` artefact's arrays."""
        ...

    def save(self, obj: IdentityT | FitT, path: Path) -> None:
        """Write a fit result (identity or clip fit) as ``.npz`` atomically."""
        ...

    def load_identity(self, path: Path) -> IdentityT: ...

    def load_fit(self, path: Path) -> FitT: ...

    def fit_identity(self, tracks: list[TrackT], model: ModelT, cfg: FitConfig, device: str) -> IdentityT: ...

    def fit_clip(self, track: TrackT, identity: IdentityT, model: ModelT, cfg: FitConfig, device: str) -> FitT: ...

    def smooth_clip(self, fit: FitT, cfg: SmoothConfig) -> FitT: ...

    def canonicalize(self, fit: FitT, identity: IdentityT, model: ModelT) -> tuple[np.ndarray, np.ndarray]:
        """``(vertices (T, V, 3), template (V, 3))`` metres, head pose removed."""
        ...

    def clip_params(self, fit: FitT) -> dict[str, np.ndarray]:
        """The split file's ``params`` group for one clip."""
        ...

    def fit_error(self, fit: FitT) -> np.ndarray | None:
        """Per-frame reprojection error ``(T,)`` in pixels (``-1`` where the frame had no face)."""
        ...

    def divergence(self, result: IdentityT | FitT) -> str | None:
        """A one-line reason when ``result`` diverged (non-finite values), else ``None``."""
        ...

    def clip_qa(self, inputs: QAInputs[TrackT, FitT, ModelT], cfg: QAConfig) -> dict[str, object]:
        """Per-clip metrics and flags: a JSON-able dict, plus optional numpy arrays (plots, overlays)."""
        ...

    def write_report(self, out_dir: Path, clips: list[dict[str, object]], failures: list[dict[str, object]],
                     skipped: list[dict[str, object]], cfg: QAConfig, work: Path) -> list[Path]:
        """Write ``out_dir/report.html`` and ``out_dir/report.json``; returns the paths written."""
        ...


class Backend(Generic[TrackT, IdentityT, FitT, ModelT]):
    """A base for back ends: options, a :meth:`divergence` check over dataclass fields, ``save`` via ``obj.save``.

    ``Options``: a dataclass of the back end's own settings (``BuildConfig.backend_options``).
    """

    Options: ClassVar[type | None] = None

    def __init__(self, options: Mapping[str, object] | None = None) -> None:
        self.options = _options(type(self), options)

    def save(self, obj: IdentityT | FitT, path: Path) -> None:
        obj.save(path)  # type: ignore[union-attr]

    def divergence(self, result: IdentityT | FitT) -> str | None:
        for f in dataclasses.fields(result):  # type: ignore[arg-type]
            value = getattr(result, f.name)
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                bad = np.argwhere(~np.isfinite(value))[0]
                return f"fit diverged: non-finite {f.name} at index {tuple(int(i) for i in bad)}"
        return None


class DefaultBackend(Backend["LandmarkTrack", "IdentityFit", "ClipFit", "MorphableModel"]):
    """``emoface.morphable`` + ``pipeline.fitting`` + ``pipeline.qa``."""

    _pictures: FrontRenderer | None = None

    def code_version(self, stage: Stage) -> str:
        return sources_hash(*stage.numerics)

    def load_model(self, spec: str) -> MorphableModel:
        from emoface import morphable

        return morphable.load(spec)

    def topology(self, model: MorphableModel) -> Topology:
        faces = np.asarray(model.faces, dtype=np.int32)
        regions = {k: np.asarray(v, dtype=np.int32) for k, v in getattr(model, "regions", {}).items()}
        kind = getattr(model, "kind", "")
        topo = "flame-5023" if kind == "flame" else f"{model.name}-{len(model.v_template)}"
        return Topology(faces, regions, str(model.name), topo, int(len(model.v_template)))

    def make_track(self, arrays: dict[str, np.ndarray], clip_id: str) -> LandmarkTrack:
        from pipeline.fitting import LandmarkTrack

        return LandmarkTrack.from_arrays(arrays, clip_id)

    def load_identity(self, path: Path) -> IdentityFit:
        from pipeline.fitting import IdentityFit

        return IdentityFit.load(path)

    def load_fit(self, path: Path) -> ClipFit:
        from pipeline.fitting import ClipFit

        return ClipFit.load(path)

    def fit_identity(self, tracks: list[LandmarkTrack], model: MorphableModel, cfg: FitConfig, device: str) -> IdentityFit:
        from pipeline.fitting import default_camera, fit_identity

        from pipeline.fitting.schemes import config_for_scheme

        cfg = config_for_scheme(cfg, model.landmark_embeddings, tracks[0].scheme)
        camera = default_camera(tracks[0].width, tracks[0].height, cfg.camera)
        return fit_identity(tracks, model, camera, cfg, device)

    def fit_clip(self, track: LandmarkTrack, identity: IdentityFit, model: MorphableModel, cfg: FitConfig, device: str) -> ClipFit:
        from pipeline.fitting import fit_clip

        return fit_clip(track, identity, model, identity.camera, cfg, device)

    def smooth_clip(self, fit: ClipFit, cfg: SmoothConfig) -> ClipFit:
        from pipeline.fitting import smooth_clip

        return smooth_clip(fit, cfg)

    def canonicalize(self, fit: ClipFit, identity: IdentityFit, model: MorphableModel) -> tuple[np.ndarray, np.ndarray]:
        from pipeline.fitting import canonicalize

        vertices, template = canonicalize(fit, identity, model)
        return np.asarray(vertices, np.float32), np.asarray(template, np.float32)

    def clip_params(self, fit: ClipFit) -> dict[str, np.ndarray]:
        return fit.params()

    def fit_error(self, fit: ClipFit) -> np.ndarray | None:
        return np.asarray(fit.fit_error, np.float32)

    def clip_qa(self, inputs: QAInputs[LandmarkTrack, ClipFit, MorphableModel], cfg: QAConfig) -> dict[str, object]:
        from pipeline import qa
        from pipeline.qa.expressive import FrontRenderer

        if self._pictures is None:  # one GL context per worker process renders every clip's picture
            self._pictures = FrontRenderer()
        return qa.clip_qa(inputs, cfg, self._pictures)

    def write_report(self, out_dir: Path, clips: list[dict[str, object]], failures: list[dict[str, object]],
                     skipped: list[dict[str, object]], cfg: QAConfig, work: Path) -> list[Path]:
        from pipeline import qa

        return qa.write_report(out_dir, clips, failures, skipped, cfg, work)


def _options(cls: type, options: Mapping[str, object] | None) -> object | None:
    declared = getattr(cls, "Options", None)
    if declared is None:
        if options:
            raise ValueError(f"backend_options: {cls.__name__} takes no options, got {', '.join(sorted(options))}")
        return None
    from emoface.utils.config import from_dict

    return from_dict(declared, dict(options or {}), where="backend_options")


def _backend_class(spec: str) -> type:
    return load_object(spec, "backend")  # type: ignore[return-value]


def check_backend(spec: str, options: Mapping[str, object] | None = None) -> None:
    """Raise ``ValueError`` (one line) when ``spec`` cannot be loaded or ``options`` do not fit it."""
    _options(_backend_class(spec), options)


#: a back end named by the config (``module:Class``): its track, identity, fit and model types are
#: known only at run time, and the stage layer only hands its values back to it
LoadedFitter = Fitter[Any, Any, Any, Any]

_CACHE: dict[str, LoadedFitter] = {}


def load_backend(spec: str, options: Mapping[str, object] | None = None) -> LoadedFitter:
    """Instantiate ``module:Class`` (with ``options``) once per process."""
    key = spec + json.dumps(options or {}, sort_keys=True, default=str)
    if key not in _CACHE:
        cls = _backend_class(spec)
        _CACHE[key] = cls(options) if getattr(cls, "Options", None) is not None or options else cls()
    return _CACHE[key]
