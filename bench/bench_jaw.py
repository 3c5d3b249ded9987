"""Where the fit puts the mouth's opening: the fitted jaw against the true jaw, per photo.

The lips' static offset error is mostly common to an actor's clips, vertical and in depth
(BENCHMARKS.md, "Measures against the truth"). The generated corpus opens the mouth with the
jaw; this compares a build's fitted parameters with the truth's, clip by clip, where both come
from the same morphable model (the generated corpus and a build with the demo head)::

    python -m bench.bench_jaw --build OUT --corpus C [--json FILE]

``OUT`` is a ``build-dataset ravdess`` output (its ``work/smooth/<clip>.npz``), ``C`` the generated
corpus it was built from (``ground_truth/<clip>.npz``). Per photo: the clips' mean jaw opening
(radians about x) fitted and true, the median slope of the fitted opening on the true one within
a clip (its dynamic gain), and the expression components whose clip means differ most from the
truth's (fitted against true, averaged over the clips).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def build_model(build: Path):
    """The morphable model the build fitted (its resolved ``config.yaml``'s ``model``)."""
    from emoface.morphable import load
    from pipeline.stages.config import load_build_config

    return load(load_build_config(build / "config.yaml").model)


def clip_rows(build: Path, corpus: Path, model_name: str) -> list[dict]:
    """One row per clip of ``build`` with a ground truth in ``corpus`` drawn in the model ``model_name``: photo,
    mean jaw opening fitted and true, the within-clip slope, and the clip-mean expression fitted and true (the
    truth's components)."""
    truths = {p.stem: p for p in corpus.rglob("ground_truth/*.npz")}
    rows = []
    for p in sorted((build / "work" / "smooth").glob("*.npz")):
        gt = truths.get(p.stem)
        if gt is None:
            continue
        with np.load(p) as f, np.load(gt) as g:
            if (not {"jaw", "expression"} <= set(g.files) or str(g["model"]) != model_name
                    or g["expression"].shape[1] > f["expression"].shape[1]):
                continue  # not a truth in the fitted model's parameters
            T = min(len(f["jaw"]), len(g["jaw"]))
            fj, tj = f["jaw"][:T, 0].astype(np.float64), g["jaw"][:T, 0].astype(np.float64)
            E = g["expression"].shape[1]
            names = [str(n) for n in g["expression_names"]] if "expression_names" in g.files else [str(k) for k in range(E)]
            slope = float(np.polyfit(tj, fj, 1)[0]) if T > 2 and tj.std() > 0 else float("nan")
            rows.append({"clip_id": p.stem, "photo": str(g["photo"]) if "photo" in g.files else "-",
                         "jaw_fitted": float(fj.mean()), "jaw_true": float(tj.mean()), "slope": slope, "names": names,
                         "expression_fitted": f["expression"][:T, :E].mean(0).astype(np.float64),
                         "expression_true": g["expression"][:T].mean(0).astype(np.float64)})
    return rows


#: MediaPipe points whose vertical motion against the nose tip (1) is compared with the truth's
GAIN_POINTS = {"chin": 152, "lower_lip": 17, "upper_lip": 0}


def detector_gains(build: Path, corpus: Path, model) -> dict[str, dict[str, float]]:
    """Per photo, the median over clips of the detector's vertical motion of :data:`GAIN_POINTS` against the
    truth's (least-squares gain and Pearson r; each relative to the nose tip, its clip mean removed), from the
    build's MediaPipe landmarks and the true landmarks (``pipeline.qa.oracle.oracle_landmarks``, no noise)."""
    from pipeline.qa import load_ground_truth
    from pipeline.qa.oracle import oracle_landmarks

    truths = {p.stem: p for p in corpus.rglob("ground_truth/*.npz")}
    per: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for p in sorted((build / "work" / "landmarks").glob("*.npz")):
        if p.stem not in truths:
            continue
        with np.load(p) as a:
            if not str(a["scheme"]).startswith("mediapipe"):
                continue
            gt = load_ground_truth(truths[p.stem])
            if gt.model != model.name:
                continue
            true = oracle_landmarks(a["landmarks"], str(a["scheme"]), gt, model, 0.0, 0)
            det, ok = a["landmarks"][: len(true)], a["valid"][: len(true)].astype(bool)
        photo = str(gt.photo) if getattr(gt, "photo", None) else "-"
        for name, k in GAIN_POINTS.items():
            d, t = det[ok, k, 1] - det[ok, 1, 1], true[ok, k, 1] - true[ok, 1, 1]
            d, t = d - d.mean(), t - t.mean()
            if len(t) > 2 and t.std() > 0 and d.std() > 0:
                per.setdefault(photo, {}).setdefault(name, []).append((float(d @ t / (t @ t)), float(np.corrcoef(d, t)[0, 1])))
    return {ph: {f"{n}_{w}": float(np.median([x[i] for x in g[n]])) if g.get(n) else float("nan")
                 for n in GAIN_POINTS for i, w in enumerate(("gain", "r"))} for ph, g in sorted(per.items())}


def summary(rows: list[dict], top: int = 3) -> dict[str, dict]:
    """Per photo (and ``all``): clips, mean jaw fitted / true and their ratio, the median slope, and the
    ``top`` components with the largest difference of the mean expressions (name, fitted, true)."""
    out = {}
    groups = {"all": rows, **{ph: [r for r in rows if r["photo"] == ph] for ph in sorted({r["photo"] for r in rows})}}
    for ph, rs in groups.items():
        if not rs:
            continue
        fj, tj = np.mean([r["jaw_fitted"] for r in rs]), np.mean([r["jaw_true"] for r in rs])
        fe, te = np.mean([r["expression_fitted"] for r in rs], 0), np.mean([r["expression_true"] for r in rs], 0)
        order = np.argsort(-np.abs(fe - te))[:top]
        out[ph] = {"clips": len(rs), "jaw_fitted": float(fj), "jaw_true": float(tj),
                   "jaw_ratio": float(fj / tj) if tj else float("nan"),
                   "slope": float(np.nanmedian([r["slope"] for r in rs])),
                   "expression": [(rs[0]["names"][k], float(fe[k]), float(te[k])) for k in order]}
    return out


def markdown(s: dict[str, dict]) -> str:
    lines = ["| photo | clips | mean jaw fitted / true (rad) | fitted / true | within-clip slope | largest mean expression "
             "differences (fitted vs true) |", "|---|---|---|---|---|---|"]
    for ph, r in s.items():
        ex = ", ".join(f"{n} {f:.2f} vs {t:.2f}" for n, f, t in r["expression"])
        lines.append(f"| {ph} | {r['clips']} | {r['jaw_fitted']:.4f} / {r['jaw_true']:.4f} | {r['jaw_ratio']:.2f} | "
                     f"{r['slope']:.2f} | {ex} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", type=Path, required=True, help="a build-dataset ravdess output folder")
    ap.add_argument("--corpus", type=Path, required=True, help="the generated corpus it was built from")
    ap.add_argument("--json", type=Path, default=None, help="also write the summary as JSON")
    args = ap.parse_args(argv)
    if not (args.build / "work" / "smooth").is_dir():
        ap.error(f"--build: {args.build / 'work' / 'smooth'} is not a folder (not a build's output?)")
    try:
        model = build_model(args.build)
    except Exception as exc:  # noqa: BLE001 - any reason the build's model cannot be had is the same error
        ap.error(f"--build: the model of {args.build / 'config.yaml'} cannot be loaded ({exc})")
    rows = clip_rows(args.build, args.corpus, model.name)
    if not rows:
        ap.error(f"--corpus: no ground truth in {args.corpus} drawn in {model.name} for the clips of {args.build}")
    s = summary(rows)
    print(markdown(s))
    gains = detector_gains(args.build, args.corpus, model)
    if gains:
        print("\nThe detector's vertical motion against the truth's, relative to the nose tip (median over clips: gain, r):")
        for ph, g in gains.items():
            print(f"- {ph}: " + ", ".join(f"{n} {g[n + '_gain']:.2f} (r {g[n + '_r']:.2f})" for n in GAIN_POINTS))
    if args.json is not None:
        args.json.write_text(json.dumps({**s, "detector_gains": gains}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
