"""Landmark fitting of a morphable model to video, as pure functions on arrays.

Per actor, :func:`fit_identity` estimates one shape (and the focal length) from frames
sampled across the actor's clips; per clip, :func:`fit_clip` estimates expression, jaw and
head pose of every frame (all frames in one Levenberg-Marquardt solve);
:func:`smooth_clip` removes jitter (Kalman + RTS); :func:`canonicalize` gives front-facing
meshes and the subject template. See docs/fitting.md.
"""

from .canonical import camera_vertices, canonicalize
from .clip import fit_clip
from .config import (BoundConfig, CameraConfig, FitConfig, GroupNoise, GroupWeights, IdentityConfig, InitConfig,
                     LandmarkConfig, ModelConfig, PriorConfig, RobustConfig, SmoothConfig, SolverConfig, TemporalConfig,
                     load_fit_config)
from .identity import fit_identity, sample_frames
from .init import default_camera
from .smooth import rts_smooth, smooth_clip
from .types import ClipFit, FitError, IdentityFit, LandmarkTrack, inter_ocular_px

__all__ = [
    "CameraConfig", "FitConfig", "SmoothConfig", "GroupNoise", "load_fit_config",
    "ModelConfig", "LandmarkConfig", "GroupWeights", "RobustConfig", "PriorConfig", "BoundConfig", "TemporalConfig",
    "SolverConfig", "IdentityConfig", "InitConfig",
    "LandmarkTrack", "IdentityFit", "ClipFit", "FitError",
    "default_camera", "fit_identity", "fit_clip", "smooth_clip", "canonicalize", "camera_vertices",
    "sample_frames", "rts_smooth", "inter_ocular_px",
]
