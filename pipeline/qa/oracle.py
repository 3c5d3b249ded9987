"""The oracle's tracks: the true landmark positions in place of the detector's.

Where the corpus has ground truth, the oracle separates what the detector's landmarks miss
from what the fit loses: the same identity fit, per-clip fit, smoother, canonical meshes and
QA metrics, run on tracks whose landmarks are the true mesh's landmarks projected with the
clip's true head pose and camera, plus Gaussian noise of ``noise_px`` pixels (docs/fitting.md,
"The oracle"). The track keeps the detector's frame size, scheme and head transforms; what
the detector says besides the points' positions (per-point confidence, optical flow sampled at
them, the blendshape scores and their names, the detector's name and note) is dropped, every
frame is valid: the oracle's fit starts from a closed jaw and zero expression (the build's starts
from the jawOpen score) and has no blendshape term.

- :func:`oracle_landmarks`: a track's landmark array with the true positions in it;
- :func:`oracle_arrays`: a landmarks artefact's fields (:meth:`pipeline.fitting.LandmarkTrack.arrays`)
  turned into the oracle's; the benchmarks (``bench.bench_fit.oracle_track``) and the build's report
  (:func:`pipeline.stages.qastage.add_oracle`, ``build-dataset ravdess --oracle``) both use it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["oracle_landmarks", "oracle_arrays", "OracleError", "ORACLE_ARRAYS", "PER_FRAME", "DROPPED"]

#: the QA arrays the report keeps of an oracle clip (its expression features and their regions)
ORACLE_ARRAYS = ("gt_expression_feature_fit", "gt_expression_feature_true", "gt_expression_feature_region")
#: a track's per-frame fields (cut to the truth's frames)
PER_FRAME = ("landmarks", "valid", "blendshapes", "transforms", "confidence", "flow")
#: what the detector says besides the points' positions: the oracle's track has none of it
DROPPED = ("confidence", "flow", "blendshapes", "blendshape_names", "detector", "detector_note")


class OracleError(ValueError):
    """The data allow no oracle (a truth that does not match the model or the track, a model without the
    MediaPipe embedding): the report names the actor and goes on."""


def oracle_landmarks(landmarks: np.ndarray, scheme_name: str, gt, model, noise_px: float,
                     seed: int) -> np.ndarray:
    """``landmarks (T, N, C)`` of a track in scheme ``scheme_name`` with the true image positions
    (+ ``noise_px`` Gaussian noise, ``numpy.random.default_rng(seed)``) in x, y of every point that
    has a MediaPipe vertex (an iBUG-68 track gets the true positions of their MediaPipe points;
    MediaPipe's 10 iris points have no vertex and stay as detected). Returns ``(T', N, C)``,
    ``T' = min(T, truth's frames)``.
    """
    from pipeline.fitting.schemes import scheme

    from .ground_truth import _gt_landmarks

    if not hasattr(model, "landmark_embeddings"):
        raise OracleError(f"the back end's model ({type(model).__name__}) has no landmark embeddings")
    true = _gt_landmarks(gt, model, np.arange(468), "mediapipe")
    if true is None:
        raise OracleError("the ground truth's vertices do not match the model, or the model has no MediaPipe embedding")
    T = min(len(true), len(landmarks))
    mp = scheme(scheme_name).mediapipe
    cols = np.flatnonzero(mp < 468)
    out = np.array(landmarks[:T], copy=True)
    pts = true[:T][:, mp[cols]]
    out[:, cols, :2] = pts + np.random.default_rng(seed).normal(size=pts.shape) * noise_px
    return out


def oracle_arrays(arrays: Mapping[str, np.ndarray], gt, model, noise_px: float, seed: int) -> dict[str, np.ndarray]:
    """The fields of a landmarks artefact (:meth:`pipeline.fitting.LandmarkTrack.arrays`) with the true
    landmarks in place of the detected ones (:func:`oracle_landmarks`), every frame valid, without
    :data:`DROPPED`. The :data:`PER_FRAME` fields are cut to the frames the truth has."""
    from pipeline.fitting.schemes import DEFAULT_SCHEME

    lmk = np.asarray(arrays["landmarks"])
    scheme_name = str(arrays["scheme"]) if "scheme" in arrays else DEFAULT_SCHEME
    new = oracle_landmarks(lmk, scheme_name, gt, model, noise_px, seed)
    T = len(new)
    out = {k: (np.asarray(v)[:T] if k in PER_FRAME else np.asarray(v)) for k, v in arrays.items() if k not in DROPPED}
    out["landmarks"] = new.astype(lmk.dtype)
    out["valid"] = np.ones(T, bool)
    return out
