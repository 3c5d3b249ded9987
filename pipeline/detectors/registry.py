"""The detector registry: every landmark detector declared once (name, code, settings, accuracy note).

A :class:`DetectorSpec` names the detector's class (``module:Class``, called with its settings
instance, or with nothing when it declares no settings), its settings dataclass
(``module:Dataclass``: the keys ``landmarks.options`` may hold, checked when the build config
is loaded), the one line a build prints about its accuracy ("" when measured or not in
question) and whether the build constructs it once before any work (``preflight``: a missing
extra or weights that cannot be downloaded stop the build with one line). ``--detector``'s
choices, :func:`pipeline.detectors.make_detector`, the config check and the build's notes all
read :data:`DETECTORS`; adding a detector is one :class:`DetectorSpec` there plus its module.
This module imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline._spec import load_object
from pipeline.detectors.base import DetectorError

if TYPE_CHECKING:
    from pipeline.detectors.base import Detector

__all__ = ["DetectorSpec", "DetectorRegistry", "DETECTORS"]


def _resolve(spec: str, what: str) -> object:
    return load_object(spec, what, DetectorError)


@dataclass(frozen=True)
class DetectorSpec:
    """One detector; see the module docstring."""

    name: str
    #: ``module:Class`` of a :class:`~pipeline.detectors.base.Detector`; ``Class(settings)`` or ``Class()``
    factory: str
    #: ``module:Dataclass`` of its settings (``landmarks.options``), or ``None`` (it takes none)
    settings: str | None = None
    #: the line a build prints, writes to ``build.json`` and the QA report repeats ("" for none)
    note: str = ""
    #: construct it once in the main process before any work (downloads, optional extras)
    preflight: bool = True
    #: ``module:function(settings) -> str``: the version of what it runs (its package, its model file), part of
    #: the landmarks stage's code version, so that a new model file or package redoes the landmarks; ``None``: none
    version: str | None = None
    #: modules its code uses besides those of ``factory`` and ``settings`` (their sources are part of the landmarks
    #: stage's code version for this detector only)
    modules: tuple[str, ...] = ()

    @property
    def code_modules(self) -> tuple[str, ...]:
        """The modules whose sources make this detector's code: ``factory``'s, ``settings``'s, ``version``'s and
        :attr:`modules`."""
        specs = [self.factory, self.settings, self.version]
        return tuple(dict.fromkeys([s.split(":")[0] for s in specs if s] + list(self.modules)))

    def settings_class(self) -> type | None:
        if self.settings is None:
            return None
        cls = _resolve(self.settings, f"detector {self.name!r} settings")
        if not isinstance(cls, type):
            raise DetectorError(f"detector {self.name!r} settings {self.settings!r} is not a class")
        return cls

    def parse(self, options: Mapping[str, object] | None, where: str = "landmarks.options") -> object | None:
        """The typed settings for ``options`` (defaults filled); ``ConfigError`` naming the key when they do not fit."""
        from emoface.utils.config import ConfigError, from_dict

        cls = self.settings_class()
        if cls is None:
            if options:
                raise ConfigError(f"{where}: detector {self.name!r} takes no options, got {', '.join(sorted(options))}")
            return None
        if isinstance(options, cls):
            return options
        return from_dict(cls, dict(options or {}), where)

    def tool_version(self, settings: object | None = None) -> str:
        """What :attr:`version` returns for ``settings`` (the detector's name when it declares none)."""
        if self.version is None:
            return self.name
        fn = _resolve(self.version, f"detector {self.name!r} version")
        if not callable(fn):
            raise DetectorError(f"detector {self.name!r}: version {self.version!r} is not callable")
        return str(fn(settings))

    def make(self, settings: object | None = None) -> Detector:
        """A new detector with ``settings`` (an instance of :meth:`settings_class`, or ``None``: defaults)."""
        cls = _resolve(self.factory, f"detector {self.name!r}")
        if not callable(cls):
            raise DetectorError(f"detector {self.name!r}: {self.factory!r} is not callable")
        if self.settings is None:
            return cls()
        return cls(settings if settings is not None else self.parse(None))


class DetectorRegistry:
    """An immutable table of detectors by name (the first is the default)."""

    def __init__(self, specs: tuple[DetectorSpec, ...]):
        self._specs = tuple(specs)
        self._by_name = {s.name: s for s in self._specs}
        if len(self._by_name) != len(self._specs):
            raise ValueError("detector names must be unique")
        if not self._specs:
            raise ValueError("a detector registry needs at least one detector")

    def __iter__(self) -> Iterator[DetectorSpec]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> DetectorSpec:
        """The spec of ``name``; :class:`DetectorError` naming the choices for an unknown one."""
        try:
            return self._by_name[name]
        except KeyError:
            raise DetectorError(f"unknown detector {name!r} (choose one of {', '.join(self.names)})") from None

    def __hash__(self) -> int:
        return hash(self._specs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DetectorRegistry) and other._specs == self._specs

    def __reduce__(self):
        return (DetectorRegistry, (self._specs,))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self._specs)

    @property
    def default(self) -> str:
        return self._specs[0].name

    def with_detector(self, spec: DetectorSpec) -> DetectorRegistry:
        """A new registry with ``spec`` added last."""
        return DetectorRegistry((*self._specs, spec))

    def __repr__(self) -> str:
        return f"DetectorRegistry({', '.join(self.names)})"


_FAN_NOTE = ("FAN (face-alignment) detector: accuracy unmeasured in this project "
             "(no pretrained weights could be fetched where it was built)")

#: the detectors ``--detector`` / ``landmarks.detector`` may name; the first is the default
DETECTORS = DetectorRegistry((
    DetectorSpec("mediapipe", "pipeline.detectors.mediapipe:MediaPipeDetector", "pipeline.detectors.mediapipe:MediaPipeConfig",
                 preflight=False,  # the model bundle ships in the package: nothing to fetch
                 version="pipeline.detectors.mediapipe:tool_version", modules=("pipeline.landmarker",)),
    DetectorSpec("fan", "pipeline.detectors.fan:FanDetector", "pipeline.detectors.fan:FanConfig", note=_FAN_NOTE,
                 version="pipeline.detectors.fan:tool_version"),
    DetectorSpec("dlib", "pipeline.detectors.dlib68:DlibDetector", "pipeline.detectors.dlib68:DlibConfig",
                 version="pipeline.detectors.dlib68:tool_version"),
))
