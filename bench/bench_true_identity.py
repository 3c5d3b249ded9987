"""A floor of landmark-only fits: the detector's landmarks fitted with the TRUE identity and camera.

Issue 15's goals ask the build to recover the expression from the detector's landmarks. Whether
the fitted identity is what loses it is measured here: every actor of a generated corpus is
fitted exactly as ``bench.bench_levers`` does (the build's code, cached landmark tracks), once
with the fitted identity (the code's defaults) and once with the identity's shape and camera
replaced by the truth's (zero reference expression), so that only pose and expression are left
to the landmarks. If the second is no better, no identity/expression split can close the gap::

    python -m bench.bench_true_identity --corpus C --cache T [--photo astronaut]

Prints the headline measures (bench_levers' columns) of both runs as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.corpus_cache import corpus_arguments, load_actors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    corpus_arguments(ap, "astronaut")
    ap.add_argument("--out", type=Path, default=None, help="also write both results as JSON")
    args = ap.parse_args(argv)
    import torch

    from bench.bench_levers import Variant, evaluate, headline
    from emoface.morphable import load

    torch.set_num_threads(1)
    try:
        data = load_actors(args.corpus, args.cache, args.photo)
    except ValueError as exc:
        ap.error(f"--corpus/--photo: {exc}")
    model = load("demo")
    out = {}
    for name, true in (("fitted_identity", False), ("true_identity", True)):
        res = evaluate(Variant("defaults", "-", name), data, model, oracle=False, true_identity=true)
        out[name] = headline(res)["fitted"]
    print(json.dumps(out, indent=1))
    if args.out is not None:
        from emoface.utils.atomic import write_json_atomic

        write_json_atomic(args.out, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
