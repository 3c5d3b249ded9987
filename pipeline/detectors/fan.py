"""Second detector: face-alignment's FAN (Bulat & Tzimiropoulos 2017), 68 iBUG points.

Extra ``fan``. face-alignment requires ``opencv-python``, a second OpenCV wheel that would
overwrite the ``cv2`` of the ``opencv-contrib-python`` that mediapipe brings; so the extra
lists face-alignment's other requirements and face-alignment itself is installed with
``pip install --no-deps "face-alignment>=1.4"`` (the Makefile does both; docs/pipeline.md).

Per frame: a face box (S3FD, or OpenCV's Haar cascade, :class:`FanConfig`), the 256 x 256
crop face-alignment's own ``FaceAlignment.get_landmarks_from_image`` makes of it, the FAN
heatmaps (optionally averaged with the mirrored crop's) and their maxima as points; the
maxima's heights are the per-point confidence. ``3d`` adds face-alignment's depth network.
The crop, heatmap decoding and flip come from ``face_alignment.utils``; only the glue is here,
so that the networks can be given random weights (``weights: random``, tests only) where
face-alignment's own class would download them.

Its accuracy has NOT been measured in this project: no pretrained weights can be fetched
where it was built, so only the plumbing is tested, on random weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from pipeline.detectors.base import Detection, DetectorError, distribution_version

__all__ = ["FanConfig", "FanDetector", "tool_version"]


@dataclass
class FanConfig:
    """face-alignment's FAN (extra ``fan``): 68 iBUG points per frame.

    - ``landmarks``: ``2d`` (2DFAN-4) or ``3d`` (3DFAN-4 plus its depth network);
    - ``face_box``: where the face crop comes from: ``sfd`` (face-alignment's default S3FD
      detector, downloads its weights) or ``haar`` (OpenCV's frontal-face Haar cascade, which
      ships inside OpenCV: no download);
    - ``weights``: ``pretrained`` (face-alignment downloads them to torch's hub cache on first
      use) or ``random`` -- FOR TESTS ONLY: the same networks with randomly initialised
      weights (seed ``seed``), which checks the plumbing (shapes, index mapping, confidence)
      where nothing can be downloaded; its landmarks are meaningless;
    - ``flip_input``: also run the mirrored crop and average (face-alignment's default);
    - ``min_box_score``: S3FD boxes below this score are dropped; ``device``: torch device.
    """

    landmarks: Literal["2d", "3d"] = "2d"
    face_box: Literal["sfd", "haar"] = "sfd"
    weights: Literal["pretrained", "random"] = "pretrained"
    flip_input: bool = True
    min_box_score: float = 0.5
    device: str = "cpu"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.weights == "random" and self.face_box == "sfd":
            raise ValueError("weights 'random' needs face_box 'haar' (a randomly initialised S3FD "
                             "scores every anchor as a face)")


def tool_version(cfg: FanConfig | None = None) -> str:
    """face-alignment's version (its weights are the release's; the settings are in the config hash)."""
    return f"face-alignment {distribution_version('face-alignment') or 'absent'}"


def _import_face_alignment():
    try:
        import face_alignment  # noqa: F401
        from face_alignment import api, utils
    except ImportError as exc:
        raise DetectorError(
            f"--detector fan needs face-alignment ({exc}): pip install -e '.[fan]' && "
            "pip install --no-deps 'face-alignment>=1.4' (see docs/pipeline.md)") from exc
    return api, utils


def _download(what: str, url: str, fetch):
    try:
        return fetch(url)
    except Exception as exc:  # noqa: BLE001 - urllib, socket, HTTP and file errors all mean "no weights"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DetectorError(
            f"face-alignment could not download its {what} weights from {url} ({reason}); on a machine without "
            "internet, copy the file into torch's hub cache (TORCH_HOME, default ~/.cache/torch/hub/checkpoints/)"
        ) from exc


class FanDetector:
    scheme = "ibug68"
    n_points = 68
    blendshape_names: tuple[str, ...] = ()
    has_transform = False
    has_confidence = True

    def __init__(self, cfg: FanConfig | None = None):
        import torch

        self.cfg = cfg = cfg or FanConfig()
        api, self._u = _import_face_alignment()
        from face_alignment.models import FAN, ResNetDepth

        from pipeline.detectors.registry import DETECTORS

        self.accuracy_note = DETECTORS["fan"].note
        if cfg.weights == "random":
            self.accuracy_note = ("FAN detector with RANDOM weights (tests only): the landmarks and every fit are "
                                  "meaningless; accuracy unmeasured")
        self.device = torch.device(cfg.device)
        name = "3DFAN-4" if cfg.landmarks == "3d" else "2DFAN-4"
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.net = FAN(4)
            self.depth = ResNetDepth() if cfg.landmarks == "3d" else None
            self._box_net = None
            if cfg.face_box == "sfd":
                from face_alignment.detection.sfd.net_s3fd import s3fd

                self._box_net = s3fd()
        if cfg.weights == "pretrained":
            from torch.hub import load_state_dict_from_url

            path = _download(name, api.models_urls[name], self._u.load_file_from_url)
            self.net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            if self.depth is not None:
                path = _download("depth", api.models_urls["depth"], self._u.load_file_from_url)
                state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
                self.depth.load_state_dict({k.replace("module.", ""): v for k, v in state.items()})
            if self._box_net is not None:
                from face_alignment.detection.sfd.sfd_detector import models_urls as sfd_urls

                self._box_net.load_state_dict(_download("S3FD", sfd_urls["s3fd"], load_state_dict_from_url))
        for net in (self.net, self.depth, self._box_net):
            if net is not None:
                net.to(self.device).eval()
        self._haar = None
        if cfg.face_box == "haar":
            import cv2

            path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
            self._haar = cv2.CascadeClassifier(path)
            if self._haar.empty():
                raise DetectorError(f"{path}: OpenCV's Haar cascade could not be loaded")

    # -- face box -------------------------------------------------------------------------------
    def _box(self, frame: np.ndarray) -> np.ndarray | None:
        """``[x0, y0, x1, y1]`` of the largest face, or ``None``."""
        if self._haar is not None:
            import cv2

            gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
            side = min(gray.shape)
            boxes = self._haar.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(side // 10, side // 10))
            if len(boxes) == 0:
                return None
            x, y, w, h = max(boxes, key=lambda b: int(b[2]) * int(b[3]))
            return np.array([x, y, x + w, y + h], np.float64)
        from face_alignment.detection.sfd.bbox import nms
        from face_alignment.detection.sfd.detect import detect

        boxes = detect(self._box_net, frame, device=str(self.device))[0]
        if len(boxes) == 0:
            return None
        boxes = boxes[nms(boxes, 0.3)]
        boxes = boxes[boxes[:, 4] > self.cfg.min_box_score]
        if len(boxes) == 0:
            return None
        return max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))[:4].astype(np.float64)

    # -- landmarks ------------------------------------------------------------------------------
    def detect(self, frame: np.ndarray, timestamp_ms: int = 0) -> Detection | None:
        import torch

        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an RGB uint8 (H, W, 3) frame, got {frame.dtype} {frame.shape}")
        box = self._box(frame)
        if box is None:
            return None
        u = self._u
        x0, y0, x1, y1 = box
        center = np.array([x1 - (x1 - x0) / 2.0, y1 - (y1 - y0) / 2.0])
        center[1] -= (y1 - y0) * u.CENTER_Y_OFFSET
        scale = (x1 - x0 + y1 - y0) / u.REFERENCE_SCALE
        crop = u.crop(frame, center, scale).transpose((2, 0, 1)).astype(np.float32) / 255.0
        inp = torch.from_numpy(crop)[None].to(self.device)
        with torch.no_grad():
            out = self.net(inp)[-1]
            if self.cfg.flip_input:
                out = (out + u.flip(self.net(u.flip(inp))[-1], is_label=True)) / 2.0
            hm = out.cpu().numpy().astype(np.float32)
            pts, pts_img, scores = u.get_preds_fromhm(hm, center, scale)
            pts_img = np.asarray(pts_img, np.float64).reshape(self.n_points, 2)
            z = np.zeros(self.n_points)
            if self.depth is not None:
                heat = np.zeros((self.n_points, u.CROP_RESOLUTION, u.CROP_RESOLUTION), np.float32)
                p = torch.from_numpy(np.asarray(pts, np.float32).reshape(self.n_points, 2) * 4)
                for j in range(self.n_points):
                    if p[j, 0] > 0 and p[j, 1] > 0:
                        heat[j] = u.draw_gaussian(heat[j], p[j], 2)
                dep = self.depth(torch.cat([inp, torch.from_numpy(heat)[None].to(self.device)], 1))
                z = dep.cpu().numpy().reshape(-1) / (u.CROP_RESOLUTION / (u.SCALE_FACTOR * scale))
        lmk = np.concatenate([pts_img, z[:, None]], 1).astype(np.float32)
        conf = np.clip(np.nan_to_num(np.asarray(scores, np.float32).reshape(-1)), 0.0, 1.0)
        return Detection(lmk, conf, None, None)

    def close(self) -> None:
        self.net = self.depth = self._box_net = None

    def __enter__(self) -> "FanDetector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
