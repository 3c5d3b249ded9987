"""A generated corpus decoded and landmarked once for the fit benchmarks, and its clips' optical flow.

``bench.bench_levers``, ``bench.bench_true_identity``, ``bench.bench_landmark_floor`` and
``bench.bench_real_motion`` refit or measure one ``build-dataset synth`` corpus many times: its
clips are decoded and landmarked once by the build's own stages (:func:`cached_track`, :func:`prepare`:
tracks cached as ``CACHE/<clip>.npz`` + ``.json``), selected by photo (:func:`load_actors`), and given their
optical flow once (:func:`cached_flow`, :func:`with_flow`). :func:`corpus_arguments` puts the
inputs on a command line the same way for each.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

__all__ = ["ClipData", "cached_track", "prepare", "of_photo", "load_actors", "corpus_arguments", "flow_key", "cached_flow", "with_flow",
           "FUSED_POINTS", "fused"]


@dataclass
class ClipData:
    """A cached clip: its landmark track, ground-truth path, audio duration, decode+landmarks CPU s."""

    track: object
    gt: str
    audio_s: float
    cpu_s: float
    photo: str | None
    video: str = ""


def cached_track(video: Path, cache: Path, name: str | None = None, detector: str = "mediapipe") -> tuple[object, dict]:
    """``video`` decoded and landmarked as the build does (with ``detector``), once: its ``LandmarkTrack`` and
    ``{"audio_s", "cpu_s"}`` (decode+landmarks CPU seconds), cached as ``cache/<name>.npz`` + ``.json``
    (``name``: the video's stem by default). A video the build cannot decode (e.g. no audio track), or a
    cached track of another detector, is a ``ValueError`` naming it."""
    from bench.bench_fit import decode_and_landmark
    from emoface.utils.atomic import write_json_atomic
    from pipeline.fitting import LandmarkTrack
    from pipeline.stages.store import ClipError

    name = name or video.stem
    npz, meta = cache / f"{name}.npz", cache / f"{name}.json"
    if npz.is_file() and meta.is_file():
        track = LandmarkTrack.load(npz)
        if (track.detector or "mediapipe") != detector:
            raise ValueError(f"{npz}: landmarks of the detector {track.detector!r}, not {detector!r} (one cache per detector)")
        return track, json.loads(meta.read_text())
    try:
        dec, track, cpu = decode_and_landmark(video, detector)
    except ClipError as exc:
        raise ValueError(f"{video}: {exc}") from exc
    cache.mkdir(parents=True, exist_ok=True)
    track.save(npz)
    info = {"audio_s": float(dec["audio_duration_s"]), "cpu_s": cpu}
    write_json_atomic(meta, info)
    print(f"landmarks {name}: {track.n_frames} frames, {cpu:.1f} s CPU", file=sys.stderr, flush=True)
    return track, info


def prepare(corpus: Path, cache: Path, detector: str = "mediapipe") -> dict[int, list[ClipData]]:
    """Decode and landmark every clip of ``corpus`` once with ``detector`` (:func:`cached_track`, in ``cache``)."""
    out: dict[int, list[ClipData]] = {}
    paths = sorted(corpus.glob("Actor_*/*.mp4"))
    if not paths:
        raise ValueError(f"{corpus}: no Actor_*/*.mp4 (not a build-dataset synth folder)")
    for p in paths:
        track, info = cached_track(p, cache, detector=detector)
        gt = corpus / "ground_truth" / f"{p.stem}.npz"
        with np.load(gt) as z:
            photo = str(z["photo"]) if "photo" in z else None
        out.setdefault(int(p.stem.split("-")[-1]), []).append(
            ClipData(track, str(gt), info["audio_s"], info["cpu_s"], photo, str(p)))
    return out


def of_photo(data: dict[int, list[ClipData]], photo: str) -> dict[int, list[ClipData]]:
    """The actors of ``data`` whose clips show ``photo`` (``all``: every actor; a clip without a recorded photo
    counts as any)."""
    if photo == "all":
        return dict(data)
    return {a: c for a, c in data.items() if all(x.photo in (None, photo) for x in c)}


def load_actors(corpus: Path, cache: Path, photo: str = "all", detector: str = "mediapipe") -> dict[int, list[ClipData]]:
    """:func:`prepare` then :func:`of_photo`; ``ValueError`` naming the corpus when no actor is left."""
    data = of_photo(prepare(corpus, cache, detector), photo)
    if not data:
        raise ValueError(f"{corpus}: no actor has the photo {photo!r}")
    return data


def corpus_arguments(ap: argparse.ArgumentParser, photo: str = "all", role: str = "", corpus_required: bool = True,
                     cache_help: str = "where its landmark tracks are cached", detector: bool = False) -> None:
    """``--corpus``, ``--cache`` and ``--photo`` (default ``photo``): :func:`load_actors`'s inputs on a command
    line; ``role`` adds what the corpus is for to its help; ``corpus_required`` False: ``--corpus`` may be left
    out (default None); ``detector``: also ``--detector`` (the build's detectors, default ``mediapipe``)."""
    ap.add_argument("--corpus", type=Path, required=corpus_required, default=None,
                    help="a `build-dataset synth` folder" + (f" ({role})" if role else ""))
    ap.add_argument("--cache", type=Path, required=True, help=cache_help)
    ap.add_argument("--photo", default=photo, help="only this photo's actors of --corpus ('all': every actor)")
    if detector:
        from pipeline.detectors.registry import DETECTORS

        ap.add_argument("--detector", default=DETECTORS.default, choices=DETECTORS.names,
                        help="the landmark detector (its default settings; one --cache per detector)")


def flow_key(cfg) -> str:
    """The cache name of a ``FlowConfig``'s flow: the settings that change it."""
    return f"flow-{cfg.preset}-{cfg.max_size}-{cfg.margin:g}-{cfg.fb_check_iod:g}"


def cached_flow(video: str, track, cfg, cache: Path, name: str | None = None) -> tuple[np.ndarray, float]:
    """``track``'s optical flow in ``video`` (``cfg``: a ``FlowConfig``) and its CPU seconds (decoding
    excluded), cached in ``cache`` as ``<name>.<flow_key>[.<detector>].npy`` + ``.json`` (``name``: the clip id
    by default; the detector's name when it is not MediaPipe, whose points the flow is sampled at).
    A video that decodes to another frame count than the track's is a ``ValueError`` naming it."""
    from emoface.utils.atomic import atomic_path, write_json_atomic
    from pipeline.fitting.flow import track_flow
    from pipeline.fitting.types import FitError

    stem = f"{name or track.clip_id}.{flow_key(cfg)}"
    if track.detector not in ("", "mediapipe"):  # the flow is sampled at the detector's points
        stem += f".{track.detector}"
    npy, meta = cache / f"{stem}.npy", cache / f"{stem}.json"
    if npy.is_file() and meta.is_file():
        return np.load(npy), json.loads(meta.read_text())["cpu_s"]
    try:
        flow, cpu = track_flow(video, track, cfg)
    except FitError as exc:
        raise ValueError(f"{video}: {exc}") from exc
    cache.mkdir(parents=True, exist_ok=True)
    with atomic_path(npy, suffix=".npy") as tmp:
        np.save(tmp, flow)
    write_json_atomic(meta, {"cpu_s": cpu})
    return flow, cpu


def with_flow(data: dict[int, list[ClipData]], cfg, cache: Path) -> tuple[dict[int, list[ClipData]], float]:
    """``data`` with every track's optical flow (``cfg``: a ``FlowConfig``; cached in ``cache``) and
    the flow's own CPU seconds (decoding excluded: the build decodes each frame once for all)."""
    out, cpu = {}, 0.0
    for actor, clips in data.items():
        out[actor] = []
        for c in clips:
            flow, s = cached_flow(c.video, c.track, cfg, cache)
            cpu += s
            out[actor].append(replace(c, track=replace(c.track, flow=flow)))
    return out, cpu


#: the iBUG-68 points :func:`fused` averages in: every one, or the lips' 20
FUSED_POINTS: dict[str, np.ndarray] = {"all": np.arange(68), "lips": np.arange(48, 68)}


def fused(data: dict[int, list[ClipData]], other: dict[int, list[ClipData]], points: str = "all"
          ) -> dict[int, list[ClipData]]:
    """``data``'s MediaPipe tracks with ``other``'s iBUG-68 points (another detector's tracks of the same clips)
    averaged into the MediaPipe points at the same places (``MEDIAPIPE_TO_IBUG68``; :data:`FUSED_POINTS`), in
    the frames where both found the face; the other points, blendshapes and head transform stay MediaPipe's.
    Under a squared loss (``fit.robust.loss: l2``) the mean is the same fit as both points as observations of
    equal weight; under the default robust loss it is close to that, not equal. A measurement of two detectors
    together, not a build option. ``ValueError`` naming a clip that does not pair up."""
    from pipeline.fitting.schemes import SCHEMES

    sel = FUSED_POINTS[points]
    cols = SCHEMES["ibug68"].mediapipe[sel]
    out = {}
    for actor, clips in data.items():
        theirs = {c.track.clip_id: c.track for c in other.get(actor, [])}
        out[actor] = []
        for c in clips:
            mine, tr = c.track, theirs.get(c.track.clip_id)
            if mine.scheme != "mediapipe478" or tr is None or tr.scheme != "ibug68" or tr.n_frames != mine.n_frames:
                raise ValueError(f"{c.track.clip_id}: no {'iBUG-68 track' if tr is None else tr.scheme + ' track'} "
                                 f"of {mine.n_frames} frames to fuse with its {mine.scheme} track")
            lm = mine.landmarks.copy()
            both = mine.valid & tr.valid
            lm[np.ix_(both, cols, [0, 1])] = 0.5 * (lm[np.ix_(both, cols, [0, 1])] + tr.landmarks[np.ix_(both, sel, [0, 1])])
            out[actor].append(replace(c, track=replace(mine, landmarks=lm, detector=f"{mine.detector}+{tr.detector}")))
    return out
