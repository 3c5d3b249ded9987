"""A build over good clips and every kind of bad input: each failure recorded with its reason, the build goes on.

Uses the detector-based test back end (tests/pipeline/dataset_build/buildtest_backend.py) so that the
framework is tested apart from the fitter; the real fitter runs in test_build_real_clip.py.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace

import h5py
import numpy as np

from buildtest_support import BACKEND, make_corpus
from emoface.data.schema import SplitReader, validate_split
from pipeline.build import build_ravdess
from pipeline.fitting.config import FitConfig, LandmarkConfig
from pipeline.stages.config import BuildConfig

GOOD = "01-01-03-01-01-01-01"
DIVERGES = "01-01-03-01-01-02-01"
VAL = "01-01-05-01-01-01-21"


def _no_temporaries(out) -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(out) for f in files if ".tmp" in f]


def test_bad_inputs_are_recorded_and_the_build_goes_on(tmp_path, media):
    root = make_corpus(tmp_path / "ravdess", {
        f"Actor_01/{GOOD}.mp4": media["good"],
        f"Actor_01/{DIVERGES}.mp4": media["good"],
        "Actor_01/01-01-03-01-02-01-01.mp4": media["truncated"],
        "Actor_01/01-01-03-01-02-02-01.mp4": media["corrupt"],
        "Actor_01/01-01-04-01-01-01-01.mp4": media["zero"],
        "Actor_01/01-01-04-01-01-02-01.mp4": media["no_audio"],
        "Actor_01/01-01-04-01-02-01-01.mp4": media["no_face"],
        "Actor_01/take-2.mp4": media["good"],
        f"Actor_21/{VAL}.mp4": media["good"],
    })
    os.symlink(root / "gone.mp4", root / "Actor_01" / "01-01-04-01-02-02-01.mp4")  # an unreadable entry
    out = tmp_path / "out"
    cfg = BuildConfig(backend=BACKEND, backend_options={"diverge": [DIVERGES]})

    s = build_ravdess(root, out, cfg)
    assert s.exit_code == 1
    assert s.n_clips == 7 and s.n_ok == 2
    failed = {f.clip_id: (f.stage, f.reason) for f in s.failures}
    assert failed["01-01-03-01-02-01-01"] == ("decode", "not a readable video (moov atom not found)")
    assert failed["01-01-03-01-02-02-01"][0] == "decode" and failed["01-01-03-01-02-02-01"][1].startswith("corrupt video:")
    assert failed["01-01-04-01-01-02-01"] == ("decode", "no audio track")
    assert failed["01-01-04-01-02-01-01"] == ("landmarks", "no face found in any of 30 frames")
    assert failed[DIVERGES][0] == "fit" and "fit diverged: non-finite expression" in failed[DIVERGES][1]
    bad = {os.path.basename(b.path): b.reason for b in s.bad_inputs}
    assert bad["01-01-04-01-01-01-01.mp4"] == "zero-byte file"
    assert "not a RAVDESS name" in bad["take-2.mp4"]
    assert "unreadable" in bad["01-01-04-01-02-02-01.mp4"]

    # the QA report lists every failure and every bad input with its reason
    report = json.loads((out / "qa" / "report.json").read_text())
    assert {f["clip_id"] for f in report["failures"]} == set(failed)
    assert {os.path.basename(x["path"]) for x in report["skipped"] if x["kind"] == "bad"} == set(bad)
    assert [c["clip_id"] for c in report["clips"]] == [GOOD, VAL]
    built = json.loads((out / "build.json").read_text())
    assert built["exit_code"] == 1
    # build.json keeps plain records: a bad input is {path, reason, kind}, the report {status, path}
    assert sorted((os.path.basename(b["path"]), b["reason"], b["kind"]) for b in built["bad_inputs"]) == \
        sorted((name, reason, "bad") for name, reason in bad.items())
    assert built["report"] == {"status": "ran", "path": str(out.resolve() / "qa" / "report.html")}

    # only finished clips are packaged; the files validate; nothing half-written is left
    assert validate_split(out / "train.h5") == [] and validate_split(out / "val.h5") == []
    with SplitReader(out / "train.h5") as r:
        assert r.clip_ids == [GOOD] and r.subjects == ["Actor_01"]
        rec = r.read_clip(GOOD, landmarks=True)
        assert rec.vertices.shape == (30, 468, 3) and rec.audio.shape == (16000,)
        assert rec.emotion == 2 and rec.intensity == 0 and rec.source == f"Actor_01/{GOOD}.mp4"
        assert rec.extra_attrs["detection_rate"] == 1.0
    assert not (out / "test.h5").exists()
    assert _no_temporaries(out) == []

    # a rerun with nothing to do: everything cached, same failures, same exit code
    t0 = time.perf_counter()
    again = build_ravdess(root, out, cfg)
    assert time.perf_counter() - t0 < 3.0
    assert again.exit_code == 1
    assert [(f.clip_id, f.stage, f.reason) for f in again.failures] == [(f.clip_id, f.stage, f.reason) for f in s.failures]
    assert all(f.cached for f in again.failures)
    assert all("ran" not in v for v in again.stages.values()), again.stages

    # a new fit config redoes the fits (and the identity fits) only; unchanged results keep every later artefact
    refit = build_ravdess(root, out, replace(cfg, fit=FitConfig(landmarks=LandmarkConfig(noise_iod=0.02))))
    assert refit.stages["fit"] == {"ran": 2, "failed": 1, "seconds": refit.stages["fit"]["seconds"]}
    assert all("ran" not in refit.stages[k] for k in ("decode", "landmarks", "smooth", "canonical", "qa", "report", "package"))
    # without the injected divergence the clip is fitted and its split packaged again
    fixed = build_ravdess(root, out, BuildConfig(backend=BACKEND))
    assert fixed.stages["fit"] == {"ran": 3, "seconds": fixed.stages["fit"]["seconds"]}
    assert "ran" not in fixed.stages["landmarks"] and "ran" not in fixed.stages["decode"]
    assert fixed.stages["package"]["ran"] >= 1
    with SplitReader(out / "train.h5") as r:
        assert r.clip_ids == [GOOD, DIVERGES]
    forced = build_ravdess(root, out, BuildConfig(backend=BACKEND), force="landmarks")
    assert forced.stages["landmarks"]["ran"] == 3 and "ran" not in forced.stages["decode"]
    assert forced.stages["fit"]["ran"] == 3
    with h5py.File(out / "train.h5") as a:
        assert np.isfinite(a[f"clips/{DIVERGES}/vertices"][()]).all()
