"""bench.bench_levers: every variant is a valid setting, and the kept combination is the code's defaults."""

from __future__ import annotations

import pytest

from bench.bench_levers import BEFORE, VARIANTS, main, merged, variant_config
from emoface.utils.config import from_dict, to_dict
from pipeline.fitting import SmoothConfig
from pipeline.fitting.config import FitConfig, load_fit_config


def test_merged_overrides_leaves_and_keeps_the_rest():
    base = {"a": {"b": 1, "c": 2}, "d": 3}
    assert merged(base, {"a": {"b": 5}}) == {"a": {"b": 5, "c": 2}, "d": 3}
    assert base == {"a": {"b": 1, "c": 2}, "d": 3}  # not modified


@pytest.mark.parametrize("v", VARIANTS, ids=[v.name for v in VARIANTS])
def test_every_variant_is_a_valid_config_that_differs_from_its_base(v):
    """A variant measured from the settings before the levers (or, ``on_defaults``, from the code's
    defaults) changes something of them; ``baseline`` and ``defaults`` are those bases themselves."""
    cfg = variant_config(v)
    scfg = from_dict(SmoothConfig, v.smooth, "smooth")
    base = FitConfig() if v.on_defaults else load_fit_config(BEFORE, "fit")
    same = (to_dict(cfg), to_dict(scfg)) == (to_dict(base), to_dict(SmoothConfig()))
    assert same == (v.name in ("baseline", "defaults")), v.name


def test_the_kept_combination_is_the_code_defaults_and_the_baseline_is_not():
    kept = next(v for v in VARIANTS if v.name == "reference_median")
    assert to_dict(load_fit_config(merged(BEFORE, kept.fit), "fit")) == to_dict(FitConfig())
    assert to_dict(load_fit_config(BEFORE, "fit")) != to_dict(FitConfig())


def test_few_clips_refuses_a_photo_no_actor_has(tmp_path, capsys, monkeypatch):
    """``--few-clips`` with a photo none of the corpus's actors has is a one-line usage error, not an
    empty result (the corpus's tracks stand in for a prepared cache)."""
    import bench.corpus_cache as cc

    clip = cc.ClipData(track=None, gt="", audio_s=1.0, cpu_s=0.0, photo="astronaut")
    monkeypatch.setattr(cc, "prepare", lambda corpus, cache, detector: {1: [clip]})
    with pytest.raises(SystemExit) as exc:
        main(["--corpus", str(tmp_path / "corpus"), "--cache", str(tmp_path / "cache"), "--few-clips", "3",
              "--photo", "nobody", "--out", str(tmp_path / "few.json")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--corpus/--photo" in err and "no actor has the photo 'nobody'" in err
    assert not (tmp_path / "few.json").exists()


def test_make_bench_measures_the_routine_variants_and_the_held_out_pair(tmp_path, monkeypatch):
    """``bench.run_all``'s levers job runs every routine variant on the tuning photo (one blendshape
    weight, the other settings by hand only) and the baseline and defaults on the held-out photo."""
    import bench.bench_levers as bl
    import bench.run_all as ra
    import pipeline.sources.synth.corpus as corpus

    seen = {}
    monkeypatch.setattr(corpus, "generate_corpus", lambda *a, **k: None)
    monkeypatch.setattr(bl, "run", lambda corpus, cache, photo, variants, oracle: seen.setdefault(photo, [v.name for v in variants]) and {})
    monkeypatch.setattr(bl, "markdown", lambda res: "")
    plan = ra.Plan.__new__(ra.Plan)
    for k, v in {"levers_actors": 1, "levers_clips_per_actor": 1, "synth_workers": 1}.items():
        object.__setattr__(plan, k, v)
    monkeypatch.setattr(ra, "landmark_floor", lambda work: {"markdown": "floor"})
    assert ra.run_levers(plan, tmp_path)["landmark_floor"] == {"markdown": "floor"}
    assert seen["grace_hopper"] == ["baseline", "defaults"]
    assert [n for n in seen["astronaut"] if n.startswith("blendshapes")] == ["blendshapes_1"]
    assert {"baseline", "defaults", "flow_3", "reference_median"} <= set(seen["astronaut"])


def test_resuming_with_another_detector_is_an_error_naming_the_file(tmp_path, monkeypatch):
    """A results file measured with MediaPipe's tracks is not resumed as if it were another detector's."""
    import json

    import bench.corpus_cache as cc
    from bench.bench_levers import VARIANTS, run

    clip = cc.ClipData(track=None, gt="", audio_s=1.0, cpu_s=0.0, photo="astronaut")
    monkeypatch.setattr(cc, "prepare", lambda corpus, cache, detector: {1: [clip]})
    out = tmp_path / "levers.json"
    out.write_text(json.dumps({"defaults": {"variant": "defaults"}}))  # from before the detector was recorded
    defaults = [v for v in VARIANTS if v.name == "defaults"]
    with pytest.raises(ValueError, match=r"levers\.json: defaults was measured with the detector 'mediapipe', not 'dlib'"):
        run(tmp_path / "corpus", tmp_path / "cache", "astronaut", defaults, False, out, detector="dlib")
    assert run(tmp_path / "corpus", tmp_path / "cache", "astronaut", defaults, False, out)["defaults"]["variant"] == "defaults"


def test_a_fuse_cache_that_does_not_pair_up_is_a_usage_error_naming_it(tmp_path, capsys, monkeypatch):
    import numpy as np

    import bench.corpus_cache as cc
    from pipeline.fitting import LandmarkTrack

    track = LandmarkTrack(np.zeros((4, 478, 3)), np.ones(4, bool), None, None, 100, 100, clip_id="01-01-01-01-01-01-01")
    clip = cc.ClipData(track=track, gt="", audio_s=1.0, cpu_s=0.0, photo="astronaut")
    monkeypatch.setattr(cc, "prepare", lambda corpus, cache, detector: {1: [clip]})  # MediaPipe tracks in both caches
    with pytest.raises(SystemExit) as exc:
        main(["--corpus", str(tmp_path / "c"), "--cache", str(tmp_path / "t"), "--fuse-detector", "dlib", "--fuse-cache",
              str(tmp_path / "t2"), "--only", "defaults", "--out", str(tmp_path / "o.json")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"--fuse-cache {tmp_path / 't2'}: 01-01-01-01-01-01-01: no mediapipe478 track" in err
    with pytest.raises(SystemExit):
        main(["--corpus", "c", "--cache", "t", "--fuse-detector", "mediapipe", "--fuse-cache", "t2"])


def test_make_bench_measures_the_landmark_floor_on_the_levers_two_corpora(tmp_path, monkeypatch):
    """The map is learnt on the tuning corpus's tracks and applied to the held-out corpus's, whose points are aligned to
    the tuning corpus's reference shape."""
    import numpy as np

    import bench.bench_landmark_floor as lf
    import bench.corpus_cache as cc
    import bench.run_all as ra

    loaded, collected, ran = [], [], {}
    monkeypatch.setattr(cc, "load_actors", lambda corpus, cache, photo: loaded.append((corpus.name, cache.name, photo)) or photo)
    ref = np.zeros((3, 2))
    monkeypatch.setattr(lf, "collect", lambda data, model, ref_in=None: collected.append((data, ref_in)) or (f"frames of {data}", ref))
    monkeypatch.setattr(lf, "run", lambda frames, model, lams, holdout: ran.update(frames=frames, lams=lams, holdout=holdout)
                        or [{"row": 1}])
    monkeypatch.setattr(lf, "markdown", lambda rows: f"table of {len(rows)} rows")
    out = ra.landmark_floor(tmp_path)
    assert loaded == [("levers_astronaut", "levers_astronaut_tracks", "astronaut"),
                      ("levers_grace_hopper", "levers_grace_hopper_tracks", "grace_hopper")]
    assert collected[0] == ("astronaut", None) and collected[1][0] == "grace_hopper" and collected[1][1] is ref
    assert ran == {"frames": "frames of astronaut", "lams": [30.0, 300.0], "holdout": "frames of grace_hopper"}
    assert out == {"lambdas": [30.0, 300.0], "rows": [{"row": 1}], "markdown": "table of 1 rows"}
