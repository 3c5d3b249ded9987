"""bench.bench_eve_bound: still faces that know the emotion, from the truth or from a recogniser of the voice."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is a folder of the repository, not an installed package
    sys.path.insert(0, str(REPO))

from bench.bench_eve_bound import main, run  # noqa: E402
from emoface.data.schema import SplitReader  # noqa: E402
from emoface.eval.oracles import EmotionMean  # noqa: E402
from tools.testing.fixtures import write_synthetic_splits  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("bound")
    splits = write_synthetic_splits(root, train_actors=(1, 2, 3), val_actors=(4,), test_actors=(5,), emotions=(0, 2, 4),
                                    statements=(1, 2), base_frames=12)
    return Path(splits["train"]).parent


def test_rows_floor_and_oracles(data):
    res = run(data)
    rows = {r["method"]: r for r in res["rows"]}
    assert list(rows)[0] == "template only" and rows["template only"]["eve_floor"] == 1.0
    assert rows["emotion mean (oracle)"]["emotion_accuracy"] == 1.0
    assert rows["emotion mean (oracle)"]["eve_floor"] < 1.0  # the fixture's emotions move the upper face
    assert rows["clip mean (oracle)"]["eve"] < rows["emotion mean (oracle)"]["eve"]
    voice = [r for r in res["rows"] if "voice recogniser" in r["method"]]
    assert len(voice) == 2 and all(0.0 <= r["emotion_accuracy"] <= 1.0 for r in voice)
    with SplitReader(data / "test.h5") as r:
        assert res["test_clips"] == len(r.clip_ids)


def test_a_recogniser_that_is_always_wrong_is_worse_than_the_truth(data):
    """The label override drives the class means: every call wrong scores worse than the true emotion."""
    from emoface.eval.methods import evaluate_methods

    means = EmotionMean.from_split(data / "train.h5")
    with SplitReader(data / "test.h5") as r:
        wrong = {c: {0: 2, 2: 4, 4: 0}[r.clip_meta(c).emotion] for c in r.clip_ids}
    res = evaluate_methods(data / "test.h5", [means, means.with_labels(wrong, "wrong", "every call wrong")], ["-"])
    eve = [sum(c.eve_sum for c in m.clips) for m in res.methods]
    assert eve[1] > eve[0]
    # calls equal to the truth still use no true intensity: the emotion's mean over its intensities
    with SplitReader(data / "test.h5") as r:  # an emotion with two intensities (neutral has one)
        rec = r.read_clip(next(c for c in r.clip_ids if r.clip_meta(c).emotion != 0), params=False)
    tpl = np.zeros_like(rec.vertices[0])
    called = means.with_labels({rec.clip_id: rec.emotion}, "right", "").predict(rec, tpl, None)[0]
    np.testing.assert_allclose(called, means.offsets[(rec.emotion, -1)])
    assert not np.allclose(called, means.predict(rec, tpl, None)[0])  # the oracle's (emotion, intensity) face
    with pytest.raises(ValueError, match="no emotion call for clip"):
        rec = SplitReader(data / "test.h5").read_clip(next(iter(wrong)), params=False)
        means.with_labels({}, "none", "").predict(rec, np.zeros_like(rec.vertices[0]), None)


def test_main_writes_json_and_names_a_missing_split(data, tmp_path, capsys):
    out = tmp_path / "b.json"
    assert main(["--data", str(data), "--out", str(out)]) == 0
    assert "| emotion mean (oracle) |" in capsys.readouterr().out and json.loads(out.read_text())["rows"]
    assert main(["--data", str(tmp_path / "nope")]) == 2
    assert "train.h5: split not found" in capsys.readouterr().err
