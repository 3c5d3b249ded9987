"""Landmark schemes: how a detector numbers its points, and how they meet a model's embedding.

A :class:`~pipeline.fitting.LandmarkTrack` names its scheme. Two are known:

- ``mediapipe478``: MediaPipe Face Landmarker (468 mesh points + 10 iris points);
- ``ibug68``: the 68 iBUG-300W points (0-based), e.g. face-alignment's FAN.

A model's landmark embedding is either ``mediapipe*`` (its ``source_index`` are MediaPipe
points) or ``ibug*`` (iBUG points). :func:`track_columns` says which track point each
embedded landmark is matched to, through ``MEDIAPIPE_TO_IBUG68`` when the two differ.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from emoface.morphable.mediapipe_indices import (IBUG68_OUTER_EYE_CORNERS, MEDIAPIPE_TO_IBUG68, N_LANDMARKS,
                                                  OUTER_EYE_CORNERS)

__all__ = ["Scheme", "SCHEMES", "scheme", "track_columns", "embedding_for_scheme", "config_for_scheme", "DEFAULT_SCHEME"]


@dataclass(frozen=True)
class Scheme:
    """``name``; ``n_points`` a detection has; ``outer_eye_corners`` (right, left) for the
    inter-ocular distance; ``mediapipe (n_points,)`` the MediaPipe point of each scheme point."""

    name: str
    n_points: int
    outer_eye_corners: tuple[int, int]
    mediapipe: np.ndarray


SCHEMES: dict[str, Scheme] = {
    "mediapipe478": Scheme("mediapipe478", N_LANDMARKS, OUTER_EYE_CORNERS, np.arange(N_LANDMARKS)),
    "ibug68": Scheme("ibug68", 68, IBUG68_OUTER_EYE_CORNERS, np.asarray(MEDIAPIPE_TO_IBUG68, np.int64)),
}
DEFAULT_SCHEME = "mediapipe478"


def scheme(name: str) -> Scheme:
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(f"unknown landmark scheme {name!r} (known: {', '.join(SCHEMES)})") from None


def track_columns(scheme_name: str, embedding: str, source_index: np.ndarray,
                  mp_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(columns (L,), present (L,) bool)``: the track point matched to each embedded landmark.

    ``source_index``: the embedding's own point numbers; ``mp_index``: their MediaPipe points.
    A MediaPipe track reads every landmark at its MediaPipe point. An iBUG track reads an
    ``ibug*`` embedding at its own indices; a MediaPipe embedding only at the 68 points of
    the correspondence (``present`` is False for the others: they get no weight).
    """
    s = scheme(scheme_name)
    mp_index = np.asarray(mp_index, np.int64)
    if s.name == "mediapipe478":
        return mp_index, np.ones(len(mp_index), bool)
    if embedding.startswith("ibug"):
        return np.asarray(source_index, np.int64), np.ones(len(mp_index), bool)
    inverse = np.full(max(int(mp_index.max(initial=0)), int(s.mediapipe.max())) + 1, -1, np.int64)
    inverse[s.mediapipe] = np.arange(s.n_points)
    cols = inverse[mp_index]
    present = cols >= 0
    return np.where(present, cols, 0), present


def embedding_for_scheme(embeddings, scheme_name: str, requested: str = "auto") -> str:
    """The embedding to fit (``FitConfig.embedding``) for tracks in ``scheme_name``.

    ``auto`` with an iBUG track picks the model's ``ibug68`` embedding when it has one (FLAME's
    DECA ``landmark_embedding.npy``; the demo head's, through ``MEDIAPIPE_TO_IBUG68``), so
    every detected point has its model point; anything else is returned unchanged (``auto``
    then resolves as before: ``mediapipe`` first).
    """
    if requested == "auto" and scheme(scheme_name).name == "ibug68" and "ibug68" in embeddings:
        return "ibug68"
    return requested


def config_for_scheme(cfg, embeddings, scheme_name: str):
    """``cfg`` (a ``FitConfig``) with ``model.embedding`` resolved for tracks in ``scheme_name``
    (:func:`embedding_for_scheme`): what the build's identity fit, and every fit of the same tracks, use."""
    embedding = embedding_for_scheme(embeddings, scheme_name, cfg.model.embedding)
    if embedding == cfg.model.embedding:
        return cfg
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, embedding=embedding))
