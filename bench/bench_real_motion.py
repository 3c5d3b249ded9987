"""Does the detector follow the lip motion that the video shows? Landmarks against optical flow, generated and real.

On the generated corpus the detector's lip points miss much of the true motion (docs/fitting.md,
"What the detector's points hold"); whether MediaPipe does the same on real faces decides whether
the fit's gap there is the detector's or the generated world's. Real video has no 3D truth, but
its pixels move: this compares, per clip, two distances between landmarks over time

- ``mouth width``: the mouth corners (MediaPipe 61, 291; iBUG 48, 54), horizontal lip motion;
- ``mouth opening``: the outer lips' top and bottom midpoints (0, 17; iBUG 51, 57), the control: the
  detector follows it on the generated corpus (r 0.99 against the truth);

as the detector gives them, frame by frame, and as OpenCV's DIS optical flow moves them (the
build's flow observation, :mod:`pipeline.fitting.flow`: from each frame's detected points to the
next frame; the distance's change summed from the first detected frame). Each trajectory's
least-squares line over the clip is removed (its dynamic part, in % of the inter-ocular distance:
the clip mean, and the slow drift that summed flow steps gather); reported per clip: the dynamic
amplitudes (std), the Pearson r and the gain (least-squares slope) of the detector's trajectory on
the flow's, and on the generated corpus the same against the truth (the true landmark positions)
for both. The flow is a coarse reference: on the generated corpus its own gain against the truth
differs between faces, so the ratio of the detector's gains (width over opening) against it
matches the truth's on one face and not on the other (docs/fitting.md, "A real-video check"). A flow step that is missing (a point failed the forward-backward
check, or a frame had no face) adds no change; their share is reported.

    python -m bench.bench_real_motion --corpus C --cache T [--photo astronaut] [--flow-cache F] \\
        [--video ../shared/assets/ravdess/video/01-01-01-01-02-01-05.mp4 ...] [--detector dlib] [--out motion.json]

A measurement of the detector, not a fitter: nothing here changes the build.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.corpus_cache import cached_flow, cached_track, corpus_arguments, load_actors

#: the distances measured: name -> the two MediaPipe landmark indices (:func:`scheme_pair`: in another scheme)
PAIRS = {"mouth width": (61, 291), "mouth opening": (0, 17)}


def scheme_pair(scheme_name: str, pair: tuple[int, int]) -> tuple[int, int]:
    """The points of ``scheme_name`` at the MediaPipe points ``pair`` (iBUG-68: 48/54 and 51/57 for :data:`PAIRS`):
    the track columns a MediaPipe-indexed landmark set is read from (:func:`pipeline.fitting.schemes.track_columns`)."""
    from pipeline.fitting.schemes import track_columns

    mp = np.asarray(pair, np.int64)
    cols, present = track_columns(scheme_name, "mediapipe", mp, mp)
    if not present.all():
        raise ValueError(f"the {scheme_name} scheme has no point at MediaPipe point {int(mp[~present][0])}")
    return int(cols[0]), int(cols[1])


def distances(points: np.ndarray, pair: tuple[int, int]) -> np.ndarray:
    """``points (T, N, 2)`` -> ``(T,)`` the distance between the pair's two points."""
    a, b = pair
    return np.linalg.norm(points[:, b, :2] - points[:, a, :2], axis=-1)


def flow_trajectory(points: np.ndarray, flow: np.ndarray, valid: np.ndarray, pair: tuple[int, int]
                    ) -> tuple[np.ndarray, float]:
    """The pair's distance moved by the flow: ``(T,)`` (NaN before the first valid frame) and the share of missing steps.

    ``points (T, N, 2)`` px, ``flow (T, N, 2)`` (row t: from frame t-1 to t, sampled at frame t-1's
    points; NaN where none), ``valid (T,)``. Step t changes the distance by how the flow of frame t
    changes it at frame t-1's points: ``|(p_b + f_b) - (p_a + f_a)| - |p_b - p_a|``.
    """
    a, b = pair
    t_all = len(valid)
    out = np.full(t_all, np.nan)
    first = np.flatnonzero(valid)
    if not len(first):
        return out, 1.0
    t0 = int(first[0])
    out[t0] = float(np.linalg.norm(points[t0, b, :2] - points[t0, a, :2]))
    missing = 0
    for t in range(t0 + 1, t_all):
        pa, pb = points[t - 1, a, :2], points[t - 1, b, :2]
        fa, fb = flow[t, a], flow[t, b]
        if valid[t - 1] and valid[t] and np.isfinite(fa).all() and np.isfinite(fb).all():
            step = np.linalg.norm((pb + fb) - (pa + fa)) - np.linalg.norm(pb - pa)
        else:
            step, missing = 0.0, missing + 1
        out[t] = out[t - 1] + step
    return out, missing / max(1, t_all - t0 - 1)


def detrend(x: np.ndarray) -> np.ndarray:
    """``x (T,)`` minus its least-squares line over the finite frames (NaN stays NaN)."""
    out = np.full(len(x), np.nan)
    ok = np.isfinite(x)
    if ok.sum() < 2:
        return out
    t = np.flatnonzero(ok).astype(np.float64)
    out[ok] = x[ok] - np.polyval(np.polyfit(t, x[ok], 1), t)
    return out


def compare(x: np.ndarray, y: np.ndarray) -> dict:
    """``x`` against ``y`` (both ``(T,)``) over the frames where both are finite: the Pearson ``r`` and the
    ``gain`` (least-squares slope of x on y) of their dynamic parts (each one's clip line removed,
    :func:`detrend`: the clip mean, and the slow drift that summing flow steps gathers), and
    ``r_steps``, the Pearson r of their frame-to-frame changes (no drift at all, the detector's jitter in full)."""
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return {"r": None, "gain": None, "r_steps": None}
    steps = _pearson(np.diff(x)[ok[1:] & ok[:-1]], np.diff(y)[ok[1:] & ok[:-1]])
    dx, dy = detrend(np.where(ok, x, np.nan))[ok], detrend(np.where(ok, y, np.nan))[ok]
    sx, sy = float(np.sqrt((dx * dx).mean())), float(np.sqrt((dy * dy).mean()))
    if sx <= 1e-9 * (1 + np.abs(x[ok]).max()) or sy <= 1e-9 * (1 + np.abs(y[ok]).max()):  # constant up to rounding
        return {"r": None, "gain": None, "r_steps": steps}
    return {"r": float((dx * dy).mean() / (sx * sy)), "gain": float((dx * dy).mean() / (sy * sy)), "r_steps": steps}


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or a.std() <= 1e-12 or b.std() <= 1e-12:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _std(x: np.ndarray) -> float:
    """The std of ``x``'s dynamic part (:func:`detrend`)."""
    x = detrend(x)
    x = x[np.isfinite(x)]
    return float(x.std()) if len(x) else float("nan")


@dataclass
class ClipMotion:
    """One clip's inputs: the detector's points ``(T, N, 2)`` in ``scheme``, ``valid (T,)``, the flow ``(T, N, 2)``,
    and on a generated clip the true points at the same places ``(T, N, 2)``."""

    clip: str
    source: str  # the photo of a generated clip, "real video" otherwise
    detector: np.ndarray
    valid: np.ndarray
    flow: np.ndarray
    truth: np.ndarray | None = None
    path: str = ""  # the video, for messages
    scheme: str = "mediapipe478"


def measure(c: ClipMotion) -> dict:
    """Per pair: dynamic amplitudes (% IOD) of detector, flow and truth, and their r / gain (see the module doc)."""
    from pipeline.fitting.types import inter_ocular_px

    ok = np.asarray(c.valid, bool)
    if ok.sum() < 3:
        raise ValueError(f"{c.path or c.clip}: a face in {int(ok.sum())} frames, too few to follow its motion")
    iod = float(np.median(inter_ocular_px(c.detector[ok], c.scheme)))
    row: dict = {"clip": c.clip, "source": c.source, "frames": int(ok.sum()), "iod_px": iod}
    for name, mp_pair in PAIRS.items():
        pair = scheme_pair(c.scheme, mp_pair)
        det = np.where(ok, distances(c.detector, pair), np.nan) / iod * 100
        flo, missing = flow_trajectory(c.detector, c.flow, ok, pair)
        flo = np.where(ok, flo, np.nan) / iod * 100  # the frames the detector's trajectory has
        r = {"detector_std": _std(det), "flow_std": _std(flo), "flow_missing": missing,
             "detector_vs_flow": compare(det, flo)}
        if c.truth is not None:
            n = min(len(c.truth), len(det))
            tru = np.where(ok[:n], distances(c.truth[:n], pair), np.nan) / iod * 100
            r.update({"truth_std": _std(tru), "detector_vs_truth": compare(det[:n], tru),
                      "flow_vs_truth": compare(flo[:n], tru)})
        row[name] = r
    return row


def generated_clips(corpus: Path, cache: Path, photo: str, flow_cache: Path, cfg, detector: str = "mediapipe"
                    ) -> list[ClipMotion]:
    """The clips of a ``build-dataset synth`` corpus (:mod:`bench.corpus_cache`: landmarks and flow cached)."""
    from bench.bench_fit import oracle_track
    from emoface.morphable import load
    from pipeline.qa import load_ground_truth

    model = load("demo")
    out = []
    for _, clips in sorted(load_actors(corpus, cache, photo, detector).items()):
        for c in clips:
            true = oracle_track(c.track, load_ground_truth(c.gt), model, 0.0, 0).landmarks[..., :2]  # the track's scheme
            out.append(ClipMotion(c.track.clip_id, c.photo or "generated", c.track.landmarks[..., :2],
                                  np.asarray(c.track.valid, bool), cached_flow(c.video, c.track, cfg, flow_cache)[0], true,
                                  c.video, c.track.scheme))
    return out


def real_clips(videos: list[Path], cache: Path, cfg, detector: str = "mediapipe") -> list[ClipMotion]:
    """Real videos: decoded and landmarked as the build does, with their flow; both cached in ``cache/real``
    (apart from a generated corpus's clips, which carry the same RAVDESS names)."""
    out = []
    cache = cache / "real"
    for v in videos:
        if not v.is_file():
            raise ValueError(f"{v}: no such video")
        name = f"{v.stem}-{hashlib.sha1(str(v.resolve()).encode()).hexdigest()[:8]}"  # two folders' same names apart
        track = cached_track(v, cache, name, detector)[0]  # decoded as the build decodes: a clip needs its audio track too
        out.append(ClipMotion(v.stem, "real video", track.landmarks[..., :2], np.asarray(track.valid, bool),
                              cached_flow(str(v), track, cfg, cache, name)[0], path=str(v), scheme=track.scheme))
    return out


def _get(row: dict, *keys):
    v = row
    for k in keys:
        v = None if v is None else v.get(k)
    return v


def _median(vals) -> float | None:
    vals = [v for v in vals if v is not None and np.isfinite(v)]
    return float(np.median(vals)) if vals else None


#: the summary's columns: name -> the keys of a clip row's pair entry
COLUMNS = {"detector_std": ("detector_std",), "flow_std": ("flow_std",), "truth_std": ("truth_std",),
           "r_detector_flow": ("detector_vs_flow", "r"), "gain_detector_flow": ("detector_vs_flow", "gain"),
           "r_steps_detector_flow": ("detector_vs_flow", "r_steps"),
           "r_detector_truth": ("detector_vs_truth", "r"), "gain_detector_truth": ("detector_vs_truth", "gain"),
           "r_flow_truth": ("flow_vs_truth", "r"), "gain_flow_truth": ("flow_vs_truth", "gain"),
           "flow_missing": ("flow_missing",)}


def summary(rows: list[dict]) -> list[dict]:
    """Medians over the clips of each source, per pair; each row also holds its source's median over clips of
    the detector's gain on mouth width divided by its gain on mouth opening (``width_over_opening_gain_flow``
    and ``_truth``: against the flow, and the truth)."""
    out = []
    width, opening = PAIRS
    for src in dict.fromkeys(r["source"] for r in rows):
        mine = [r for r in rows if r["source"] == src]
        ratios = {}
        for ref in ("flow", "truth"):
            per_clip = []
            for r in mine:
                a, b = _get(r, width, f"detector_vs_{ref}", "gain"), _get(r, opening, f"detector_vs_{ref}", "gain")
                per_clip.append(None if a is None or not b else a / b)
            ratios[f"width_over_opening_gain_{ref}"] = _median(per_clip)
        for name in PAIRS:
            out.append({"source": src, "distance": name, "clips": len(mine),
                        **{k: _median(_get(r, name, *keys) for r in mine) for k, keys in COLUMNS.items()}, **ratios})
    return out


def markdown(summ: list[dict]) -> str:
    def f(v, fmt=".2f"):
        return "-" if v is None else format(v, fmt)

    lines = ["| source | distance | clips | amplitude detector / flow / truth (% IOD) | detector on flow: r, gain (r of steps) | "
             "detector on truth: r, gain | flow on truth: r, gain | flow steps missing |", "|---|---|---|---|---|---|---|---|"]
    for s in summ:
        lines.append(f"| {s['source']} | {s['distance']} | {s['clips']} | {f(s['detector_std'])} / {f(s['flow_std'])} / "
                     f"{f(s['truth_std'])} | {f(s['r_detector_flow'])}, {f(s['gain_detector_flow'])} "
                     f"({f(s['r_steps_detector_flow'])}) | {f(s['r_detector_truth'])}, {f(s['gain_detector_truth'])} | "
                     f"{f(s['r_flow_truth'])}, {f(s['gain_flow_truth'])} | {f(s['flow_missing'], '.0%')} |")
    lines += ["", "| source | the detector's gain, mouth width / mouth opening: against the flow | against the truth |",
              "|---|---|---|"]
    for src in dict.fromkeys(s["source"] for s in summ):
        r = next(s for s in summ if s["source"] == src)
        lines.append(f"| {src} | {f(r['width_over_opening_gain_flow'])} | {f(r['width_over_opening_gain_truth'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    corpus_arguments(ap, "all", "with its truth", corpus_required=False, detector=True,
                     cache_help="where landmark tracks are cached (the real videos' tracks and flow in its folder real/)")
    ap.add_argument("--flow-cache", type=Path, default=None, help="where the corpus's flow is cached (default: --cache)")
    ap.add_argument("--video", type=Path, action="append", default=[], help="a real video (repeatable)")
    ap.add_argument("--max-size", type=int, default=256, help="the flow's crop size (0: full resolution)")
    ap.add_argument("--out", type=Path, default=None, help="also write every clip's numbers as JSON")
    args = ap.parse_args(argv)
    if args.corpus is None and not args.video:
        ap.error("give --corpus, --video or both")
    from pipeline.fitting.config import FlowConfig

    cfg = FlowConfig(max_size=args.max_size)
    try:
        clips = (generated_clips(args.corpus, args.cache, args.photo, args.flow_cache or args.cache, cfg, args.detector)
                 if args.corpus else [])
        clips += real_clips(args.video, args.cache, cfg, args.detector)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        rows = [measure(c) for c in clips]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summ = summary(rows)
    print(markdown(summ))
    if args.out is not None:
        from emoface.utils.atomic import write_json_atomic

        write_json_atomic(args.out, {"argv": sys.argv[1:] if argv is None else list(argv), "summary": summ, "clips": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
