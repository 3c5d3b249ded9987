"""Per-actor identity: voice, face shape, appearance and head-motion statistics.

Everything is drawn from ``numpy.random.default_rng([seed, actor])``, so an actor is the same
in every run with the same seed, whatever else is generated. RAVDESS convention: odd actors
are male, even actors female; they get eSpeak NG's male (``+m1``..``+m7``) and female
(``+f1``..``+f5``) voice variants with their own pitch and speaking rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emoface.data.ravdess import N_ACTORS, gender_of
from pipeline.sources.synth.photo import Look
from pipeline.sources.synth.speech import Prosody

__all__ = ["MotionStats", "Actor", "make_actor"]

# (dL, da, db, lightness gain) in OpenCV Lab units, from the photo's light tone to darker ones
_SKIN_TONES = (
    (0.0, 0.0, 0.0, 1.0),
    (-8.0, 2.0, 4.0, 1.0),
    (-18.0, 5.0, 10.0, 0.97),
    (-30.0, 7.0, 12.0, 0.92),
    (-45.0, 8.0, 12.0, 0.85),
    (-60.0, 8.0, 10.0, 0.78),
    (4.0, -2.0, -3.0, 1.02),
    (-12.0, 6.0, 2.0, 1.0),
)
_WALLS = (
    ((238, 238, 235), (216, 216, 212)),
    ((226, 232, 240), (196, 206, 220)),
    ((240, 232, 214), (214, 202, 180)),
    ((222, 230, 220), (192, 204, 190)),
    ((200, 200, 204), (168, 168, 174)),
    ((244, 240, 236), (226, 220, 214)),
)
_SHIRTS = ((26, 26, 30), (40, 44, 70), (70, 26, 30), (34, 56, 40), (60, 60, 64), (20, 20, 22))


@dataclass(frozen=True)
class MotionStats:
    """Head motion of an actor: standard deviations of slow head rotation (radians, about
    x pitch / y yaw / z roll) and translation (metres), the timescale of that motion (s), and
    how much the head nods with speech energy (radians of pitch at full loudness)."""

    rot_std: tuple[float, float, float]
    trans_std: tuple[float, float, float]
    timescale_s: float
    nod_gain: float


@dataclass(frozen=True)
class Actor:
    """One generated actor (1-24)."""

    index: int
    gender: str
    voice: str
    prosody: Prosody
    shape: np.ndarray  # (S,) demo-head shape coefficients
    look: Look
    rest_rotation: np.ndarray  # (3,) axis-angle, radians
    rest_translation: np.ndarray  # (3,) metres, camera space
    motion: MotionStats
    expressiveness: float
    jaw_gain: float
    blink_rate: float  # blinks per minute
    eye_open: float  # resting value of the eye_wide component
    smile_asymmetry: float  # left/right smile ratio - 1
    photo: str = ""  # id of the face photograph (set by the corpus: photos alternate by actor)

    def __eq__(self, other: object) -> bool:  # numpy fields: compare by value
        if not isinstance(other, Actor):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, f), getattr(other, f)) if isinstance(getattr(self, f), np.ndarray) else getattr(self, f) == getattr(other, f)
            for f in self.__dataclass_fields__
        )

    __hash__ = None  # type: ignore[assignment]


def make_actor(
    index: int, seed: int, n_shape: int, distance_m: float = 1.0, shape_scale: float = 0.6, base_shape: np.ndarray | None = None
) -> Actor:
    """Draw actor ``index`` (1-24) for ``seed``: ``n_shape`` shape coefficients (``base_shape``,
    e.g. the photo's own fitted shape, plus unit normals times ``shape_scale``), a head
    ``distance_m`` in front of the camera (+-5 %)."""
    if not 1 <= index <= N_ACTORS:
        raise ValueError(f"actor must be 1-{N_ACTORS}, got {index}")
    rng = np.random.default_rng([int(seed), int(index)])
    gender = gender_of(index)
    male = gender == "male"
    variant = f"m{rng.integers(1, 8)}" if male else f"f{rng.integers(1, 6)}"
    prosody = Prosody(
        rate=int(rng.integers(150, 186)),
        pitch=int(rng.integers(30, 52) if male else rng.integers(48, 70)),
        pitch_range=int(rng.integers(40, 66)),
        gain=float(rng.uniform(0.8, 1.1)),
    )
    shape = rng.standard_normal(n_shape) * shape_scale
    if base_shape is not None:
        shape = shape + np.asarray(base_shape, np.float64)[:n_shape]
    shape = shape.astype(np.float32)
    tone = _SKIN_TONES[rng.integers(len(_SKIN_TONES))]
    wall = _WALLS[rng.integers(len(_WALLS))]
    look = Look(
        wall_top=wall[0],
        wall_bottom=wall[1],
        skin_shift=tone[:3],
        skin_gain=tone[3],
        shirt=_SHIRTS[rng.integers(len(_SHIRTS))],
        hair_gain=float(rng.uniform(0.35, 1.05)),
        noise=float(rng.uniform(1.0, 3.0)),
        seed=int(rng.integers(2**31)),
    )
    rest_rotation = np.array([rng.normal(0.0, 0.03), rng.normal(0.0, 0.04), rng.normal(0.0, 0.02)])
    z = -distance_m * rng.uniform(0.95, 1.05)
    rest_translation = np.array([rng.normal(0.0, 0.01), rng.uniform(0.04, 0.07), z])
    motion = MotionStats(
        rot_std=(float(rng.uniform(0.01, 0.03)), float(rng.uniform(0.01, 0.035)), float(rng.uniform(0.005, 0.015))),
        trans_std=(float(rng.uniform(0.001, 0.004)), float(rng.uniform(0.001, 0.003)), float(rng.uniform(0.001, 0.004))),
        timescale_s=float(rng.uniform(0.6, 1.4)),
        nod_gain=float(rng.uniform(0.01, 0.035)),
    )
    return Actor(
        index=index,
        gender=gender,
        voice=f"en-us+{variant}",
        prosody=prosody,
        shape=shape,
        look=look,
        rest_rotation=rest_rotation,
        rest_translation=rest_translation,
        motion=motion,
        expressiveness=float(rng.uniform(0.8, 1.2)),
        jaw_gain=float(rng.uniform(0.85, 1.15)),
        blink_rate=float(rng.uniform(10.0, 24.0)),
        eye_open=float(rng.uniform(0.1, 0.4)),
        smile_asymmetry=float(rng.normal(0.0, 0.08)),
    )
