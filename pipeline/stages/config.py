"""Typed configuration of a dataset build. Defaults live here; ``configs/ravdess.yaml`` only overrides.

Every section is a dataclass, checked when the config is loaded (an unknown key or a wrong
type is a one-line :class:`ConfigError`): ``fit`` and ``smooth`` are
:class:`pipeline.fitting.FitConfig` and :class:`pipeline.fitting.SmoothConfig`, ``qa`` is
:class:`pipeline.qa.QAConfig` (their modules import nothing heavy). Each stage's sidecar
hashes only the sections that stage reads (``sections`` in :mod:`pipeline.stages.registry`),
so changing a QA threshold does not redo the fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from collections.abc import Mapping

from emoface.utils.config import ConfigError, config_hash, load_yaml
from pipeline.fitting.config import FitConfig, SmoothConfig
from pipeline.detectors.registry import DETECTORS, DetectorRegistry
from pipeline.qa.config import OracleConfig, QAConfig
from pipeline.stages.registry import REGISTRY, StageRegistry

__all__ = [
    "STAGES",
    "DecodeConfig",
    "LandmarksConfig",
    "PackageConfig",
    "SourceConfig",
    "ExecutorConfig",
    "BuildConfig",
    "SplitConfig",
    "load_build_config",
    "load_split",
    "stage_config_hash",
    "stages_from",
]

#: Stage order (from the registry); ``--force STAGE`` redoes that stage and every later one.
STAGES: tuple[str, ...] = REGISTRY.names


@dataclass
class DecodeConfig:
    """Video -> frames at ``fps`` (ffmpeg's fps filter picks frames by timestamp), audio -> mono float32."""

    fps: float = 30.0
    sample_rate: int = 16000
    #: frames kept (downscaled) for the QA report's overlays, evenly spaced over the clip
    thumbnails: int = 4
    thumbnail_width: int = 320
    #: a clip with fewer decoded frames fails
    min_frames: int = 8
    #: decoded frames below (1 - x) * container duration * fps means a truncated file
    max_frame_shortfall: float = 0.05
    #: decoder error lines tolerated before the clip counts as corrupt
    max_decode_errors: int = 0
    #: ffmpeg decoding threads per worker (0: cores / workers)
    ffmpeg_threads: int = 0


@dataclass
class LandmarksConfig:
    """The landmark detector and its settings (:mod:`pipeline.detectors`)."""

    #: a name in :data:`pipeline.detectors.DETECTORS`: ``mediapipe`` (the default), ``fan`` (extra ``fan``) or
    #: ``dlib`` (extra ``dlib``)
    detector: str = DETECTORS.default
    #: the detector's settings, checked against its settings dataclass when the config is loaded
    #: (which then holds every one of them, defaults included)
    options: dict[str, object] = field(default_factory=dict)
    #: a clip whose fraction of frames with a face is below this fails ("no face")
    min_detection_rate: float = 0.5
    #: downscale frames wider than this before detection (0: native); landmarks stay in source pixels
    max_width: int = 0


@dataclass
class PackageConfig:
    compression_level: int = 4
    #: store the (T, 478, 3) detector landmarks in the split files
    landmarks: bool = True


@dataclass
class SourceConfig:
    """Discovery and archive-extraction limits."""

    max_member_bytes: int = 2 << 30
    max_total_bytes: int = 64 << 30
    max_ratio: float = 200.0
    #: extract archives here (empty: beside the archive, or OUT/sources when that is read-only)
    extract_to: str = ""


@dataclass
class ExecutorConfig:
    #: multiprocessing start method for local workers; fork is unsafe with mediapipe/torch threads
    start_method: str = "spawn"
    torch_threads: int = 1
    #: a worker process that dies (segfault, OOM kill) is replaced and its tasks retried this often
    worker_death_retries: int = 1

    def __post_init__(self) -> None:
        if self.start_method not in ("spawn", "forkserver"):
            raise ValueError(f"start_method must be spawn or forkserver, got {self.start_method!r}")


@dataclass
class BuildConfig:
    """Everything a build depends on. ``model`` is ``demo`` or a FLAME model path."""

    model: str = "demo"
    #: the numerical back end: ``module:Class`` implementing pipeline.stages.backend.Fitter
    backend: str = "pipeline.stages.backend:DefaultBackend"
    #: settings of a custom back end, checked against its ``Options`` dataclass when it declares one
    backend_options: dict[str, object] = field(default_factory=dict)
    #: torch device for fitting when not placed by --gpus
    device: str = "cpu"
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    landmarks: LandmarksConfig = field(default_factory=LandmarksConfig)
    #: identity and per-clip fits, incl. the camera
    fit: FitConfig = field(default_factory=FitConfig)
    smooth: SmoothConfig = field(default_factory=SmoothConfig)
    #: the QA flags' thresholds and the report's settings
    qa: QAConfig = field(default_factory=QAConfig)
    #: the report's oracle (``--oracle``): the fit from the true landmarks, where the corpus has ground truth
    oracle: OracleConfig = field(default_factory=OracleConfig)
    package: PackageConfig = field(default_factory=PackageConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)


@dataclass
class SplitConfig:
    """Actors per split (``configs/split-paper.yaml``: the paper's 01-20 / 21-22 / 23-24)."""

    name: str = "paper"
    train: list[int] = field(default_factory=lambda: list(range(1, 21)))
    val: list[int] = field(default_factory=lambda: [21, 22])
    test: list[int] = field(default_factory=lambda: [23, 24])

    def __post_init__(self) -> None:
        seen: dict[int, str] = {}
        for split in ("train", "val", "test"):
            for a in getattr(self, split):
                if not 1 <= a <= 24:
                    raise ValueError(f"{split}: actor {a} outside 1-24")
                if a in seen:
                    raise ValueError(f"actor {a} is in both {seen[a]} and {split}")
                seen[a] = split

    def split_of(self, actor: int) -> str | None:
        for split in ("train", "val", "test"):
            if actor in getattr(self, split):
                return split
        return None

    @property
    def splits(self) -> tuple[str, ...]:
        return ("train", "val", "test")


def stage_config_hash(cfg: BuildConfig, stage: str, extra: Mapping[str, str] | None = None,
                      stages: StageRegistry = REGISTRY) -> str:
    """sha256 of the config sections ``stage`` reads (plus ``extra``, e.g. the split)."""
    from emoface.utils.config import to_dict

    full = to_dict(cfg)
    part = {k: full[k] for k in stages[stage].sections}
    if extra:
        part["extra"] = extra
    return config_hash(part)


def stages_from(stage: str | None, stages: StageRegistry = REGISTRY) -> frozenset[str]:
    """``--force STAGE``: that stage and every later one."""
    if stage is None:
        return frozenset()
    if stage not in stages:
        raise ConfigError(f"--force: unknown stage {stage!r}; choose one of {', '.join(stages.names)}")
    return frozenset(stages.later(stage))


def load_build_config(path: str | Path | None = None, overrides: Mapping[str, object] | None = None,
                      detectors: DetectorRegistry = DETECTORS) -> BuildConfig:
    """Defaults, then the YAML file, then ``overrides``; every section, the back end's options and the
    detector's checked (``landmarks.options`` comes back resolved: every setting, defaults included)."""
    cfg = load_yaml(BuildConfig, path, overrides)
    from pipeline.stages.backend import check_backend

    from pipeline.detectors.base import DetectorError

    where = str(path or "defaults")
    if cfg.fit.flow.weight > 0:  # the landmarks stage does not compute the flow the term needs
        raise ConfigError(f"{where}: fit.flow.weight: a build does not compute optical flow (the term is measured "
                          "by bench/bench_levers.py only, docs/fitting.md \"Levers measured\"); leave it at 0")
    try:
        check_backend(cfg.backend, cfg.backend_options)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    try:
        settings = detectors[cfg.landmarks.detector].parse(cfg.landmarks.options)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    except DetectorError as exc:  # an unknown name, a settings class that cannot be imported
        raise ConfigError(f"{where}: landmarks.detector: {exc}") from exc
    from emoface.utils.config import to_dict

    cfg.landmarks = replace(cfg.landmarks, options=to_dict(settings) if settings is not None else {})
    return cfg


def load_split(path: str | Path | None) -> SplitConfig:
    return load_yaml(SplitConfig, path)
