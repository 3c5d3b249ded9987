"""Settings of the generated corpus (defaults here; ``configs/synth.yaml`` only overrides)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.sources.synth.drive import DriveConfig
from pipeline.sources.synth.emotion import EmotionConfig
from pipeline.sources.synth.face import RigConfig
from pipeline.sources.synth.visemes import VisemeConfig

__all__ = ["SynthConfig", "GENERATOR_VERSION", "DEFAULT_PHOTOS"]

GENERATOR_VERSION = "3"  # 3: a set of face photographs, alternating by actor (2: one photo)
# the default face photographs, alternating by actor (pipeline/sources/synth/photoset.py)
DEFAULT_PHOTOS: tuple[str, ...] = ("astronaut", "grace_hopper")


@dataclass(frozen=True)
class SynthConfig:
    """Video, timing and rendering settings.

    - ``width``/``height``/``fps``: the video (RAVDESS: 1280x720, 29.97 fps; default 30).
    - ``fov_y_deg``: vertical field of view of the pinhole camera; ``distance_m``: head distance.
    - ``lead_s``/``tail_s``: ranges of silence before and after speech; ``min_duration_s``.
    - ``audio_rate``: AAC sample rate; ``crf``/``preset``: libx264 quality and speed.
    - ``shape_scale``: spread of the actors' face shapes around the photo's fitted shape
      (demo-head shape sigmas).
    - ``model``: the morphable model the faces are driven by (``demo``: the bundled demo head).
    - ``photos``: the face photographs, built-in names (``astronaut``, ``grace_hopper``) or
      image files; actor ``a`` uses ``photos[(a - 1) % len(photos)]`` (``--photo`` replaces them).
    """

    width: int = 1280
    height: int = 720
    fps: float = 30.0
    fov_y_deg: float = 26.0
    distance_m: float = 1.0
    lead_s: tuple[float, float] = (0.6, 1.1)
    tail_s: tuple[float, float] = (0.7, 1.2)
    min_duration_s: float = 3.0
    audio_rate: int = 48000
    crf: int = 23
    preset: str = "ultrafast"
    shape_scale: float = 0.6
    model: str = "demo"
    photos: tuple[str, ...] = DEFAULT_PHOTOS
    visemes: VisemeConfig = field(default_factory=VisemeConfig)
    emotion: EmotionConfig = field(default_factory=EmotionConfig)
    drive: DriveConfig = field(default_factory=DriveConfig)
    rig: RigConfig = field(default_factory=RigConfig)
