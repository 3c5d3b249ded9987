"""Fitting accuracy and speed: the generated corpus (against its ground truth) and a real RAVDESS clip.

Runs the same code as ``build-dataset ravdess`` (decode -> landmarks -> identity -> fit ->
smooth -> canonical -> QA metrics) in one process and reports:

- generated corpus (demo head): mean vertex error of the front-facing mesh against the
  ground truth in mm (whole face, lips, eye region; frame-weighted), the error after one
  similarity alignment per clip, the mouth-opening Pearson r, landmark errors of the fit
  and of the detector against the true landmark positions; plus an *oracle* run that
  fits the true landmark positions (+1 px noise) instead of the detector's, which
  separates the fitter's own error from the detector's bias;
- the real RAVDESS clip: median landmark reprojection error (% of the inter-ocular
  distance, all 468 embedded points);
- CPU time per frame of decode+landmarks and of every later step, in the same run;
- the measures against the truth (offset errors per region, static and dynamic, and emotion
  recognisability; fitted, oracle and truth), see ``bench.bench_measures`` and docs/fitting.md.

Usage::

    build-dataset synth --out /tmp/corpus --actors 4 --clips-per-actor 6
    python bench/bench_fit.py --corpus /tmp/corpus --out bench/results/fit.json

Prints a Markdown block for BENCHMARKS.md ("## Fitting accuracy") and writes the JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RAVDESS_CLIP = ROOT.parent / "shared" / "assets" / "ravdess" / "video" / "01-01-01-01-02-01-05.mp4"


def _cpu() -> float:
    return time.process_time()


def decode_and_landmark(path: Path, detector: str = "mediapipe") -> tuple[dict, object, float]:
    """The build's decode and landmarks stages on one clip with ``detector`` (its default settings):
    (decoded arrays, track, CPU seconds)."""
    from pipeline.fitting import LandmarkTrack
    from pipeline.stages.config import DecodeConfig, LandmarksConfig
    from pipeline.stages.decode import decode_clip
    from pipeline.stages.landmarks import LandmarkCollector

    c0 = _cpu()
    dcfg = DecodeConfig()
    with LandmarkCollector(LandmarksConfig(detector=detector), dcfg.fps) as col:
        decoded = decode_clip(path, dcfg, sink=col.feed)
        a = col.arrays()
    # every field as the build's fit stage reads it (blendshape names included: the jaw's initial
    # opening comes from the named jawOpen score)
    track = LandmarkTrack.from_arrays(a, path.stem)
    return decoded, track, _cpu() - c0


def oracle_track(track, gt, model, noise_px: float, seed: int):
    """The track with its landmarks replaced by the true ones (+ Gaussian noise), in the track's scheme
    (:func:`pipeline.qa.oracle.oracle_arrays`, as the build's report makes them)."""
    from pipeline.fitting import LandmarkTrack
    from pipeline.qa.oracle import oracle_arrays

    return LandmarkTrack.from_arrays(oracle_arrays(track.arrays(), gt, model, noise_px, seed), track.clip_id)


def fit_actor(tracks, decoded, gts, model, cfg, scfg, true_identity: bool = False
              ) -> tuple[list[dict], dict, list[dict[str, np.ndarray]]]:
    """Identity + per-clip fit, smoothing, canonical meshes and QA metrics with CPU times.

    Also returns each clip's expression features (``fitted``/``truth`` clip-mean offsets, see
    :mod:`emoface.eval.recognisability`; empty without ground truth). ``true_identity``: the
    identity fit's shape and camera replaced by the truth's (``gts[0]``), zero reference
    expression - a floor experiment (``bench.bench_true_identity``).
    """
    from pipeline.fitting import canonicalize, fit_clip, fit_identity, smooth_clip
    from pipeline.qa import clip_metrics
    from pipeline.qa.emotion import FEATURE_KEYS

    from pipeline.fitting.schemes import config_for_scheme

    times = {"identity": 0.0, "fit": 0.0, "smooth": 0.0, "canonical": 0.0, "qa": 0.0}
    cfg = config_for_scheme(cfg, model.landmark_embeddings, tracks[0].scheme)  # as the build: iBUG tracks, iBUG embedding
    c0 = _cpu()
    ident = fit_identity(tracks, model, cfg=cfg)
    times["identity"] = _cpu() - c0
    if true_identity:
        import dataclasses

        from emoface.mesh.camera import PinholeCamera

        with np.load(gts[0]) as z:
            shape = np.zeros_like(np.asarray(ident.shape, np.float32))
            n = min(len(shape), len(z["shape"]))
            shape[:n] = z["shape"][:n]
            ident = dataclasses.replace(ident, shape=shape, camera=PinholeCamera.from_array(z["camera"]),
                                        expression_reference=np.zeros(0, np.float32))
    rows, feats = [], []
    for tr, dec, gt in zip(tracks, decoded, gts):
        c0 = _cpu()
        raw = fit_clip(tr, ident, model, cfg=cfg)
        c1 = _cpu()
        fit = smooth_clip(raw, scfg)
        c2 = _cpu()
        verts, template = canonicalize(fit, ident, model)
        c3 = _cpu()
        audio_s = float(dec["audio_duration_s"]) if dec is not None else None
        m, curves = clip_metrics(tr, raw, fit, verts, model, tr.fps, audio_s, gt, template)
        c4 = _cpu()
        for k, a, b in (("fit", c0, c1), ("smooth", c1, c2), ("canonical", c2, c3), ("qa", c3, c4)):
            times[k] += b - a
        rows.append({"clip_id": tr.clip_id, "n_frames": tr.n_frames, "iterations": raw.iterations, **m})
        feats.append({k: curves[key] for k, key in FEATURE_KEYS.items() if key in curves})
    times["fov_y_deg"] = float(2 * np.degrees(np.arctan(0.5 * tracks[0].height / ident.camera.fy)))
    return rows, times, feats


def size_floor(model, shape: np.ndarray) -> dict:
    """What the unobservable face size alone costs: the truth against its nearest mean-size shape.

    The fit pins the shape coefficient along :func:`pipeline.fitting.identity.scale_direction`
    to the model's mean size (a pinhole image cannot show size). The shape nearest to the true
    one (least squares over all vertices) among those with that coefficient at zero is the
    best any such fit can reach; returns its mean vertex distance to the truth in mm and the
    true size relative to it (mean distance of the vertices from their centroid).
    """
    from scipy.linalg import null_space

    from pipeline.fitting.identity import scale_direction

    shape = np.asarray(shape, np.float64).reshape(-1)
    S = min(len(shape), np.asarray(model.shapedirs).shape[-1])
    shape = shape[:S]
    u = scale_direction(model, S)
    V = np.asarray(model.v_template).shape[0]
    D = np.asarray(model.shapedirs, np.float64)[..., :S].reshape(V * 3, S)
    if not np.any(u):
        return {"size_floor_mm": 0.0, "size_ratio": 1.0}
    N = null_space(u[None])  # (S, S-1): shapes at the mean size
    y = np.linalg.lstsq(D @ N, D @ shape, rcond=None)[0]
    diff = (D @ (N @ y - shape)).reshape(V, 3)
    true = np.asarray(model.v_template, np.float64) + (D @ shape).reshape(V, 3)
    pinned = true + diff
    spread = lambda v: np.linalg.norm(v - v.mean(0), axis=1).mean()  # noqa: E731
    return {"size_floor_mm": float(1000 * np.linalg.norm(diff, axis=1).mean()),
            "size_ratio": float(spread(true) / spread(pinned))}


def gt_summary(rows: list[dict]) -> dict:
    """Frame-weighted mean vertex errors and clip statistics of the ground-truth metrics."""
    g = [(r["ground_truth"], r["n_frames"]) for r in rows if r.get("ground_truth")]
    w = np.array([n for _, n in g], np.float64)
    out = {"clips": len(g), "frames": int(w.sum())}
    for region in ("face", "lips", "eye_region"):
        out[f"vertex_error_mm_{region}"] = float(np.average([x["vertex_error_mm"][region] for x, _ in g], weights=w))
    out["vertex_error_aligned_mm"] = float(np.average([x["vertex_error_aligned_mm"] for x, _ in g], weights=w))
    r = np.array([x["mouth_correlation"] for x, _ in g])
    out["mouth_r_mean"], out["mouth_r_min"] = float(r.mean()), float(r.min())
    out["mouth_error_mm"] = float(np.average([x["mouth_error_mm"] for x, _ in g], weights=w))
    out["landmark_error_iod_fit"] = float(np.average([x["landmark_error_iod"] for x, _ in g], weights=w))
    out["landmark_error_iod_detector"] = float(np.average([x.get("detector_error_iod", np.nan) for x, _ in g], weights=w))
    out["reprojection_iod_median"] = float(np.median([x["reprojection_iod"] for x, _ in [(r_, 0) for r_ in rows]]))
    out["jitter_mm"] = float(np.mean([r_["jitter_mm"] for r_ in rows]))
    out["raw_jitter_mm"] = float(np.mean([r_["raw_jitter_mm"] for r_ in rows]))
    sized = [(r_["size_floor_mm"], r_["n_frames"]) for r_ in rows if "size_floor_mm" in r_]
    if sized:
        out["size_floor_mm"] = float(np.average([x for x, _ in sized], weights=[n for _, n in sized]))
    return out


def measures(rows: list[dict], oracle_rows: list[dict], feats: list[dict], oracle_feats: list[dict],
             regions: dict | None = None) -> dict:
    """The measures against the truth (docs/fitting.md): offset errors per region and recognisability.

    ``offsets``: :func:`pipeline.qa.emotion.offset_summary` of the fitted and the oracle clips
    (each with the truth's magnitudes, ``true_*``), per photo when the ground truth records
    one (empty ``oracle_rows``/``oracle_feats``: no oracle); ``recognisability``: leave-one-actor-out accuracy of the fitted, oracle and true
    meshes with the same folds, per emotion and per photo; with the model's ``regions``, ``static_split``:
    :func:`pipeline.qa.emotion.static_split` of :data:`pipeline.qa.emotion.SPLIT_REGIONS`.
    """
    from emoface.data.ravdess import parse_name
    from pipeline.qa.emotion import (ClipFeatures, corpus_recognisability, feature_region_codes, offset_summary,
                                     region_masks, static_split)

    with_oracle = bool(oracle_feats)
    cf, oracle = ClipFeatures(), []
    for r, f, of in zip(rows, feats, oracle_feats if with_oracle else [{"fitted": None}] * len(rows)):
        name = parse_name(r["clip_id"])
        photo = (r.get("ground_truth") or {}).get("photo")
        if "fitted" in of and cf.add({"gt_expression_feature_fit": f.get("fitted"), "gt_expression_feature_true": f.get("truth")},
                                     name.emotion, name.actor, photo):
            oracle.append(np.asarray(of["fitted"], np.float64))
    extra = {"oracle": oracle} if with_oracle else None
    rec = corpus_recognisability(cf, extra) if len(cf) else None
    out = {"offsets": {"fitted": offset_summary(rows), "oracle": offset_summary(oracle_rows)}, "recognisability": rec}
    if regions is not None and len(cf):
        out["static_split"] = static_split(cf, region_masks(feature_region_codes(regions)), extra)
    return out


def run_corpus(corpus: Path, actors: list[int] | None, per_actor: int, cfg, scfg, model) -> dict:
    from pipeline.qa import load_ground_truth

    by_actor: dict[int, list[Path]] = {}
    for p in sorted(corpus.glob("Actor_*/*.mp4")):
        a = int(p.stem.split("-")[-1])
        if actors is None or a in actors:
            by_actor.setdefault(a, []).append(p)
    res = {"rows": [], "oracle_rows": [], "actors": {}, "decode_landmarks_cpu_s": 0.0, "frames": 0}
    feats, oracle_feats = [], []
    totals = {"identity": 0.0, "fit": 0.0, "smooth": 0.0, "canonical": 0.0, "qa": 0.0}
    for a, paths in sorted(by_actor.items()):
        paths = paths[:per_actor] if per_actor else paths
        decoded, tracks, gts = [], [], []
        for p in paths:
            dec, tr, cpu = decode_and_landmark(p)
            res["decode_landmarks_cpu_s"] += cpu
            res["frames"] += tr.n_frames
            decoded.append(dec)
            tracks.append(tr)
            gts.append(str(corpus / "ground_truth" / f"{p.stem}.npz"))
        rows, times, f = fit_actor(tracks, decoded, gts, model, cfg, scfg)
        feats += f
        with np.load(gts[0]) as z:
            size = size_floor(model, z["shape"]) if "shape" in z else {}
        for r in rows:
            r.update(size)
        res["rows"] += rows
        res["actors"][a] = {"fov_y_deg": times.pop("fov_y_deg"), "identity_cpu_s": times["identity"], **size}
        for k in totals:
            totals[k] += times[k]
        oracle = [oracle_track(tr, load_ground_truth(g), model, 1.0, i) for i, (tr, g) in enumerate(zip(tracks, gts))]
        orows, _, of = fit_actor(oracle, decoded, gts, model, cfg, scfg)
        oracle_feats += of
        for r in orows:
            r.update(size)
        res["oracle_rows"] += orows
        print(f"actor {a:02d}: {len(paths)} clips, fov {res['actors'][a]['fov_y_deg']:.1f}", file=sys.stderr, flush=True)
    n = res["frames"]
    res["ms_per_frame"] = {"decode+landmarks": 1000 * res["decode_landmarks_cpu_s"] / n,
                           **{k: 1000 * v / n for k, v in totals.items()}}
    after = sum(res["ms_per_frame"][k] for k in totals)
    res["after_landmarks_ratio"] = after / res["ms_per_frame"]["decode+landmarks"]
    res["summary"] = gt_summary(res["rows"])
    res["oracle_summary"] = gt_summary(res["oracle_rows"])
    res["measures"] = measures(res["rows"], res["oracle_rows"], feats, oracle_feats, model.regions)
    return res


def run_ravdess(path: Path, cfg, scfg, model) -> dict:
    if not path.is_file():
        return {"skipped": f"{path} not found"}
    dec, tr, cpu = decode_and_landmark(path)
    rows, times, _ = fit_actor([tr], [dec], [None], model, cfg, scfg)
    r = rows[0]
    return {"clip": path.name, "n_frames": tr.n_frames, "detection_rate": r["detection_rate"],
            "reprojection_iod_median": r["reprojection_iod"], "raw_reprojection_iod_median": r["raw_reprojection_iod"],
            "reprojection_px_median": r["reprojection_px"], "inter_ocular_px": r["inter_ocular_px"],
            "jitter_mm": r["jitter_mm"], "raw_jitter_mm": r["raw_jitter_mm"], "fov_y_deg": times["fov_y_deg"],
            "ms_per_frame": {"decode+landmarks": 1000 * cpu / tr.n_frames,
                             **{k: 1000 * v / tr.n_frames for k, v in times.items() if k != "fov_y_deg"}}}


def markdown(res: dict, command: str) -> str:
    s, o, rv = res["corpus"]["summary"], res["corpus"]["oracle_summary"], res["ravdess"]
    ms = res["corpus"]["ms_per_frame"]
    lines = [
        f"Measured {res['date']} on {res['machine']} (torch threads {res['torch_threads']}), command: `{command}`.",
        "",
        f"Generated corpus ({s['clips']} clips, {s['frames']} frames, demo head), fitted front-facing mesh vs ground truth:",
        "",
        "| landmarks fitted | face mm | lips mm | eye region mm | after similarity mm | mouth r (mean / min) | landmark err % IOD (fit / detector) |",
        "|---|---|---|---|---|---|---|",
        f"| MediaPipe detections (the build) | {s['vertex_error_mm_face']:.2f} | {s['vertex_error_mm_lips']:.2f} | "
        f"{s['vertex_error_mm_eye_region']:.2f} | {s['vertex_error_aligned_mm']:.2f} | {s['mouth_r_mean']:.3f} / {s['mouth_r_min']:.3f} | "
        f"{100 * s['landmark_error_iod_fit']:.2f} / {100 * s['landmark_error_iod_detector']:.2f} |",
        f"| oracle: true landmarks + 1 px noise | {o['vertex_error_mm_face']:.2f} | {o['vertex_error_mm_lips']:.2f} | "
        f"{o['vertex_error_mm_eye_region']:.2f} | {o['vertex_error_aligned_mm']:.2f} | {o['mouth_r_mean']:.3f} / {o['mouth_r_min']:.3f} | "
        f"{100 * o['landmark_error_iod_fit']:.2f} / {100 * o['landmark_error_iod_detector']:.2f} |",
        "",
    ]
    if "skipped" not in rv:
        lines += [f"Real RAVDESS clip `{rv['clip']}` ({rv['n_frames']} frames): median landmark reprojection error "
                  f"{100 * rv['reprojection_iod_median']:.2f}% of the inter-ocular distance ({rv['reprojection_px_median']:.2f} px, "
                  f"IOD {rv['inter_ocular_px']:.0f} px), before smoothing {100 * rv['raw_reprojection_iod_median']:.2f}%; "
                  f"jitter {rv['jitter_mm']:.3f} mm/frame² (before smoothing {rv['raw_jitter_mm']:.3f}).", ""]
    lines += ["CPU time per frame (ms), same run, generated corpus:", "",
              "| decode+landmarks | identity | fit | smooth | canonical | QA metrics | after landmarks / decode+landmarks |",
              "|---|---|---|---|---|---|---|",
              f"| {ms['decode+landmarks']:.2f} | {ms['identity']:.2f} | {ms['fit']:.2f} | {ms['smooth']:.2f} | "
              f"{ms['canonical']:.2f} | {ms['qa']:.2f} | {100 * res['corpus']['after_landmarks_ratio']:.0f}% |"]
    if (res["corpus"].get("measures") or {}).get("recognisability"):
        from bench.bench_measures import markdown as measures_markdown

        c = res["corpus"]
        lines += ["", "Measures against the truth (docs/fitting.md), this corpus:", "",
                  measures_markdown({"size": {"seeds": ["-"], "actors": len(c["actors"]),
                                              "clips_per_actor": res.get("clips_per_actor") or "all"}, "seeds": {"-": c}})]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True, help="a `build-dataset synth` folder")
    ap.add_argument("--actors", default="", help="comma-separated actor numbers (default: all)")
    ap.add_argument("--clips-per-actor", type=int, default=0)
    ap.add_argument("--ravdess", type=Path, default=RAVDESS_CLIP)
    ap.add_argument("--fit", default="{}", help="JSON overrides of FitConfig")
    ap.add_argument("--smooth", default="{}", help="JSON overrides of SmoothConfig")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: per-core numbers)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fit.json")
    args = ap.parse_args(argv)
    import torch

    from emoface.morphable import load
    from emoface.utils.config import from_dict, to_dict
    from pipeline.fitting import SmoothConfig
    from pipeline.fitting.config import load_fit_config

    torch.set_num_threads(args.threads)
    cfg = load_fit_config(json.loads(args.fit), "fit")
    scfg = from_dict(SmoothConfig, json.loads(args.smooth), "smooth")
    model = load("demo")
    actors = [int(a) for a in args.actors.split(",") if a] or None
    res = {
        "date": dt.date.today().isoformat(), "machine": f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python {platform.python_version()}, torch {torch.__version__}",
        "torch_threads": args.threads, "fit_config": to_dict(cfg), "smooth_config": to_dict(scfg),
        "corpus": run_corpus(args.corpus, actors, args.clips_per_actor, cfg, scfg, model),
        "clips_per_actor": args.clips_per_actor,
        "ravdess": run_ravdess(args.ravdess, cfg, scfg, model),
    }
    command = "python bench/bench_fit.py " + " ".join(argv if argv is not None else sys.argv[1:])
    res["command"] = command
    res["markdown"] = markdown(res, command)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from emoface.utils.atomic import write_json_atomic

    write_json_atomic(args.out, res)
    print(res["markdown"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
