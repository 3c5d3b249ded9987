"""`make demo`'s plan: the commands a user would type, in order, with resumable steps."""

from __future__ import annotations

import sys

from pipeline.demo import _shown, plan_demo


def test_plan_is_the_user_commands_in_order(tmp_path):
    plan = plan_demo(tmp_path / "demo", actors=6, clips_per_actor=20, workers=2, epochs=3)
    shown = [_shown(s.argv) for s in plan.steps]
    assert shown[0].startswith("build-dataset synth") and "--actors 6" in shown[0] and "--clips-per-actor 20" in shown[0]
    assert shown[1].startswith("build-dataset ravdess") and "split-demo.yaml" in shown[1] and "--workers 2" in shown[1]
    assert shown[1].endswith("--oracle")  # the QA report shows each measure's floor beside it
    train = plan.steps[2]
    assert _shown(train.argv).startswith("emoface train") and "--epochs 3" in _shown(train.argv)
    assert len(train.parallel) == 1 and "model.single_branch=true" in _shown(train.parallel[0])
    assert shown[3].startswith("emoface evaluate") and "--baselines" in shown[3]
    assert shown[4].startswith("emoface animate")
    assert all(a.startswith(sys.executable) is False for s in shown for a in s.split()[:1])
    assert set(plan.outputs) >= {"HDF5 splits", "QA report", "metrics table", "animation (mp4, vertices)"}


def test_finished_steps_are_skipped(tmp_path):
    plan = plan_demo(tmp_path / "demo", epochs=1)
    evaluate = plan.steps[3]
    assert not evaluate.is_done()
    evaluate.done.parent.mkdir(parents=True)
    evaluate.done.write_text("{}")
    assert evaluate.is_done()  # no checkpoint yet: nothing newer than the report
    # a training run that resumes is called with --resume
    (tmp_path / "demo" / "runs" / "emoface-small" / "checkpoints").mkdir(parents=True)
    (tmp_path / "demo" / "runs" / "emoface-small" / "checkpoints" / "last.pt").write_bytes(b"")
    again = plan_demo(tmp_path / "demo", epochs=1)
    assert "--resume" in again.steps[2].argv and "--resume" not in again.steps[2].parallel[0]
