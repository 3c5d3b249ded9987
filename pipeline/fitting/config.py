"""Typed settings of the landmark fitter and the temporal smoother (defaults live here).

Units: detector noise and robust scales are fractions of the clip's inter-ocular distance
(outer eye corners, MediaPipe points 33 and 263), so the same settings work at any image
size; prior standard deviations are in the model's coefficient units (FLAME-style bases
are scaled so that coefficients are about unit variance), radians and metres.

:class:`FitConfig` is a tree of small groups (``camera``, ``model``, ``landmarks``,
``robust``, ``prior``, ``bounds``, ``temporal``, ``flow``, ``blendshapes``, ``solver``, ``identity``, ``init``); a YAML
``fit:`` section overrides any leaf, e.g. ``fit: {robust: {loss: huber}, identity: {frames: 60}}``.
Every group checks its values when it is built (:func:`load_fit_config` turns a mapping into
a validated config; unknown keys are errors, and a key of the old flat layout names its new place).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from emoface.utils.config import ConfigError, from_dict

from .blendshapes import OBSERVED_COMPONENTS, unselected_components

__all__ = ["CameraConfig", "ModelConfig", "GroupWeights", "LandmarkConfig", "RobustConfig", "PriorConfig",
           "BoundConfig", "TemporalConfig", "FlowConfig", "BlendshapeConfig", "SolverConfig", "IdentityConfig",
           "InitConfig", "FitConfig", "SmoothConfig", "GroupNoise", "load_fit_config", "MOVED_KEYS"]


def _positive(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        for v in (value if isinstance(value, tuple) else (value,)):
            if not v > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")


def _at_least(obj: Any, low: float, *names: str) -> None:
    for name in names:
        if not getattr(obj, name) >= low:
            raise ValueError(f"{name} must be >= {low}, got {getattr(obj, name)!r}")


def _one_of(obj: Any, name: str, allowed: tuple[str, ...]) -> None:
    if getattr(obj, name) not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {getattr(obj, name)!r}")


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

    def __post_init__(self) -> None:
        _positive(self, "fov_y_deg", "focal_log_std", "min_fov_y_deg", "max_fov_y_deg")
        if not self.min_fov_y_deg <= self.fov_y_deg <= self.max_fov_y_deg < 180.0:
            raise ValueError(f"need min_fov_y_deg <= fov_y_deg <= max_fov_y_deg < 180, got {self.min_fov_y_deg}, "
                             f"{self.fov_y_deg}, {self.max_fov_y_deg}")


@dataclass
class ModelConfig:
    """Which part of the morphable model is fitted, and how it is evaluated."""

    # which landmark embedding of the model to fit ("auto": mediapipe if the model has a
    # dense one, else ibug68 through the MediaPipe -> iBUG-68 map, else the 105-point one)
    embedding: str = "auto"
    # a dense embedding (the demo head's 468 MediaPipe points) is thinned to this many points
    # for speed: every lip/eye/brow/oval point is kept, the rest evenly sampled (0 = all)
    max_landmarks: int = 250
    n_shape: int = 100  # shape coefficients fitted (first n of the model's basis)
    n_expression: int = 50  # expression coefficients fitted per frame
    dtype: Literal["float32", "float64"] = "float32"  # model evaluation; the solve is float64

    def __post_init__(self) -> None:
        _at_least(self, 0, "max_landmarks")
        _at_least(self, 1, "n_shape", "n_expression")
        _one_of(self, "dtype", ("float32", "float64"))


@dataclass
class GroupWeights:
    """Per-landmark confidence by MediaPipe group (docs/fitting.md, "Energy").

    Points on a visible edge (lip and lid contours, nose) are located by the image; brows are
    a wide band with no point-like feature; face-oval points sit on the silhouette, which the
    mesh's oval vertices are not once the head turns; the rest (cheeks, forehead, lid creases:
    ``other``) carry no local feature at all, the detector places them from its own face model.
    """

    lips: float = 1.0
    eyes: float = 1.0
    nose: float = 1.0
    brows: float = 0.3
    oval: float = 0.2
    # 0.3, not 0.1: measured on the generated corpus with expression_std 0.5 (bench/bench_levers.py,
    # docs/fitting.md "Levers measured"): lips 2.54 -> 2.51 mm, face 1.27 -> 1.26 mm
    other: float = 0.3

    def __post_init__(self) -> None:
        _at_least(self, 0.0, "lips", "eyes", "nose", "brows", "oval", "other")


@dataclass
class LandmarkConfig:
    """The data term: detector noise and the per-group confidence."""

    noise_iod: float = 0.01  # detector noise std as a fraction of the inter-ocular distance
    weights: GroupWeights = field(default_factory=GroupWeights)

    def __post_init__(self) -> None:
        _positive(self, "noise_iod")


@dataclass
class RobustConfig:
    """Robust loss of the reprojection residuals.

    Geman-McClure ignores points far off (the detector's biased points) instead of bending the
    fit towards them; it is not convex, so the first ``warmup`` Levenberg-Marquardt steps use
    Huber (:mod:`pipeline.fitting.solver`).
    """

    loss: Literal["huber", "geman_mcclure", "l2"] = "geman_mcclure"
    scale: float = 3.0  # in units of the noise std (Huber threshold / GM scale)
    warmup: int = 2

    def __post_init__(self) -> None:
        _one_of(self, "loss", ("huber", "geman_mcclure", "l2"))
        _positive(self, "scale")
        _at_least(self, 0, "warmup")


@dataclass
class PriorConfig:
    """Gaussian priors (standard deviations, model units / radians)."""

    shape_std: float = 1.0
    # overall face size is unobservable in images (scale-depth ambiguity): pin the shape
    # coefficient along the model's scaling direction to the prior mean (the mean size)
    fix_scale: bool = True
    scale_precision: float = 1e4
    # 0.5, not 1.0: the detector's per-face bias is absorbed less as expression (bench/bench_levers.py,
    # docs/fitting.md "Levers measured": eye region 0.58 -> 0.53 mm, dynamic lips 1.56 -> 1.47 mm,
    # recognisability 0.68 -> 0.72; with other 0.3 the oracle lips 1.27 -> 0.99 mm, eye region 0.24 -> 0.14 mm)
    expression_std: float = 0.5
    jaw_std: tuple[float, float, float] = (0.3, 0.05, 0.05)  # rad about x (open), y, z

    def __post_init__(self) -> None:
        _positive(self, "shape_std", "scale_precision", "expression_std", "jaw_std")


@dataclass
class BoundConfig:
    """One-sided (soft) bounds.

    The jaw cannot close past its rest position (teeth contact), and components that are muscle
    activations (the demo head's named FACS-like ones; not a PCA basis such as FLAME's
    ``expr_*``) cannot go negative. Without them the fit closes the lips with a negative jaw
    angle and a negative ``lip_press``, which puts the lower lip millimetres in front of the
    upper one (docs/fitting.md, "Energy"). Below the bound the value meets a quadratic wall of
    width ``std`` (model units / radians).
    """

    jaw_nonnegative: bool = True
    nonnegative_expression: Literal["auto", "on", "off"] = "auto"  # auto: on for named components
    two_sided_expressions: tuple[str, ...] = ("mouth_shift_left",)  # signed even when named
    std: float = 0.05

    def __post_init__(self) -> None:
        _one_of(self, "nonnegative_expression", ("auto", "on", "off"))
        _positive(self, "std")


@dataclass
class TemporalConfig:
    """Temporal smoothness of the clip fit: std of the change between consecutive frames."""

    expression_step_std: float = 0.3
    jaw_step_std: float = 0.05  # rad / frame
    rotation_step_std: float = 0.05  # rad / frame
    translation_step_std: float = 0.01  # m / frame

    def __post_init__(self) -> None:
        _positive(self, "expression_step_std", "jaw_step_std", "rotation_step_std", "translation_step_std")


@dataclass
class FlowConfig:
    """The optical-flow term of the clip fit (off by default; docs/fitting.md, "Optical flow").

    With ``weight > 0`` the track must carry ``flow``: OpenCV's DIS optical flow between
    consecutive grey frames on the face crop (the landmarks' bounding box plus ``margin`` of its
    size on every side, downscaled so that its longer side is at most ``max_size`` px; 0: full
    resolution), sampled at each landmark of the earlier frame (:mod:`pipeline.fitting.flow`).
    Points whose forward and backward flow disagree by more than ``fb_check_iod`` inter-ocular
    distances carry none (0: no backward flow, half the cost). The term penalises, with the
    robust loss of ``robust``, the difference between the model's projected motion of each landmark from frame t-1 to t and the flow, with
    noise std ``noise_iod`` x IOD and weight ``weight`` (relative to a landmark of weight 1).
    """

    weight: float = 0.0  # 0: off (no flow computed, outputs as without this group)
    # where the term is taken: the landmarks of the landmark term (``model.max_landmarks`` of them) or
    # every point of the embedding, the ones between those landmarks included (cheeks, forehead)
    points: Literal["landmarks", "all"] = "landmarks"
    noise_iod: float = 0.01  # flow noise std, fraction of the inter-ocular distance
    preset: Literal["ultrafast", "fast", "medium"] = "fast"  # cv2.DISOPTICAL_FLOW_PRESET_*
    margin: float = 0.15
    max_size: int = 256
    fb_check_iod: float = 0.03

    def __post_init__(self) -> None:
        _at_least(self, 0.0, "weight", "margin", "fb_check_iod")
        _at_least(self, 0, "max_size")
        _positive(self, "noise_iod")
        _one_of(self, "preset", ("ultrafast", "fast", "medium"))
        _one_of(self, "points", ("landmarks", "all"))
        if self.max_size and self.max_size < 32:
            raise ValueError(f"max_size must be 0 or >= 32, got {self.max_size!r}")


@dataclass
class BlendshapeConfig:
    """The detector's blendshape scores as soft observations of the expression (off by default;
    docs/fitting.md, "Levers measured").

    Each named expression component of the model that means the same as one of the detector's
    52 ARKit-named scores (:data:`pipeline.fitting.blendshapes.OBSERVED`; left/right pairs through
    their mean, whichever side a score's "Left" means) is observed in every detected frame
    as ``scale x score`` with noise std ``std`` (model units), weighted by ``weight``: the energy
    ``weight * 1/2 |(a . expression_t - scale x s_t) / std|^2`` per observed row, in the identity and
    the clip fit alike. ``scale`` 1: a component of 1 is its full activation, as a score of 1 is.
    Nothing is calibrated on any corpus; a model with no component named like a score gets none.
    """

    weight: float = 0.0  # 0: off (outputs as without this group)
    std: float = 0.25
    scale: float = 1.0
    # only the rows whose components are all named here (empty: every row of OBSERVED)
    components: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _at_least(self, 0.0, "weight")
        _positive(self, "std", "scale")
        self.components = tuple(str(c) for c in self.components)
        unknown = unselected_components(self.components)
        if unknown:
            raise ValueError(f"components {unknown} select no row (a row needs all of its components, e.g. smile_left "
                             f"with smile_right; observed: {list(OBSERVED_COMPONENTS)})")


@dataclass
class SolverConfig:
    """Levenberg-Marquardt of the clip fit (:mod:`pipeline.fitting.solver`); ``tolerance`` and
    ``damping`` also drive the identity fit."""

    max_iterations: int = 12
    tolerance: float = 1e-4  # relative decrease of the energy at which it stops
    damping: float = 1e-3  # initial LM damping (times the diagonal of the normal matrix)
    # divergence: a fit whose median reprojection error exceeds this (fraction of IOD) is
    # reported as diverged
    diverged_iod: float = 0.5

    def __post_init__(self) -> None:
        _at_least(self, 1, "max_iterations")
        _positive(self, "tolerance", "damping", "diverged_iod")


@dataclass
class IdentityConfig:
    """The per-actor shape fit."""

    iterations: int = 25
    frames: int = 120  # frames sampled across an actor's clips for the shape fit
    # how many frames' worth of evidence the sampled frames add up to against the shape
    # prior. Detector errors of one face are mostly a static bias (about 2.5 % of the
    # inter-ocular distance on the generated corpus, 3x the frame-to-frame noise), so N
    # frames are far from N independent observations; a small value keeps the shape from
    # absorbing that bias (docs/fitting.md, "Identity").
    effective_frames: float = 0.3
    chunk: int = 40  # frames per chunk when accumulating the identity system
    seed: int = 0  # of the frame sampling
    # the actor's reference expression, part of its template: "median" = the per-component
    # median of the expressions fitted to the sampled frames (the expression the actor's face
    # holds through all its clips: a detector's bias on that face, or a trait such as wide
    # eyes, which no clip's emotion should carry); "none" = zero expression (docs/fitting.md,
    # "Reference expression")
    expression_reference: str = "median"

    def __post_init__(self) -> None:
        _at_least(self, 1, "iterations", "frames", "chunk")
        _positive(self, "effective_frames")
        # the values of emoface.morphable.reference.REFERENCES, not imported: that package imports torch,
        # and loading a build's config must not (tests/pipeline/dataset_build/test_stage_registry.py)
        _one_of(self, "expression_reference", ("median", "none"))


@dataclass
class InitConfig:
    """Initial values from the detector."""

    max_jaw_open_rad: float = 0.35  # jaw angle for a jawOpen blendshape score of 1

    def __post_init__(self) -> None:
        _at_least(self, 0.0, "max_jaw_open_rad")


@dataclass
class FitConfig:
    """Settings of :func:`pipeline.fitting.fit_identity` and :func:`pipeline.fitting.fit_clip`.

    The energy (MAP, per frame t and landmark l) is
    ``sum_tl lw_l * rho(|proj(P_tl) - x_tl| / (noise_iod * IOD))``
    ``+ 1/2 |expression_t / expression_std|^2 + 1/2 |jaw_t / jaw_std|^2``
    ``+ 1/2 |(theta_t - theta_{t-1}) / step_std|^2`` (per parameter group)
    ``+ flow.weight * sum_tl rho(|proj(P_tl) - proj(P_{t-1,l}) - f_tl| / (flow.noise_iod * IOD))``
    (optical flow ``f``, clip fit only, when ``flow.weight > 0``)
    ``+ blendshapes.weight * 1/2 sum_tr |(a_r . expression_t - scale x s_tr) / std|^2``
    (the detector's blendshape scores ``s``, when ``blendshapes.weight > 0``)
    ``+ 1/2 |shape / shape_std|^2`` (identity fit only).
    """

    camera: CameraConfig = field(default_factory=CameraConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    landmarks: LandmarkConfig = field(default_factory=LandmarkConfig)
    robust: RobustConfig = field(default_factory=RobustConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    bounds: BoundConfig = field(default_factory=BoundConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    blendshapes: BlendshapeConfig = field(default_factory=BlendshapeConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    init: InitConfig = field(default_factory=InitConfig)

    def __post_init__(self) -> None:
        for f in fields(self):
            group = f.default_factory  # the group's class
            if not isinstance(getattr(self, f.name), group):  # type: ignore[arg-type]
                raise ValueError(f"{f.name} must be a {group.__name__}, got {getattr(self, f.name)!r}")


#: where each key of the former flat ``FitConfig`` lives now (for the error message)
MOVED_KEYS: dict[str, str] = {
    "embedding": "model.embedding", "max_landmarks": "model.max_landmarks", "n_shape": "model.n_shape",
    "n_expression": "model.n_expression", "dtype": "model.dtype", "noise_iod": "landmarks.noise_iod",
    **{f"weight_{g}": f"landmarks.weights.{g}" for g in ("lips", "eyes", "nose", "brows", "oval", "other")},
    "robust_scale": "robust.scale", "robust_warmup": "robust.warmup",
    **{k: f"prior.{k}" for k in ("shape_std", "fix_scale", "scale_precision", "expression_std", "jaw_std")},
    "jaw_nonnegative": "bounds.jaw_nonnegative", "nonnegative_expression": "bounds.nonnegative_expression",
    "two_sided_expressions": "bounds.two_sided_expressions", "bound_std": "bounds.std",
    **{k: f"temporal.{k}" for k in ("expression_step_std", "jaw_step_std", "rotation_step_std",
                                     "translation_step_std")},
    "max_iterations": "solver.max_iterations", "tolerance": "solver.tolerance", "damping": "solver.damping",
    "diverged_iod": "solver.diverged_iod", "identity_iterations": "identity.iterations",
    "identity_frames": "identity.frames", "identity_effective_frames": "identity.effective_frames",
    "identity_chunk": "identity.chunk", "seed": "identity.seed", "max_jaw_open_rad": "init.max_jaw_open_rad",
}


def load_fit_config(data: dict[str, Any] | None, where: str = "fit") -> FitConfig:
    """A validated :class:`FitConfig` from a (YAML) mapping of overrides.

    Raises :class:`~emoface.utils.config.ConfigError` (one line naming ``where``) for an unknown
    key, a wrong type or a value out of range; a key of the former flat layout names its new place.
    """
    if isinstance(data, dict):
        moved = [k for k in data if k in MOVED_KEYS or (k == "robust" and not isinstance(data[k], dict))]
        if moved:
            hints = ", ".join(f"{k} -> {MOVED_KEYS.get(k, 'robust.loss')}" for k in moved)
            raise ConfigError(f"{where}: key(s) of the former flat layout; they moved ({hints})")
    return from_dict(FitConfig, data, where)


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
