"""How much emotion a corpus's voices carry: prosodic features per clip, classified leave one actor out.

A ceiling-style reference for the ranking experiment (issue 16): EmoFace's emotion branch must
learn emotion from the voice alone, so this measures what six plain prosodic features already
tell on unseen actors, with the classifier of :mod:`emoface.eval.recognisability`
(standardised nearest centroid, leave one actor out)::

    python -m bench.bench_voice_emotion --corpus demo_out/corpus            # a build-dataset synth folder
    python -m bench.bench_voice_emotion --corpus RAVDESS/ --max-clips 200   # any RAVDESS-named videos

Features per clip (16 kHz mono, 40 ms windows every 10 ms; voiced = within 30 dB of the loudest
window): log voiced duration, loudness mean and spread (dB), median log pitch and its 10-90 %
spread and standard deviation (autocorrelation pitch, 60-400 Hz). Reports the accuracy from
the features as they are and with each actor's features centred on that actor's mean (the
actor's own voice as reference, which one clip alone does not have). Chance is 1/8.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
HOP, WIN = 160, 640


def prosody_features(audio: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The six features of the module docstring for one clip's samples."""
    a = np.asarray(audio, np.float64)
    if len(a) < WIN:
        raise ValueError(f"audio of {len(a)} samples is shorter than one {WIN}-sample window")
    frames = np.lib.stride_tricks.sliding_window_view(a, WIN)[::HOP]
    db = 20 * np.log10(np.sqrt((frames ** 2).mean(1) + 1e-12) + 1e-9)
    voiced = db > db.max() - 30.0
    lo, hi = sr // 400, sr // 60
    f0 = []
    for f in frames[voiced][::2]:
        f = f - f.mean()
        ac = np.correlate(f, f, "full")[WIN - 1:]
        k = lo + int(np.argmax(ac[lo:hi]))
        if ac[0] > 0 and ac[k] > 0.3 * ac[0]:
            f0.append(sr / k)
    lf = np.log(np.asarray(f0)) if f0 else np.zeros(1)
    return np.array([np.log(voiced.sum() * HOP / sr + 1e-3), db[voiced].mean(), db[voiced].std(), np.median(lf),
                     np.percentile(lf, 90) - np.percentile(lf, 10), lf.std()])


def run(corpus: Path, max_clips: int = 0) -> dict:
    from emoface.data.ravdess import parse_name
    from emoface.eval.recognisability import recognisability
    from emoface.utils.media import decode_audio

    paths = sorted(corpus.glob("Actor_*/*.mp4")) or sorted(corpus.glob("**/*.mp4"))
    if max_clips:
        paths = paths[:max_clips]
    if not paths:
        raise ValueError(f"{corpus}: no .mp4 videos")
    X, y, groups = [], [], []
    for p in paths:
        name = parse_name(p.stem)
        X.append(prosody_features(decode_audio(p, SAMPLE_RATE)))
        y.append(int(name.emotion))
        groups.append(int(name.actor))
    X, g = np.asarray(X), np.asarray(groups)
    centred = X.copy()
    for a in np.unique(g):
        centred[g == a] -= X[g == a].mean(0)
    return {"corpus": str(corpus), "clips": len(y), "actors": int(len(np.unique(g))), "chance": 1 / 8,
            "accuracy": recognisability(X, y, g).accuracy, "accuracy_actor_centred": recognisability(centred, y, g).accuracy}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--max-clips", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="also write the result as JSON")
    args = ap.parse_args(argv)
    try:
        res = run(args.corpus, args.max_clips)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(res, indent=1))
    if args.out is not None:
        from emoface.utils.atomic import write_json_atomic

        write_json_atomic(args.out, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
