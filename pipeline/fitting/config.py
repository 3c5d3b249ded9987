"""Typed settings of the landmark fitter and the temporal smoother (defaults live here).

Units: detector noise and robust scales are fractions of the clip's inter-ocular distance
(outer eye corners, MediaPipe points 33 and 263), so the same settings work at any image
size; prior standard deviations are in the model's coefficient units (FLAME-style bases
are scaled so that coefficients are about unit variance), radians and metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["CameraConfig", "FitConfig", "SmoothConfig", "GroupNoise"]


@dataclass
class CameraConfig:
    """How the fixed per-video pinhole camera is chosen (see docs/fitting.md).

    The principal point is the image centre and pixels are square. The focal length comes
    from ``fov_y_deg`` (vertical field of view; 25 degrees: a camcorder framing head and
    shoulders from about a metre). With ``estimate_focal`` the identity fit refines it per
    actor with a log-normal prior of width ``focal_log_std``: exact landmarks recover the
    true focal length, but MediaPipe landmarks of a real or rendered face carry a static
    per-face bias that the estimate turns into implausibly wide angles, so it is off by
    default (docs/fitting.md, "Camera").
    """

    fov_y_deg: float = 25.0
    estimate_focal: bool = False
    focal_log_std: float = 0.3
    min_fov_y_deg: float = 5.0
    max_fov_y_deg: float = 90.0


@dataclass
class FitConfig:
    """Settings of :func:`pipeline.fitting.fit_identity` and :func:`pipeline.fitting.fit_clip`.

    The energy (MAP, per frame t and landmark l) is
    ``sum_tl lw_l * rho(|proj(P_tl) - x_tl| / (noise_iod * IOD))``
    ``+ 1/2 |expression_t / expression_std|^2 + 1/2 |jaw_t / jaw_std|^2``
    ``+ 1/2 |(theta_t - theta_{t-1}) / step_std|^2`` (per parameter group)
    ``+ 1/2 |shape / shape_std|^2`` (identity fit only).
    """

    camera: CameraConfig = field(default_factory=CameraConfig)
    # which landmark embedding of the model to fit ("auto": mediapipe if the model has a
    # dense one, else ibug68 through the MediaPipe -> iBUG-68 map, else the 105-point one)
    embedding: str = "auto"
    # a dense embedding (the demo head's 468 MediaPipe points) is thinned to this many points
    # for speed: every lip/eye/brow/oval point is kept, the rest evenly sampled (0 = all)
    max_landmarks: int = 250
    n_shape: int = 100  # shape coefficients fitted (first n of the model's basis)
    n_expression: int = 50  # expression coefficients fitted per frame
    # detector noise, robust loss
    noise_iod: float = 0.01  # detector noise std as a fraction of the inter-ocular distance
    # Geman-McClure ignores points far off (the detector's biased points) instead of bending
    # the fit towards them; it is not convex, so the first ``robust_warmup`` LM steps use Huber
    robust: Literal["huber", "geman_mcclure", "l2"] = "geman_mcclure"
    robust_scale: float = 3.0  # in units of the noise std (Huber threshold / GM scale)
    robust_warmup: int = 2
    # per-landmark confidence by MediaPipe group (docs/fitting.md, "Energy"): points on a
    # visible edge (lip and lid contours, nose) are located by the image; brows are a wide band
    # with no point-like feature; face-oval points sit on the silhouette, which the mesh's oval
    # vertices are not once the head turns; the rest (cheeks, forehead, lid creases: "other")
    # carry no local feature at all, the detector places them from its own face model
    weight_lips: float = 1.0
    weight_eyes: float = 1.0
    weight_nose: float = 1.0
    weight_brows: float = 0.3
    weight_oval: float = 0.2
    weight_other: float = 0.1
    # priors (standard deviations)
    shape_std: float = 1.0
    # overall face size is unobservable in images (scale-depth ambiguity): pin the shape
    # coefficient along the model's scaling direction to the prior mean (the mean size)
    fix_scale: bool = True
    scale_precision: float = 1e4
    expression_std: float = 1.0
    jaw_std: tuple[float, float, float] = (0.3, 0.05, 0.05)  # rad about x (open), y, z
    # one-sided (soft) bounds: the jaw cannot close past its rest position (teeth contact),
    # and components that are muscle activations (the demo head's named FACS-like ones; not a
    # PCA basis such as FLAME's ``expr_*``) cannot go negative. Without them the fit closes
    # the lips with a negative jaw angle and a negative ``lip_press``, which puts the lower lip
    # millimetres in front of the upper one (docs/fitting.md, "Energy"). Below the bound the
    # value meets a quadratic wall of width ``bound_std`` (model units / radians).
    jaw_nonnegative: bool = True
    nonnegative_expression: Literal["auto", "on", "off"] = "auto"  # auto: on for named components
    two_sided_expressions: tuple[str, ...] = ("mouth_shift_left",)  # signed even when named
    bound_std: float = 0.05
    # temporal smoothness: std of the change between consecutive frames
    expression_step_std: float = 0.3
    jaw_step_std: float = 0.05  # rad / frame
    rotation_step_std: float = 0.05  # rad / frame
    translation_step_std: float = 0.01  # m / frame
    # solver (Levenberg-Marquardt on the whole clip, block-tridiagonal normal equations)
    max_iterations: int = 12
    identity_iterations: int = 25
    tolerance: float = 1e-4  # relative decrease of the energy at which it stops
    damping: float = 1e-3  # initial LM damping (times the diagonal of the normal matrix)
    identity_frames: int = 120  # frames sampled across an actor's clips for the shape fit
    # how many frames' worth of evidence the sampled frames add up to against the shape
    # prior. Detector errors of one face are mostly a static bias (about 2.5 % of the
    # inter-ocular distance on the generated corpus, 3x the frame-to-frame noise), so N
    # frames are far from N independent observations; a small value keeps the shape from
    # absorbing that bias (docs/fitting.md, "Identity").
    identity_effective_frames: float = 0.3
    identity_chunk: int = 40  # frames per chunk when accumulating the identity system
    seed: int = 0
    # initialisation from the detector
    max_jaw_open_rad: float = 0.35  # jaw angle for a jawOpen blendshape score of 1
    # divergence: a clip whose median reprojection error exceeds this (fraction of IOD)
    # after fitting is reported as diverged
    diverged_iod: float = 0.5
    dtype: Literal["float32", "float64"] = "float32"  # model evaluation; the solve is float64


@dataclass
class GroupNoise:
    """Constant-velocity Kalman model of one parameter group.

    ``process_std``: std of the per-frame velocity change (units / frame^2);
    ``measurement_std``: std of a fitted value around the truth (units).
    """

    process_std: float
    measurement_std: float


@dataclass
class SmoothConfig:
    """Settings of :func:`pipeline.fitting.smooth_clip` (Kalman filter + RTS smoother)."""

    enabled: bool = True
    expression: GroupNoise = field(default_factory=lambda: GroupNoise(0.08, 0.05))
    jaw: GroupNoise = field(default_factory=lambda: GroupNoise(0.012, 0.008))
    rotation: GroupNoise = field(default_factory=lambda: GroupNoise(0.004, 0.004))
    translation: GroupNoise = field(default_factory=lambda: GroupNoise(0.0005, 0.0008))
    # frames without a detection are predicted only (no measurement update); their fitted
    # values were interpolated, so they carry no information of their own
    skip_interpolated: bool = True
