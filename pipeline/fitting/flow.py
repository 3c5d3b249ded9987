"""Optical flow of the face between consecutive frames: the observation and the clip fit's term.

Observation (:class:`FlowCollector`, a frame sink like the landmarks stage's): OpenCV's DIS optical
flow (``cv2.DISOpticalFlow``) between the grey frames t-1 and t on the face crop (the bounding box of
the landmarks of both frames plus a margin, downscaled to at most ``FlowConfig.max_size`` px),
sampled bilinearly at every landmark of frame t-1. A point whose forward flow and the backward flow
at its arrival disagree by more than ``fb_check_iod`` inter-ocular distances gets none (NaN; the
check is skipped when it is 0):
occlusions (lips closing over the teeth), the face's border and textureless skin.

Term (:func:`flow_term`): for the pairs of consecutive frames with a detection,
``weight * sum_l rho(|uv_t,l - uv_{t-1},l - f_t,l| / (noise_iod * IOD))``, the robust loss of the
landmark term; its Gauss-Newton blocks couple frames t-1 and t, which is why
:class:`~pipeline.fitting.solver.BlockTridiagonalSystem` takes full off-diagonal blocks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import FlowConfig
from .schemes import track_columns
from .solver import cross_blocks, robust
from .types import FitError, LandmarkTrack, inter_ocular_px

__all__ = ["FlowCollector", "track_flow", "FlowTargets", "make_flow_targets", "flow_term", "FlowBlocks"]

_PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}  # cv2.DISOPTICAL_FLOW_PRESET_*


class FlowCollector:
    """A frame sink: ``feed(index, rgb)`` for frames 0, 1, ... in order, then :attr:`flow` ``(T, N, 2)``.

    ``landmarks (T, N, 2|3)`` px and ``valid (T,)`` of the clip (those of frame t-1 and t must be
    known when frame t arrives, as in the landmarks stage). ``cpu_s``: the process CPU seconds spent
    in the flow (grey conversion, DIS, sampling), decoding excluded.
    """

    def __init__(self, landmarks: np.ndarray, valid: np.ndarray, cfg: FlowConfig, scheme: str | None = None):
        import cv2

        self._cv2 = cv2
        self.landmarks = np.asarray(landmarks, np.float32)[..., :2]
        self.valid = np.asarray(valid, bool)
        self.cfg = cfg
        self.flow = np.full(self.landmarks.shape[:2] + (2,), np.nan, np.float32)
        good = self.landmarks[self.valid]
        iod = inter_ocular_px(good, scheme) if scheme else inter_ocular_px(good)
        self._iod = float(np.median(iod)) if len(iod) else 0.0
        self._dis = cv2.DISOpticalFlow_create(_PRESETS[cfg.preset])
        self._prev: np.ndarray | None = None
        self._next = 0
        self.cpu_s = 0.0

    def feed(self, index: int, frame: np.ndarray) -> None:
        if index != self._next:
            raise RuntimeError(f"frames arrived out of order ({index}, expected {self._next})")
        self._next += 1
        if index >= len(self.valid):
            return
        c0 = time.process_time()
        grey = self._cv2.cvtColor(np.ascontiguousarray(frame), self._cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
        if index > 0 and self._prev is not None and self.valid[index - 1] and self.valid[index]:
            self.flow[index] = self._pair(self._prev, grey, self.landmarks[index - 1], self.landmarks[index])
        self._prev = grey
        self.cpu_s += time.process_time() - c0

    def _pair(self, a: np.ndarray, b: np.ndarray, pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
        cv2, cfg = self._cv2, self.cfg
        h, w = a.shape
        both = np.concatenate([pa, pb])
        both = both[np.isfinite(both).all(1)]
        lo, hi = both.min(0), both.max(0)
        pad = cfg.margin * (hi - lo).max()
        x0, y0 = (int(max(0, np.floor(v - pad))) for v in lo)
        x1, y1 = int(min(w, np.ceil(hi[0] + pad))), int(min(h, np.ceil(hi[1] + pad)))
        if x1 - x0 < 16 or y1 - y0 < 16:
            return np.full(pa.shape, np.nan, np.float32)
        ca, cb = np.ascontiguousarray(a[y0:y1, x0:x1]), np.ascontiguousarray(b[y0:y1, x0:x1])
        scale = 1.0
        if cfg.max_size and max(ca.shape) > cfg.max_size:
            scale = cfg.max_size / max(ca.shape)
            size = (max(16, round(ca.shape[1] * scale)), max(16, round(ca.shape[0] * scale)))
            ca = cv2.resize(ca, size, interpolation=cv2.INTER_AREA)
            cb = cv2.resize(cb, size, interpolation=cv2.INTER_AREA)
        q = ((pa - (x0, y0)) * scale).astype(np.float32)  # points in the (scaled) crop
        f = _sample(cv2, self._dis.calc(ca, cb, None), q)
        bad = ~np.isfinite(f).all(1)
        if cfg.fb_check_iod > 0:
            back = _sample(cv2, self._dis.calc(cb, ca, None), q + f)
            bad |= np.linalg.norm(f + back, axis=1) > cfg.fb_check_iod * self._iod * scale
        out = f / scale
        out[bad] = np.nan
        return out


def _sample(cv2, field: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``field (h, w, 2)`` at ``pts (N, 2)``; NaN outside."""
    h, w = field.shape[:2]
    mx = np.ascontiguousarray(pts[None, :, 0], np.float32)
    my = np.ascontiguousarray(pts[None, :, 1], np.float32)
    out = cv2.remap(field, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan)[0]
    inside = (pts[:, 0] >= 0) & (pts[:, 0] <= w - 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= h - 1)
    out[~inside] = np.nan
    return out


def track_flow(video: str | Path, track: LandmarkTrack, cfg: FlowConfig,
               fps: float | None = None) -> tuple[np.ndarray, float]:
    """The flow of ``track``'s landmarks in ``video`` (decoded as the build decodes it) and the CPU
    seconds of the flow alone. Raises :class:`FitError` when the frame count does not match."""
    from pipeline.stages.config import DecodeConfig
    from pipeline.stages.decode import decode_clip

    dcfg = DecodeConfig() if fps is None else DecodeConfig(fps=fps)
    col = FlowCollector(track.landmarks, track.valid, cfg, track.scheme)
    decode_clip(video, dcfg, sink=col.feed)
    if col._next != track.n_frames:
        raise FitError(f"{video}: {col._next} frames decoded, the track has {track.n_frames}")
    return col.flow, col.cpu_s


@dataclass
class FlowTargets:
    """The flow of the model's landmarks: ``f (T, L, 2)`` px (row t: from t-1 to t; zeros where
    none), ``weight (T, L)`` (0 where none: row 0, a frame of the pair without a detection, NaN
    flow), ``sigma`` px."""

    f: torch.Tensor
    weight: torch.Tensor
    sigma: float


def make_flow_targets(track: LandmarkTrack, mp_index: np.ndarray, source_index: np.ndarray, embedding: str,
                      cfg: FlowConfig, iod: float, dtype=torch.float64, device="cpu") -> FlowTargets | None:
    """The flow targets of ``track`` for a landmark model, or ``None`` when the term is off."""
    if cfg.weight <= 0:
        return None
    if track.flow is None:
        raise FitError(f"{track.clip_id or 'clip'}: fit.flow.weight is {cfg.weight} but the track has no flow "
                       "(no build stage computes it; bench.corpus_cache.with_flow adds it to a track)")
    cols, present = track_columns(track.scheme, embedding, source_index, mp_index)
    f = track.flow[:, cols].astype(np.float64)
    ok = np.isfinite(f).all(-1) & present[None]
    ok[0] = False
    pair = track.valid.copy()
    pair[1:] &= track.valid[:-1]
    ok &= pair[:, None]
    t = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    return FlowTargets(t(np.where(ok[..., None], f, 0.0)), t(cfg.weight * ok), float(cfg.noise_iod * iod))


@dataclass
class FlowBlocks:
    """The flow term at a point: its energy, gradient ``g (T, K)``, the diagonal blocks ``D (T, K, K)``
    and the sub-diagonal blocks ``lower (T-1, K, K)`` (``d^2 E / d x_t d x_{t-1}``)."""

    energy: torch.Tensor
    g: torch.Tensor
    D: torch.Tensor
    lower: torch.Tensor


def flow_term(uv: torch.Tensor, jac: torch.Tensor, ft: FlowTargets, loss: str, scale: float) -> FlowBlocks:
    """The flow term of projected landmarks ``uv (T, L, 2)`` with Jacobians ``jac (T, 2, K, L)``
    (:class:`~pipeline.fitting.landmark_model.Evaluation`); robust ``loss`` with ``scale``."""
    T, _, K, _ = jac.shape
    res = (uv[1:] - uv[:-1]).to(torch.float64) - ft.f[1:]  # (T-1, L, 2)
    rho, w_irls = robust(torch.linalg.norm(res, dim=-1) / ft.sigma, loss, scale)
    wb = ft.weight[1:]
    energy = (wb * rho).sum()
    w = (wb * w_irls / ft.sigma**2).to(jac.dtype)
    r = res.transpose(1, 2).to(jac.dtype)  # (T-1, 2, L)
    jt, jp = jac[1:], jac[:-1]
    htt, gt = cross_blocks(jt, jt, r, w)
    hpp, gp = cross_blocks(jp, jp, r, w)
    htp, _ = cross_blocks(jt, jp, None, w)
    D = torch.zeros(T, K, K, dtype=torch.float64, device=jac.device)
    g = torch.zeros(T, K, dtype=torch.float64, device=jac.device)
    D[1:] += htt.double()
    D[:-1] += hpp.double()
    g[1:] += gt.double()
    g[:-1] -= gp.double()
    return FlowBlocks(energy, g, D, -htp.double())
