"""Clip planning of the generated corpus: RAVDESS names, balanced subsets, cross pairs."""

from collections import Counter

import pytest

from emoface.data.ravdess import parse_name, speech_names
from pipeline.sources.synth.corpus import clip_paths, plan_names


def test_full_plan_is_the_ravdess_speech_set():
    names = plan_names([1, 2, 24], 60)
    parsed = {parse_name(n.filename()) for n in names}
    assert len(names) == len(parsed) == 180
    assert parsed == {n for a in (1, 2, 24) for n in speech_names(a)}


@pytest.mark.parametrize("k", [1, 2, 10, 15, 30, 59])
def test_subset_is_valid_unique_and_sized(k):
    names = plan_names(range(1, 25), k)
    assert len(names) == len(set(names)) == 24 * k
    full = {n for a in range(1, 25) for n in speech_names(a)}
    assert set(names) <= full
    for n in names:
        assert parse_name(n.filename()) == n


def test_subset_keeps_cross_reconstruction_pairs_and_covers_conditions():
    names = plan_names(range(1, 25), 2)
    by_key = Counter((n.actor, n.statement, n.repetition) for n in names)
    # every actor's two clips share statement and repetition, with different emotions
    assert all(c == 2 for c in by_key.values())
    for a in range(1, 25):
        mine = [n for n in names if n.actor == a]
        assert mine[0].emotion != mine[1].emotion
    conditions = {(n.emotion, n.intensity) for n in names}
    assert len(conditions) == 15  # all emotion/intensity combinations appear across actors
    ten = plan_names(range(1, 7), 10)
    for a in range(1, 7):
        assert len({n.emotion for n in ten if n.actor == a}) == 8  # every emotion per actor


def test_paths_follow_ravdess_layout(tmp_path):
    n = plan_names([7], 1)[0]
    video, gt = clip_paths(tmp_path, n)
    assert video.parent.name == "Actor_07" and video.suffix == ".mp4"
    assert gt.parent.name == "ground_truth" and gt.stem == n.clip_id


def test_bad_counts_are_rejected():
    with pytest.raises(ValueError):
        plan_names([1], 0)
    with pytest.raises(ValueError):
        plan_names([1], 61)
