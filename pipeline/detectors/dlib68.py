"""Third detector: dlib's 68-point shape predictor (Kazemi & Sullivan 2014), iBUG points.

Extra ``dlib``: ``dlib-bin`` (dlib's wheels) and ``face_recognition_models``, which ships Davis
King's ``shape_predictor_68_face_landmarks.dat`` on PyPI, so unlike FAN its weights install with
the package and its accuracy is measured in this project (docs/fitting.md, "A second
detector"). The model was trained on the iBUG 300-W faces, whose terms exclude commercial use
(dlib-models' README); check them before such a use.

Per frame: a face box from dlib's HOG frontal-face detector (the boxes the predictor was trained
on), then the 68 points the shape predictor places in it. HOG searches the whole frame (on a copy
whose longer side is at most ``detect_size``) on the first frame, every ``redetect_every`` frames
and when the face is lost; on the other frames it looks only near the previous box (a crop of
one and a half times its size, at the whole-frame search's scale or finer), which costs a few
milliseconds and notices a face that has gone. The predictor runs on the face's crop enlarged
``upsample`` times (2 by default): dlib places its points on whole pixels, so this halves their
step; they are returned in continuous pixel coordinates, like MediaPipe's. dlib gives no per-point
confidence, no blendshapes, no head transform.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emoface.utils.config import bounded
from pipeline.detectors.base import Detection, DetectorError, distribution_version, file_digest

__all__ = ["DlibConfig", "DlibDetector", "default_predictor", "predictor_path", "tool_version"]

_MODEL = "shape_predictor_68_face_landmarks.dat"
#: the face's size in pixels at which HOG looks for it again near its last box (its window is 80 px)
_NEAR_FACE_PX = 100


@dataclass
class DlibConfig:
    """``landmarks.options`` of the ``dlib`` detector (extra ``dlib``).

    - ``predictor``: the 68-point shape model file; "" for the one the ``face_recognition_models``
      package ships;
    - ``detect_size``: HOG face detection on a copy whose longer side is at most this many pixels
      (0: the frame as given); its box is scaled back;
    - ``redetect_every``: HOG searches the whole frame on the first frame and every this many
      frames (1: every frame); in between it looks near the previous frame's box;
    - ``upsample``: the predictor runs on the face's crop enlarged this many times (1: the frame as
      it is). dlib places its points on whole pixels of the image it is given, so 2 halves the step.
    """

    predictor: str = ""
    detect_size: int = bounded(640, ge=0)
    redetect_every: int = bounded(30, ge=1)
    upsample: int = bounded(2, ge=1, le=8)


def _import_dlib():
    try:
        import dlib
    except ImportError as exc:
        raise DetectorError(f"--detector dlib needs dlib ({exc}): pip install -e '.[dlib]' (see docs/pipeline.md)") from exc
    return dlib


def default_predictor() -> Path:
    """The 68-point model inside the installed ``face_recognition_models`` package (not imported: its
    ``__init__`` needs setuptools' ``pkg_resources``); :class:`DetectorError` when it is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DetectorError("--detector dlib needs its 68-point model: pip install -e '.[dlib]' (face_recognition_models), "
                            "or give landmarks.options.predictor: PATH to shape_predictor_68_face_landmarks.dat")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / _MODEL


def predictor_path(cfg: DlibConfig | None = None) -> Path:
    """The shape model file ``cfg`` names (``predictor``), or :func:`default_predictor` when it names none."""
    return Path(cfg.predictor).expanduser() if cfg is not None and cfg.predictor else default_predictor()


def tool_version(cfg: DlibConfig | None = None) -> str:
    """dlib's version and the digest of the shape model file the settings name (a new file redoes the landmarks)."""
    versions = "; ".join(f"{d} {v}" for d in ("dlib-bin", "dlib") if (v := distribution_version(d))) or "dlib absent"
    try:
        path = predictor_path(cfg)
    except DetectorError:
        return f"{versions}; model missing"
    return f"{versions}; model {file_digest(path)}"


class DlibDetector:
    scheme = "ibug68"
    n_points = 68
    blendshape_names: tuple[str, ...] = ()
    has_transform = False
    has_confidence = False
    accuracy_note = ""

    def __init__(self, cfg: DlibConfig | None = None):
        self.cfg = cfg = cfg or DlibConfig()
        dlib = _import_dlib()
        path = predictor_path(cfg)
        if not path.is_file():
            raise DetectorError(f"{path}: no such dlib shape model (landmarks.options.predictor)")
        try:
            self._predictor = dlib.shape_predictor(str(path))
        except RuntimeError as exc:
            raise DetectorError(f"{path}: not a dlib shape model ({str(exc).splitlines()[0] if str(exc) else 'unreadable'})") from exc
        self._detector = dlib.get_frontal_face_detector()
        self._rect = dlib.rectangle
        self._box: np.ndarray | None = None  # the previous frame's face box
        self._since = 0  # frames since the last search of the whole frame

    # -- face box -------------------------------------------------------------------------------
    def _hog(self, gray: np.ndarray, scale: float, offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray | None:
        """The largest HOG face of ``gray`` resized by ``scale`` (at most 1), as ``[x0, y0, x1, y1]`` in the
        pixels of the frame ``gray`` was cut from at ``offset``; ``None`` when there is none."""
        import cv2

        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        boxes = self._detector(small, 0)
        if len(boxes) == 0:
            return None
        b = max(boxes, key=lambda r: r.width() * r.height())
        ox, oy = offset
        return np.array([b.left(), b.top(), b.right(), b.bottom()], np.float64) / min(scale, 1.0) + [ox, oy, ox, oy]

    def _search_scale(self, gray: np.ndarray) -> float:
        side = max(gray.shape)
        return self.cfg.detect_size / side if 0 < self.cfg.detect_size < side else 1.0

    def _search(self, gray: np.ndarray) -> np.ndarray | None:
        """The whole frame, on a copy whose longer side is at most ``detect_size``."""
        return self._hog(gray, self._search_scale(gray))

    def _near(self, gray: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """Around ``box`` (the previous frame's): HOG on a crop of 1.5 times its size, the face at about
        :data:`_NEAR_FACE_PX` pixels or at the whole-frame search's scale, whichever is finer (the same
        box steps as a fresh search). ``None`` when the face is not there any more."""
        x0, y0, x1, y1 = box
        size = max(x1 - x0, y1 - y0)
        h, w = gray.shape
        cx0, cy0 = int(max(0, x0 - size / 4)), int(max(0, y0 - size / 4))
        cx1, cy1 = int(min(w, x1 + size / 4)), int(min(h, y1 + size / 4))
        if cx1 - cx0 < 2 or cy1 - cy0 < 2:
            return None
        scale = min(1.0, max(_NEAR_FACE_PX / size, self._search_scale(gray)))
        return self._hog(np.ascontiguousarray(gray[cy0:cy1, cx0:cx1]), scale, (cx0, cy0))

    def _predict(self, gray: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The 68 points in ``box``, in continuous pixel coordinates (pixel i spans [i, i+1), MediaPipe's
        convention, which the landmarks stage's rescaling and the fit's camera assume): dlib's whole pixel
        centres of the face's crop enlarged ``upsample`` times, mapped back."""
        import cv2

        k = self.cfg.upsample
        x0, y0, x1, y1 = box
        if k == 1:
            shape = self._predictor(gray, self._rect(*(int(round(v)) for v in box)))
            return np.array([(p.x, p.y) for p in shape.parts()], np.float64) + 0.5
        size = max(x1 - x0, y1 - y0)
        h, w = gray.shape
        cx0, cy0 = int(max(0, np.floor(x0 - size / 4))), int(max(0, np.floor(y0 - size / 4)))
        cx1, cy1 = int(min(w, np.ceil(x1 + size / 4) + 1)), int(min(h, np.ceil(y1 + size / 4) + 1))
        crop = cv2.resize(gray[cy0:cy1, cx0:cx1], ((cx1 - cx0) * k, (cy1 - cy0) * k), interpolation=cv2.INTER_LINEAR)
        rect = self._rect(*(int(round((v - o) * k)) for v, o in zip(box, (cx0, cy0, cx0, cy0))))
        pts = np.array([(p.x, p.y) for p in self._predictor(crop, rect).parts()], np.float64)
        return (pts + 0.5) / k + [cx0, cy0]

    # -- landmarks ------------------------------------------------------------------------------
    def detect(self, frame: np.ndarray, timestamp_ms: int = 0) -> Detection | None:
        import cv2

        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an RGB uint8 (H, W, 3) frame, got {frame.dtype} {frame.shape}")
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        box = None
        if self._box is not None and self._since < self.cfg.redetect_every:
            box = self._near(gray, self._box)
            self._since += 1
        if box is None:
            box = self._search(gray)
            self._since = 1
        self._box = box
        if box is None:
            return None
        points = self._predict(gray, box)
        return Detection(np.concatenate([points, np.zeros((68, 1))], 1).astype(np.float32))

    def close(self) -> None:
        self._predictor = self._detector = None

    def __enter__(self) -> "DlibDetector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
