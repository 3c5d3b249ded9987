"""Levers of a fit that keeps the expression (issue 15, item 3): every setting measured against the truth.

One generated corpus is decoded and landmarked once (the tracks are cached in ``--cache``);
every variant then reruns only identity -> fit -> smooth -> canonical -> QA metrics on those
tracks (:func:`bench.bench_fit.fit_actor`, the build's own code) and, with ``--oracle``, the same
fit of the true landmark positions + 1 px noise (the variant's floor). For each variant it reports
the measures of docs/fitting.md ("Measures against the truth"): offset error of the lips and the
eye region (total and dynamic), recognisability (leave one actor out, fitted / oracle / truth),
mouth-opening r, and the CPU time after landmarks relative to decode+landmarks.

Every variant's overrides apply on top of :data:`BEFORE` (the settings before the kept levers
became the defaults), so the table can be reproduced; ``defaults`` measures the code's defaults.

Tuning uses the actors of one photo only (``--photo``, the astronaut by default); the other
photos' actors are the held-out check (``--photo <id> --only baseline,defaults`` measures them).

Usage (the tuning corpus of docs/fitting.md, "Levers measured")::

    python -m pipeline synth --out /tmp/levers/corpus --actors 8 --clips-per-actor 5 --seed 0 --workers 2 --photo astronaut
    python -m bench.bench_levers --corpus /tmp/levers/corpus --cache /tmp/levers/tracks --oracle
    python -m bench.bench_levers --corpus ... --cache ... --only baseline,brows_1.0   # some variants
    python -m bench.bench_levers --corpus ... --cache ... --few-clips 3   # identity from 3 emotional clips vs all
    python -m bench.bench_levers --corpus ... --cache ... --flow-cache F --only defaults,flow_0.3,flow_1,flow_3
    python -m bench.bench_levers --corpus ... --cache T_dlib --detector dlib --only defaults --out dlib.json  # another detector
    python -m bench.bench_levers --corpus ... --cache T --fuse-detector dlib --fuse-cache T_dlib --only defaults --out f.json

The ``flow_*`` variants' optical flow is computed from the videos (:func:`with_flow`), cached in
``--flow-cache``; its CPU time (decoding excluded) counts as time after landmarks.

Writes ``--out`` (JSON, one entry per variant, resumable: variants already in it are skipped
unless ``--redo``) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from bench.corpus_cache import FUSED_POINTS, ClipData, corpus_arguments, fused, load_actors, with_flow

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Variant:
    """One setting of one lever: overrides of ``FitConfig`` (``fit``) and ``SmoothConfig`` (``smooth``)."""

    name: str
    lever: str
    setting: str
    fit: dict = field(default_factory=dict)
    smooth: dict = field(default_factory=dict)
    oracle: bool = False  # always fit the oracle too (the baseline, the combinations, the defaults)
    on_defaults: bool = False  # the overrides apply to the code's defaults instead of :data:`BEFORE`
    routine: bool = True  # measured by ``bench.run_all --only levers`` (``make bench``), not only by hand


def _w(**kw) -> dict:
    return {"landmarks": {"weights": kw}}


def _g(group: str, **kw) -> dict:
    return {group: kw}


#: the settings the levers were measured from (the defaults before issue 15's item 3; the code's defaults
#: now include the kept levers): every variant's overrides apply on top of these
BEFORE: dict = {"prior": {"expression_std": 1.0}, "landmarks": {"weights": {"other": 0.1}},
                "identity": {"expression_reference": "none"}}


def merged(base: dict, over: dict) -> dict:
    """``over`` applied to ``base``, recursively (neither is modified)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


#: the blendshape-score rows (pipeline.fitting.blendshapes.OBSERVED) of the upper face, and of the brows alone
BROWS: list[str] = ["brow_raise", "brow_inner_raise", "brow_furrow"]
UPPER_FACE: list[str] = [*BROWS, "eyelid_close_left", "eyelid_close_right", "cheek_raise"]

#: every lever alone (from :data:`BEFORE`), then combinations of the best; ``defaults``: the code's defaults
VARIANTS: tuple[Variant, ...] = (
    Variant("baseline", "-", "before (expression_std 1.0, other 0.1)", oracle=True),
    Variant("brows_0.6", "landmark weights", "brows 0.6", _w(brows=0.6)),
    Variant("brows_1.0", "landmark weights", "brows 1.0", _w(brows=1.0)),
    Variant("oval_0.5", "landmark weights", "oval 0.5", _w(oval=0.5)),
    Variant("oval_1.0", "landmark weights", "oval 1.0", _w(oval=1.0)),
    Variant("other_0.3", "landmark weights", "other 0.3", _w(other=0.3)),
    Variant("all_landmarks", "landmark weights", "all 468 points (max_landmarks 0)", _g("model", max_landmarks=0)),
    Variant("expr_std_0.2", "expression prior", "expression_std 0.2", _g("prior", expression_std=0.2)),
    Variant("expr_std_0.3", "expression prior", "expression_std 0.3", _g("prior", expression_std=0.3)),
    Variant("expr_std_0.5", "expression prior", "expression_std 0.5", _g("prior", expression_std=0.5)),
    Variant("expr_std_2", "expression prior", "expression_std 2", _g("prior", expression_std=2.0)),
    Variant("expr_std_5", "expression prior", "expression_std 5", _g("prior", expression_std=5.0)),
    Variant("expr_step_1", "fit smoothness", "expression_step_std 1.0", _g("temporal", expression_step_std=1.0)),
    Variant("expr_step_0.1", "fit smoothness", "expression_step_std 0.1", _g("temporal", expression_step_std=0.1)),
    Variant("jaw_step_0.15", "fit smoothness", "jaw_step_std 0.15", _g("temporal", jaw_step_std=0.15)),
    Variant("smooth_off", "Kalman/RTS smoother", "off", smooth={"enabled": False}),
    Variant("smooth_expr_meas_0.02", "Kalman/RTS smoother", "expression measurement_std 0.02",
            smooth={"expression": {"process_std": 0.08, "measurement_std": 0.02}}),
    Variant("smooth_expr_proc_0.2", "Kalman/RTS smoother", "expression process_std 0.2",
            smooth={"expression": {"process_std": 0.2, "measurement_std": 0.05}}),
    Variant("robust_2", "robust loss", "scale 2", _g("robust", scale=2.0)),
    Variant("robust_5", "robust loss", "scale 5", _g("robust", scale=5.0)),
    Variant("robust_huber", "robust loss", "Huber", _g("robust", loss="huber")),
    Variant("identity_300", "identity frames", "frames 300", _g("identity", frames=300)),
    Variant("identity_all", "identity frames", "frames 1000 (all)", _g("identity", frames=1000)),
    Variant("identity_eff_1", "identity frames", "effective_frames 1.0", _g("identity", effective_frames=1.0)),
    Variant("combo_a", "combination", "expression_std 0.5, other 0.3",
            {"prior": {"expression_std": 0.5}, **_w(other=0.3)}, oracle=True),
    Variant("combo_b", "combination", "expression_std 0.5, other 0.3, oval 1.0",
            {"prior": {"expression_std": 0.5}, **_w(other=0.3, oval=1.0)}),
    Variant("combo_c", "combination", "expression_std 0.5, other 0.3, expression_step_std 0.1",
            {"prior": {"expression_std": 0.5}, "temporal": {"expression_step_std": 0.1}, **_w(other=0.3)}, oracle=True),
    Variant("reference_median", "reference expression", "expression_std 0.5, other 0.3, identity.expression_reference "
            "median", {"prior": {"expression_std": 0.5}, "identity": {"expression_reference": "median"}, **_w(other=0.3)},
            oracle=True),
    Variant("defaults", "-", "the code's defaults (kept: expression_std 0.5, other 0.3, reference median)", oracle=True,
            on_defaults=True),
    # the optical-flow term (off in the defaults), on top of the defaults: flow_<weight>
    *(Variant(f"flow_{w:g}", "optical flow", f"defaults + flow weight {w:g} (DIS fast, at the landmarks)",
              {"prior": {"expression_std": 0.5}, **_w(other=0.3), "flow": {"weight": w}}) for w in (0.3, 1.0, 3.0)),
    # the detector's blendshape scores as observations (off in the defaults), on the defaults: blendshapes_<weight>;
    # make bench measures weight 1 only (the others: docs/fitting.md, "Levers measured")
    *(Variant(f"blendshapes_{w:g}", "blendshape scores", f"defaults + blendshapes weight {w:g} (std 0.25, scale 1)",
              {"blendshapes": {"weight": w}}, on_defaults=True, routine=w == 1.0) for w in (0.1, 0.3, 1.0, 3.0, 30.0)),
    *(Variant(f"blendshapes_upper_{w:g}", "blendshape scores", f"defaults + blendshapes weight {w:g}, upper-face rows only",
              {"blendshapes": {"weight": w, "components": UPPER_FACE}}, on_defaults=True, routine=False)
      for w in (0.3, 1.0, 3.0, 30.0)),
    *(Variant(f"blendshapes_brows_{w:g}", "blendshape scores", f"defaults + blendshapes weight {w:g}, brow rows only",
              {"blendshapes": {"weight": w, "components": BROWS}}, on_defaults=True, routine=False)
      for w in (0.3, 1.0, 3.0)),
)


def variant_config(v: Variant):
    """``v``'s ``FitConfig``: its overrides on the code's defaults (``on_defaults``) or on :data:`BEFORE`."""
    from pipeline.fitting.config import load_fit_config

    return load_fit_config(v.fit if v.on_defaults else merged(BEFORE, v.fit), "fit")


def evaluate(v: Variant, data: dict[int, list[ClipData]], model, oracle: bool,
             flow_cache: Path | None = None, true_identity: bool = False) -> dict:
    """Fit every actor of ``data`` with ``v``'s settings; the measures and CPU times."""
    from bench.bench_fit import fit_actor, gt_summary, measures, oracle_track
    from emoface.utils.config import from_dict
    from pipeline.fitting import SmoothConfig
    from pipeline.qa import load_ground_truth

    cfg = variant_config(v)
    scfg = from_dict(SmoothConfig, v.smooth, "smooth")
    flow_cpu = 0.0
    if cfg.flow.weight > 0:
        data, flow_cpu = with_flow(data, cfg.flow, flow_cache or Path("flow-cache"))
    rows, feats, orows, ofeats = [], [], [], []
    totals = {"flow": flow_cpu, "identity": 0.0, "fit": 0.0, "smooth": 0.0, "canonical": 0.0, "qa": 0.0}
    frames, land_cpu, t0 = 0, 0.0, time.time()
    for _, clips in sorted(data.items()):
        tracks = [c.track for c in clips]
        decoded = [{"audio_duration_s": c.audio_s} for c in clips]
        gts = [c.gt for c in clips]
        r, times, f = fit_actor(tracks, decoded, gts, model, cfg, scfg, true_identity)
        rows += r
        feats += f
        for k in totals:
            totals[k] += times.get(k, 0.0)
        frames += sum(t.n_frames for t in tracks)
        land_cpu += sum(c.cpu_s for c in clips)
        if oracle:
            otr = [oracle_track(t, load_ground_truth(g), model, 1.0, i) for i, (t, g) in enumerate(zip(tracks, gts))]
            # the flow is the video's, the same observation in the oracle (its landmarks are the truth's)
            otr = [o if t.flow is None else replace(o, flow=t.flow[:o.n_frames]) for o, t in zip(otr, tracks)]
            r, _, f = fit_actor(otr, decoded, gts, model, cfg, scfg)
            orows += r
            ofeats += f
    per_actor = frames / max(1, sum(len(c) for c in data.values()))
    ms = {"decode+landmarks": 1000 * land_cpu / frames, **{k: 1000 * x / frames for k, x in totals.items()}}
    after = sum(ms[k] for k in totals)
    # the identity fit serves every clip of an actor: at RAVDESS's 60 clips per actor its share is
    # (clips per actor here / 60) of the value here
    clips_per_actor = sum(len(c) for c in data.values()) / len(data)
    after_60 = after - ms["identity"] * (1 - clips_per_actor / 60)
    return {"variant": v.name, "lever": v.lever, "setting": v.setting, "fit": v.fit, "smooth": v.smooth,
            "clips": len(rows), "frames": frames, "mean_frames_per_clip": per_actor, "wall_s": time.time() - t0,
            "ms_per_frame": ms, "after_landmarks_ratio": after / ms["decode+landmarks"],
            "after_landmarks_ratio_60": after_60 / ms["decode+landmarks"],
            "summary": gt_summary(rows), "oracle_summary": gt_summary(orows) if orows else None,
            "measures": measures(rows, orows, feats, ofeats, model.regions)}


def headline(res: dict) -> dict:
    """The issue's goal measures of one variant's result (fitted, and oracle when measured)."""
    m = res["measures"]
    out = {}
    for kind in ("fitted", "oracle"):
        off = (m["offsets"].get(kind) or {}).get("regions")
        if not off:
            continue
        rec = (m.get("recognisability") or {}).get(kind) or {}
        s = res["summary"] if kind == "fitted" else res["oracle_summary"]
        out[kind] = {"lips": off["lips"]["total"], "lips_dynamic": off["lips"]["dynamic"],
                     "lips_static": off["lips"]["static"], "eye_region": off["eye_region"]["total"],
                     "face": off["face"]["total"], "recognisability": rec.get("accuracy"),
                     "mouth_r": s["mouth_r_mean"], "vertex_error_mm": s["vertex_error_mm_face"]}
    out["truth_recognisability"] = ((m.get("recognisability") or {}).get("truth") or {}).get("accuracy")
    return out


def _f(v, fmt=".2f") -> str:
    return "-" if v is None else format(v, fmt)


def markdown(results: dict[str, dict]) -> str:
    """One row per variant: fitted / oracle for every goal measure, and the time after landmarks."""
    lines = ["| lever | setting | lips offset mm | lips dynamic mm | eye region mm | face mm | recognisability | "
             "mouth r | after landmarks (at 60 clips/actor) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for res in results.values():
        h = headline(res)
        a, o = h.get("fitted", {}), h.get("oracle", {})

        def cell(k, fmt=".2f"):
            return _f(a.get(k), fmt) + (f" / {_f(o.get(k), fmt)}" if o else "")

        lines.append(f"| {res['lever']} | {res['setting']} | {cell('lips')} | {cell('lips_dynamic')} | "
                     f"{cell('eye_region')} | {cell('face')} | {cell('recognisability')} | {cell('mouth_r', '.3f')} | "
                     f"{100 * res['after_landmarks_ratio']:.0f}% ({100 * res['after_landmarks_ratio_60']:.0f}%) |")
    truth = next((headline(r)["truth_recognisability"] for r in results.values()), None)
    lines += ["", f"Each cell: fitted from the detector's landmarks / oracle (true landmarks + 1 px noise, same settings) "
              f"where measured. Recognisability of the true meshes: {_f(truth)}."]
    return "\n".join(lines)


def few_clips(data: dict[int, list[ClipData]], model, n: int = 3) -> dict:
    """Identity from ``n`` emotional clips (no neutral one) against identity from all of an actor's clips.

    For each actor with ``n`` non-neutral clips: the template difference (mean vertex distance in mm
    between the two fitted templates: shape and reference expression) and the offset errors of
    those ``n`` clips fitted either way (issue 15: the split between identity and held expression
    must hold for a build with few clips and no neutral one). The code's default settings.
    """
    from bench.bench_fit import fit_actor
    from emoface.data.ravdess import parse_name
    from pipeline.fitting import FitConfig, SmoothConfig, fit_identity
    from pipeline.fitting.canonical import identity_template
    from pipeline.fitting.schemes import config_for_scheme
    from pipeline.qa.emotion import offset_summary

    cfg, scfg = FitConfig(), SmoothConfig()
    diffs, rows_few, rows_all = [], [], []
    for _, clips in sorted(data.items()):
        few = [c for c in clips if int(parse_name(c.track.clip_id).emotion) != 1][:n]
        if len(few) < n:
            continue
        icfg = config_for_scheme(cfg, model.landmark_embeddings, clips[0].track.scheme)  # as fit_actor does
        templates = [identity_template(fit_identity([c.track for c in subset], model, cfg=icfg), model)
                     for subset in (clips, few)]
        diffs.append(1000 * float(np.linalg.norm(templates[0] - templates[1], axis=1).mean()))
        ids = {c.track.clip_id for c in few}
        for subset, out in ((clips, rows_all), (few, rows_few)):
            r, _, _ = fit_actor([c.track for c in subset], [{"audio_duration_s": c.audio_s} for c in subset],
                                [c.gt for c in subset], model, cfg, scfg)
            out += [x for x in r if x["clip_id"] in ids]
    return {"clips_per_actor": n, "actors": len(diffs), "template_difference_mm": diffs,
            "template_difference_mm_mean": float(np.mean(diffs)) if diffs else None,
            "offsets_identity_from_all": offset_summary(rows_all), "offsets_identity_from_few": offset_summary(rows_few)}


def run(corpus: Path, cache: Path, photo: str, variants: list[Variant], oracle: bool, out: Path | None = None,
        redo: bool = False, flow_cache: Path | None = None, detector: str = "mediapipe",
        fuse: tuple[str, Path, str] | None = None) -> dict[str, dict]:
    """Measure ``variants`` on ``photo``'s actors of ``corpus`` landmarked by ``detector`` (results by name;
    resumes from ``out``, whose entries must be of the same detector). ``fuse``: ``(detector, cache, points)``,
    a second detector's iBUG-68 points averaged into the first's (:func:`bench.corpus_cache.fused`).
    ``ValueError`` (one line, naming the argument or file at fault) for inputs that do not fit."""
    from emoface.morphable import load
    from emoface.utils.atomic import write_json_atomic

    try:
        data = load_actors(corpus, cache, photo, detector)
    except ValueError as exc:
        raise ValueError(f"--corpus/--photo: {exc}") from exc
    if fuse is not None:
        try:
            data = fused(data, load_actors(corpus, fuse[1], photo, fuse[0]), fuse[2])
        except ValueError as exc:
            raise ValueError(f"--fuse-cache {fuse[1]}: {exc}") from exc
        detector = f"{detector}+{fuse[0]} ({fuse[2]} points)"
    model = load("demo")
    results: dict = json.loads(out.read_text()) if out is not None and out.is_file() else {}
    for v in variants:
        if v.name in results and not redo:
            if results[v.name].get("detector", "mediapipe") != detector:
                raise ValueError(f"{out}: {v.name} was measured with the detector {results[v.name].get('detector', 'mediapipe')!r}, "
                                 f"not {detector!r} (give another --out, or --redo)")
            continue
        print(f"variant {v.name} ...", file=sys.stderr, flush=True)
        results[v.name] = evaluate(v, data, model, oracle or v.oracle, flow_cache or cache)
        results[v.name]["actors"] = sorted(data)
        results[v.name]["photo"] = photo
        results[v.name]["detector"] = detector
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(out, results)
        print(markdown({v.name: results[v.name]}).splitlines()[2], file=sys.stderr, flush=True)
    return {v.name: {**results[v.name], "lever": v.lever, "setting": v.setting} for v in variants if v.name in results}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    corpus_arguments(ap, "astronaut", "tuned on its --photo actors", detector=True)
    ap.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    ap.add_argument("--extra", default="[]", help='JSON list of more variants: [{"name":, "lever":, "setting":, "fit":, "smooth":}]')
    ap.add_argument("--oracle", action="store_true", help="fit the true landmarks (+1 px) with every variant "
                    "(default: only those marked, the baseline, combinations and defaults)")
    ap.add_argument("--redo", action="store_true", help="re-measure variants already in --out")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--flow-cache", type=Path, default=None, help="the flow variants' flow cache (default: --cache)")
    ap.add_argument("--few-clips", type=int, default=0, help="instead: identity from N emotional clips vs all clips")
    ap.add_argument("--fuse-detector", default=None, choices=("dlib", "fan"), help="a second detector (iBUG-68) whose "
                    "points are averaged into --detector's (mediapipe) at the same places")
    ap.add_argument("--fuse-cache", type=Path, default=None, help="where the second detector's tracks are cached")
    ap.add_argument("--fuse-points", default="all", choices=sorted(FUSED_POINTS), help="which of its 68 points")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "levers.json")
    args = ap.parse_args(argv)
    import torch

    try:
        extra = [Variant(**d) for d in json.loads(args.extra)]
    except (ValueError, TypeError) as exc:
        ap.error(f"--extra: {exc}")
    variants = list(VARIANTS) + extra
    if args.only:
        names = args.only.split(",")
        unknown = sorted(set(names) - {v.name for v in variants})
        if unknown:
            ap.error(f"--only: unknown variant(s) {unknown}")
        variants = [v for v in variants if v.name in names]
    torch.set_num_threads(args.threads)
    if (args.fuse_detector is None) != (args.fuse_cache is None):
        ap.error("--fuse-detector and --fuse-cache go together")
    fuse = None if args.fuse_detector is None else (args.fuse_detector, args.fuse_cache, args.fuse_points)
    if fuse is not None and args.few_clips:
        ap.error("--few-clips measures one detector's tracks: leave out --fuse-detector")
    if args.few_clips:
        from emoface.morphable import load
        from emoface.utils.atomic import write_json_atomic

        try:
            data = load_actors(args.corpus, args.cache, args.photo, args.detector)
        except ValueError as exc:
            ap.error(f"--corpus/--photo: {exc}")
        res = few_clips(data, load("demo"), args.few_clips)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.out, res)
        for k in ("offsets_identity_from_all", "offsets_identity_from_few"):
            reg = (res[k] or {}).get("regions", {})
            print(k, {r: {m: round(v[m], 3) for m in ("total", "static", "dynamic")} for r, v in reg.items()})
        print("template difference mm (mean over actors):", _f(res["template_difference_mm_mean"]))
        return 0
    try:
        results = run(args.corpus, args.cache, args.photo, variants, args.oracle, args.out, args.redo, args.flow_cache,
                      args.detector, fuse)
    except ValueError as exc:
        ap.error(str(exc))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
