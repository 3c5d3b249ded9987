"""bench.bench_levers: every variant is a valid setting, and the kept combination is the code's defaults."""

from __future__ import annotations

import pytest

from bench.bench_levers import BEFORE, VARIANTS, merged
from emoface.utils.config import from_dict, to_dict
from pipeline.fitting import SmoothConfig
from pipeline.fitting.config import FitConfig, load_fit_config


def test_merged_overrides_leaves_and_keeps_the_rest():
    base = {"a": {"b": 1, "c": 2}, "d": 3}
    assert merged(base, {"a": {"b": 5}}) == {"a": {"b": 5, "c": 2}, "d": 3}
    assert base == {"a": {"b": 1, "c": 2}, "d": 3}  # not modified


@pytest.mark.parametrize("v", VARIANTS, ids=[v.name for v in VARIANTS])
def test_every_variant_is_a_valid_config_that_differs_from_the_baseline(v):
    cfg = load_fit_config(merged(BEFORE, v.fit), "fit")
    scfg = from_dict(SmoothConfig, v.smooth, "smooth")
    if v.name not in ("baseline", "defaults"):
        assert (to_dict(cfg), to_dict(scfg)) != (to_dict(load_fit_config(BEFORE, "fit")), to_dict(SmoothConfig())), v.name


def test_the_kept_combination_is_the_code_defaults_and_the_baseline_is_not():
    kept = next(v for v in VARIANTS if v.name == "reference_median")
    assert to_dict(load_fit_config(merged(BEFORE, kept.fit), "fit")) == to_dict(FitConfig())
    assert to_dict(load_fit_config(BEFORE, "fit")) != to_dict(FitConfig())
