"""Landmark fitting of a morphable model to video, as pure functions on arrays.

Per actor, :func:`fit_identity` estimates one shape (and the focal length) from frames
sampled across the actor's clips; per clip, :func:`fit_clip` estimates expression, jaw and
head pose of every frame (all frames in one Levenberg-Marquardt solve);
:func:`smooth_clip` removes jitter (Kalman + RTS); :func:`canonicalize` gives front-facing
meshes and the subject template. See docs/fitting.md.

The settings (:mod:`.config`) import at once; everything else (torch) on first use, so a
build's main process reads and checks its config without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline._lazy import lazy_exports

from .config import (BlendshapeConfig, BoundConfig, CameraConfig, FitConfig, FlowConfig, GroupNoise, GroupWeights,
                     IdentityConfig, InitConfig, LandmarkConfig, ModelConfig, PriorConfig, RobustConfig, SmoothConfig,
                     SolverConfig, TemporalConfig, load_fit_config)

if TYPE_CHECKING:
    from .canonical import camera_vertices, canonicalize
    from .clip import fit_clip
    from .identity import fit_identity, sample_frames
    from .init import default_camera
    from .smooth import rts_smooth, smooth_clip
    from .types import ClipFit, FitError, IdentityFit, LandmarkTrack, inter_ocular_px

_LAZY = {
    "camera_vertices": "canonical", "canonicalize": "canonical", "fit_clip": "clip", "fit_identity": "identity",
    "sample_frames": "identity", "default_camera": "init", "rts_smooth": "smooth", "smooth_clip": "smooth",
    "ClipFit": "types", "FitError": "types", "IdentityFit": "types", "LandmarkTrack": "types", "inter_ocular_px": "types",
}

__all__ = [
    "CameraConfig", "FitConfig", "SmoothConfig", "GroupNoise", "load_fit_config",
    "ModelConfig", "LandmarkConfig", "GroupWeights", "RobustConfig", "PriorConfig", "BoundConfig", "TemporalConfig",
    "FlowConfig", "BlendshapeConfig", "SolverConfig", "IdentityConfig", "InitConfig",
    "LandmarkTrack", "IdentityFit", "ClipFit", "FitError",
    "default_camera", "fit_identity", "fit_clip", "smooth_clip", "canonicalize", "camera_vertices",
    "sample_frames", "rts_smooth", "inter_ocular_px",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
