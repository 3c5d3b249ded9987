"""Per-process state of the corpus generator: the model, camera and photo set, the actors' fitted photo
shapes and their face rigs, built once per process (a worker generates many clips of few actors).

:func:`resources` holds one config's state at a time (a new config replaces it); photos are
registered and fitted when an actor first needs them (:func:`actor_photo`); :func:`face_rig`
keeps the rigs of the last two actors (clips come in actor order).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from emoface.morphable.mediapipe_indices import ALL_EYE_CORNERS, BROW_POINTS, OUTER_EYE_CORNERS
from emoface.utils.config import config_hash
from pipeline.sources.synth.config import SynthConfig

__all__ = ["resources", "actor_photo", "aligned_shape", "make_clip_actor", "face_rig"]

_STATE: dict = {}


def resources(cfg: SynthConfig):
    """The morphable model, its layer, the photo set and the camera (once per process); the
    photos themselves are registered when an actor first needs them (:func:`actor_photo`)."""
    key = (cfg.model, cfg.width, cfg.height, cfg.fov_y_deg, tuple(cfg.photos))
    if _STATE.get("key") != key:
        from emoface.mesh.camera import PinholeCamera
        from emoface.morphable import MorphableLayer, load
        from pipeline.sources.synth.photoset import resolve_photos
        from pipeline.sources.synth.speech import engine

        engine()  # load eSpeak NG before anything speaks (isolated synthesis forks from here)
        model = load(cfg.model)
        _STATE.clear()
        _STATE.update(
            key=key,
            model=model,
            layer=MorphableLayer(model).eval(),
            sources=resolve_photos(cfg.photos, check_face=False),  # generate_corpus checked the faces
            photos={},
            camera=PinholeCamera.from_fov(cfg.width, cfg.height, cfg.fov_y_deg),
            rigs={},
        )
    return _STATE


def actor_photo(cfg: SynthConfig, actor: int):
    """``(source, registered photo, its fitted and aligned shape)`` of the photo actor ``actor`` uses."""
    from pipeline.sources.synth.photo import fit_photo_shape
    from pipeline.sources.synth.photoset import photo_index, registered_photo

    st = resources(cfg)
    k = photo_index(actor, len(st["sources"]))
    if k not in st["photos"]:
        src = st["sources"][k]
        photo = registered_photo(src.spec)
        model = st["model"]
        base = aligned_shape(model, fit_photo_shape(model.v_template, model.shapedirs, photo.landmarks))
        st["photos"][k] = (src, photo, base)
    return st["photos"][k]


def aligned_shape(model, shape: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """The nearest shape (least change, a linear projection) with two properties fixed.

    - Inner lips as the template has them: midpoints 13 and 14 level in x and z, every
      upper/lower inner-lip pair as far apart vertically as in the template. Then ``lip_press``
      closes the whole mouth at once (lips touch along their length without crossing), and
      ``mouth_opening`` measures the opening, not lip depth.
    - With ``reference`` (the photo's fitted shape): the same height of the middle/outer brows
      above the eye corners and the same eye-corner distance as the reference, so that a brow
      measure normalised by the eye distance reads the brow *movement* (``brow_raise``) the
      same way for every actor. Actors still differ in every other direction of the basis.
    """
    from emoface.morphable.lips import lip_profile_constraints

    s = np.asarray(model.shapedirs, np.float64)
    lip_rows, lip_target = lip_profile_constraints(model.v_template, model.shapedirs)
    rows, target = list(lip_rows), list(lip_target)
    if reference is not None:
        ref = np.asarray(reference, np.float64)
        brow = s[list(BROW_POINTS), 1].mean(axis=0) - s[list(ALL_EYE_CORNERS), 1].mean(axis=0)
        eyes = s[OUTER_EYE_CORNERS[1], 0] - s[OUTER_EYE_CORNERS[0], 0]
        rows += [brow, eyes]
        target += [float(brow @ ref), float(eyes @ ref)]
    a = np.stack(rows)
    b = np.asarray(shape, np.float64)
    b = b - a.T @ np.linalg.lstsq(a @ a.T, a @ b - np.asarray(target), rcond=None)[0]
    return b.astype(np.float32)


def make_clip_actor(index: int, cfg: SynthConfig, seed: int):
    """Actor ``index`` for this config and seed: its photo's id in ``photo``, its shape drawn
    around that photo's fitted shape and projected by :func:`aligned_shape`."""
    from pipeline.sources.synth.actors import make_actor

    st = resources(cfg)
    src, _, base = actor_photo(cfg, index)
    actor = make_actor(index, seed, st["model"].n_shape, cfg.distance_m, cfg.shape_scale, base)
    return dataclasses.replace(actor, shape=aligned_shape(st["model"], actor.shape, base), photo=src.id)


def face_rig(actor, cfg: SynthConfig, seed: int):
    """An actor's :class:`FaceRig` (cached per process)."""
    from pipeline.sources.synth.drive import drive_face
    from pipeline.sources.synth.emotion import EXPRESSION_CHANNELS
    from pipeline.sources.synth.face import FaceRig
    from pipeline.sources.synth.visemes import CHANNELS, Articulation

    st = resources(cfg)
    key = (actor.index, seed, config_hash(cfg))
    if key not in st["rigs"]:
        rest_art = np.zeros((1, len(CHANNELS)), np.float32)
        rest_art[0, CHANNELS.index("close")] = 1.0
        rest = drive_face(
            st["model"], st["layer"], actor.shape, Articulation(rest_art, np.zeros(1)),
            np.zeros((1, len(EXPRESSION_CHANNELS)), np.float32), np.zeros(1), actor.eye_open, 0.0, cfg.drive,
        )
        if len(st["rigs"]) >= 2:  # clips come in actor order: two actors at a time are enough
            st["rigs"].pop(next(iter(st["rigs"])))
        st["rigs"][key] = FaceRig(
            actor_photo(cfg, actor.index)[1], actor.look, st["model"].faces, rest.vertices[0], actor.rest_rotation, actor.rest_translation,
            rest.jaw_joint, st["camera"], cfg.rig,
        )
    return st["rigs"][key]
