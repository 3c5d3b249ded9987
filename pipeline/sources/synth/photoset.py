"""The face photographs of a generated corpus: built-in names, files, ids, and which actor uses which.

A photo is named by a *spec*: a built-in name (:data:`BUILTIN`) or the path of an image file
(any format OpenCV reads: JPEG, PNG, ...; any frontal face photograph). The default set
alternates two public-domain photographs by actor (:data:`DEFAULT_PHOTOS`): actor ``a`` (1-24)
uses ``photos[(a - 1) % len(photos)]``.

- ``astronaut``: ``skimage.data.astronaut()``, Eileen Collins (NASA, public domain);
- ``grace_hopper``: Grace Hopper's official portrait (US Navy, public domain), shipped in
  ``pipeline/sources/synth/photos/`` with its provenance (``photos/NOTICE.md``).

:func:`resolve_photos` reads every photo of a set and checks that the Face Landmarker finds a
face in it; a photo that cannot be read or has no detectable face raises a one-line
``ValueError`` naming the file. :func:`registered_photo` registers a photo once per process
(:func:`pipeline.sources.synth.photo.register_photo`: landmarks, person/skin/clothing masks).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from pipeline.sources.synth.config import DEFAULT_PHOTOS

if TYPE_CHECKING:
    from pipeline.sources.synth.photo import PhotoFace

__all__ = [
    "BUILTIN", "DEFAULT_PHOTOS", "PhotoSource", "photos_dir", "load_photo", "resolve_photos", "photo_index",
    "actor_photos", "prepare_image", "registered_photo",
]

# built-in name -> (where it comes from, licence)
BUILTIN: dict[str, tuple[str, str]] = {
    "astronaut": ("skimage.data.astronaut() (Eileen Collins)", "NASA, public domain"),
    "grace_hopper": ("pipeline/sources/synth/photos/grace_hopper.jpg (Grace Hopper, official portrait)", "US Navy, public domain"),
}
_LARGEST_FACE_PX = 320.0  # larger photos are scaled down so the face is at most this wide


@dataclass(frozen=True)
class PhotoSource:
    """One photo of the set: ``id`` (recorded per clip: the built-in name, or the file's stem,
    with the first 8 hex digits of its hash when two files of a set share a stem), ``spec`` (as
    given), ``origin`` and ``licence`` (for the manifest), and ``sha256`` of the decoded RGB
    pixels (shape and bytes; for a file, its pixels as OpenCV decodes them)."""

    id: str
    spec: str
    origin: str
    licence: str
    sha256: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "spec": self.spec, "origin": self.origin, "licence": self.licence, "sha256": self.sha256}


def photos_dir() -> Path:
    """The folder of the shipped photographs (inside the package, so it is in the wheel)."""
    return Path(__file__).resolve().parent / "photos"


def load_photo(spec: str) -> np.ndarray:
    """The RGB uint8 image of a photo spec; ``ValueError`` (one line, naming the file) when it
    is missing or not a readable image."""
    if spec == "astronaut":
        from skimage import data

        return np.ascontiguousarray(data.astronaut()[..., :3])
    path = photos_dir() / f"{spec}.jpg" if spec in BUILTIN else Path(spec)
    if not path.is_file():
        raise ValueError(f"{path}: no such photo file" + ("" if path.parent.exists() else f" ({path.parent} does not exist)"))
    import cv2

    try:
        buf = np.fromfile(path, np.uint8)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the photo ({exc.strerror or exc})") from exc
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if img is None or img.ndim != 3 or min(img.shape[:2]) < 16:
        raise ValueError(f"{path}: not a readable image (JPEG, PNG, ... that OpenCV decodes)")
    return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))


def _pixels_sha256(image: np.ndarray) -> str:
    h = hashlib.sha256(repr(tuple(image.shape)).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


def _stem_id(spec: str) -> str:
    stem = re.sub(r"[^a-z0-9_]+", "_", Path(spec).stem.lower()).strip("_")
    return stem or "photo"


def resolve_photos(specs: tuple[str, ...] | list[str], check_face: bool = True) -> list[PhotoSource]:
    """Read every photo of a set (and, with ``check_face``, detect its face) and name it.

    Raises ``ValueError`` (one line, naming the file) for an empty set, a missing or unreadable
    file, or a photo in which the Face Landmarker finds no face.
    """
    if not specs:
        raise ValueError("the photo set is empty: give at least one --photo")
    found: list[tuple[str, np.ndarray, str]] = []
    for spec in specs:
        image = load_photo(str(spec))
        if check_face:
            _detect(image, _where(str(spec)))
        found.append((str(spec), image, _pixels_sha256(image)))
    stems: dict[str, set[str]] = {}
    for spec, _, sha in found:
        stems.setdefault(spec if spec in BUILTIN else _stem_id(spec), set()).add(sha)
    out = []
    for spec, _, sha in found:
        if spec in BUILTIN:
            origin, licence = BUILTIN[spec]
            pid = spec
        else:
            pid = _stem_id(spec)
            if len(stems[pid]) > 1 or pid in BUILTIN:
                pid = f"{pid}-{sha[:8]}"
            origin, licence = str(spec), "as given by the user (--photo)"
        out.append(PhotoSource(pid, spec, origin, licence, sha))
    return out


def _where(spec: str) -> str:
    return BUILTIN[spec][0] if spec in BUILTIN else spec


def _detect(image: np.ndarray, where: str) -> np.ndarray:
    """The 478 landmarks ``(478, 2)`` pixels of the face in ``image``; ``ValueError`` if none."""
    from pipeline.landmarker import FaceLandmarker

    with FaceLandmarker(mode="image") as lm:
        det = lm.detect(np.ascontiguousarray(image))
    if det is None:
        raise ValueError(f"{where}: the Face Landmarker finds no face in the photo (a frontal face photograph is needed)")
    return det.landmarks[:, :2].astype(np.float32)


def photo_index(actor: int, n_photos: int) -> int:
    """Which photo of a set of ``n_photos`` actor ``actor`` (1-24) uses: they alternate in order."""
    return (int(actor) - 1) % int(n_photos)


def actor_photos(actors: list[int], sources: list[PhotoSource]) -> dict[int, str]:
    """Photo id per actor number: actors alternate among ``sources`` in order."""
    return {int(a): sources[photo_index(a, len(sources))].id for a in actors}


def prepare_image(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Scale a photo down (area filter) so that its face is at most 320 px wide; smaller faces
    (both built-in photos) are left as they are. A larger face would only slow the
    registration down: the face is rendered about 220 px wide in a 1280x720 frame."""
    import cv2

    width = float(np.ptp(landmarks[:468, 0]))
    if width <= _LARGEST_FACE_PX:
        return image
    f = _LARGEST_FACE_PX / width
    h, w = image.shape[:2]
    return cv2.resize(image, (max(int(round(w * f)), 16), max(int(round(h * f)), 16)), interpolation=cv2.INTER_AREA)


@functools.lru_cache(maxsize=8)
def registered_photo(spec: str) -> "PhotoFace":
    """The registered photo of ``spec`` (once per process; a few seconds)."""
    from pipeline.sources.synth.photo import register_photo

    image = load_photo(spec)
    image = prepare_image(image, _detect(image, _where(spec)))
    return register_photo(image, _where(spec))
