"""What the upper face can gain from the voice: EVE of still faces that know the emotion, on a built dataset.

Issue 16 asks EmoFace's EVE to fall to 0.55 of the no-motion floor. A model conditioned on audio
alone must recognise the emotion from the voice of an unseen actor before it can show it. This
bounds what that buys, with no model at all, on the test split of a built dataset::

    python -m bench.bench_eve_bound --data rank_out/data [--out bound.json]

Still faces (``emoface.eval.oracles``), each scored with ``emoface evaluate``'s metrics:

- the template (the floor) and the clip's first frame held (the models' start token);
- the true emotion's mean offset over the training clips (an oracle: a perfect recogniser);
- the emotions' means over their intensities driven by a recogniser of the voice (no true label,
  not even the intensity): the six prosodic features of
  :mod:`bench.bench_voice_emotion`, a standardised nearest centroid fitted on the training split's
  clips, applied to each test clip; once as they are (what one clip tells) and once centred on
  each actor's mean over its clips (the actor's own voice as reference, which one clip alone does
  not have: an optimistic recogniser);
- the clip's own mean frame (an oracle: the least-squares still face).

Each row gives EVE, EVE over the floor, and the recogniser's accuracy on the test clips.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bench.bench_voice_emotion import prosody_features


def _voice(path: Path) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Clip ids, prosodic features ``(N, 6)``, emotions and subjects of every clip of a split."""
    from emoface.data.schema import SplitReader

    ids, X, y, subj = [], [], [], []
    with SplitReader(path) as r:
        for cid in r.clip_ids:
            rec = r.read_clip(cid, params=False)
            ids.append(cid)
            try:
                X.append(prosody_features(rec.audio))
            except ValueError as exc:
                raise ValueError(f"{path}: clip {cid}: {exc}") from exc
            y.append(int(rec.emotion))
            subj.append(rec.subject)
    return ids, np.asarray(X), np.asarray(y), np.asarray(subj)


def _centred(X: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    out = X.copy()
    for s in np.unique(subjects):
        out[subjects == s] -= X[subjects == s].mean(0)
    return out


def run(data: Path) -> dict:
    """The table of the module docstring for ``data/test.h5`` (means from ``data/train.h5``)."""
    from emoface.eval.methods import TemplateFloor, evaluate_methods
    from emoface.eval.oracles import ClipMean, EmotionMean, FirstFrameHeld
    from emoface.eval.recognisability import NearestCentroid
    from emoface.eval.report import summarize

    train, test = data / "train.h5", data / "test.h5"
    for p in (train, test):
        if not p.is_file():
            raise ValueError(f"{p}: split not found (a dataset folder from build-dataset holds train.h5 and test.h5)")
    _, Xtr, ytr, str_ = _voice(train)
    ids, Xte, yte, ste = _voice(test)
    means = EmotionMean.from_split(train)
    methods: list = [TemplateFloor(), FirstFrameHeld(), means]
    accuracy = {means.name: 1.0}
    for tag, a, b in (("one clip", Xtr, Xte), ("actor-centred", _centred(Xtr, str_), _centred(Xte, ste))):
        calls = NearestCentroid.fit(a, ytr).predict(b).astype(int)
        name = f"emotion mean, voice recogniser ({tag})"
        methods.append(means.with_labels(dict(zip(ids, calls.tolist())), name,
                                         f"the training means of the emotion that prosody ({tag}) recognises"))
        accuracy[name] = float((calls == yte).mean())
    methods.append(ClipMean())
    summary = summarize(evaluate_methods(test, methods, ["-"]), include_clips=False)
    eve = {m["name"]: m["overall"]["eve"]["mean"] for m in summary["methods"]}
    lve = {m["name"]: m["overall"]["lve"]["mean"] for m in summary["methods"]}
    floor = eve[TemplateFloor().name]
    rows = [{"method": m.name, "description": m.description, "eve": eve[m.name], "eve_floor": eve[m.name] / floor,
             "lve": lve[m.name], "emotion_accuracy": accuracy.get(m.name)} for m in methods]
    return {"data": str(data), "test_clips": len(ids), "train_clips": len(ytr), "chance": 1 / 8, "rows": rows}


def bound_lines(res: dict) -> list[str]:
    """The result as a Markdown table."""
    lines = ["| still face | EVE ↓ | EVE / floor | LVE | emotion acc. of its calls |", "|---|---|---|---|---|"]
    for r in res["rows"]:
        acc = "–" if r["emotion_accuracy"] is None else f"{r['emotion_accuracy']:.3f}"
        lines.append(f"| {r['method']} | {r['eve']:.3f} | {r['eve_floor']:.2f} | {r['lve']:.3f} | {acc} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="dataset folder with train.h5 and test.h5")
    ap.add_argument("--out", type=Path, default=None, help="also write the result as JSON")
    args = ap.parse_args(argv)
    try:
        res = run(args.data)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(bound_lines(res)))
    if args.out is not None:
        from emoface.utils.atomic import write_json_atomic

        write_json_atomic(args.out, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
