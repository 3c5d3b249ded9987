"""The detector interface: one face's landmarks per frame, in a named point scheme.

A detector is a context manager with ``detect(rgb, timestamp_ms) -> Detection | None`` and a
few facts about itself (:class:`Detector`). The landmarks stage builds one per clip through
:func:`pipeline.detectors.make_detector` and stores what it returns as a
:class:`~pipeline.fitting.LandmarkTrack`; the fitter reads the scheme, the per-point
confidence and, when present, blendshapes and a head transform.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Detection", "Detector", "DetectorError", "distribution_version", "file_digest"]


class DetectorError(RuntimeError):
    """A detector that cannot be set up (missing package, weights that cannot be fetched); one line."""


@dataclass(frozen=True)
class Detection:
    """One face in one frame.

    - ``landmarks (N, 3)`` float32: x, y in pixels of the frame given, z relative depth in the
      same pixel scale (0 for a 2D detector); N and the point order are the detector's scheme;
    - ``confidence (N,)`` float32 in [0, 1], or ``None`` (the detector gives none: 1 everywhere);
    - ``blendshapes (B,)`` float32 scores named by the detector's ``blendshape_names``, or ``None``;
    - ``transform (4, 4)`` float32 head transform (canonical face -> camera), or ``None``.
    """

    landmarks: np.ndarray
    confidence: np.ndarray | None = None
    blendshapes: np.ndarray | None = None
    transform: np.ndarray | None = None


@runtime_checkable
class Detector(Protocol):
    """What the landmarks stage needs from a detector.

    ``scheme``: ``mediapipe478`` or ``ibug68`` (:mod:`pipeline.fitting.schemes`);
    ``n_points``; ``blendshape_names`` (empty when it gives no blendshapes);
    ``has_transform``; ``accuracy_note``: one line for the build log and report when its
    accuracy was not measured in this project ("" otherwise).
    """

    scheme: str
    n_points: int
    blendshape_names: tuple[str, ...]
    has_transform: bool
    has_confidence: bool
    accuracy_note: str

    def detect(self, frame: np.ndarray, timestamp_ms: int) -> Detection | None:
        """The most prominent face in an RGB uint8 ``(H, W, 3)`` frame, or ``None``."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> "Detector": ...

    def __exit__(self, *exc: object) -> None: ...


# -- what a detector's ``tool_version`` (``DetectorSpec.version``) is made of ----------------------------------
def distribution_version(name: str) -> str | None:
    """The installed version of the Python distribution ``name``, ``None`` when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def file_digest(path: str | Path) -> str:
    """The first 16 hex digits of a model file's sha256, read once per path, size and modification time;
    "missing" when there is no such file."""
    path = Path(path)
    if not path.is_file():
        return "missing"
    st = path.stat()
    return _file_digest(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    import hashlib

    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()[:16]
