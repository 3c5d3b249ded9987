"""End to end: `build-dataset synth`, then `build-dataset ravdess --workers 2` on it (real fitter, real QA)."""

from __future__ import annotations

import json
import subprocess
import sys

from emoface.data.schema import SplitReader


def test_generated_corpus_builds_into_valid_splits(tmp_path):
    corpus, out = tmp_path / "synth", tmp_path / "out"
    gen = subprocess.run([sys.executable, "-m", "pipeline", "synth", "--out", str(corpus), "--actors", "3",
                          "--clips-per-actor", "1", "--fps", "29.97"], capture_output=True, text=True, timeout=600)
    assert gen.returncode == 0, gen.stderr[-2000:]
    split = tmp_path / "split.yaml"
    split.write_text("name: three-actors\ntrain: [1]\nval: [2]\ntest: [3]\n")
    cmd = [sys.executable, "-m", "pipeline", "ravdess", "--root", str(corpus), "--out", str(out), "--workers", "2",
           "--split", str(split), "--no-progress"]
    build = subprocess.run([*cmd, "--oracle"], capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stderr[-3000:]
    for name, actor in (("train", "Actor_01"), ("val", "Actor_02"), ("test", "Actor_03")):
        check = subprocess.run([sys.executable, "-m", "emoface", "validate", str(out / f"{name}.h5")],
                               capture_output=True, text=True, timeout=120)
        assert check.returncode == 0, check.stdout + check.stderr
        with SplitReader(out / f"{name}.h5") as r:
            assert r.subjects == [actor] and len(r.clip_ids) == 1
            meta = r.clip_meta(r.clip_ids[0])
            assert abs(meta.attrs["source_fps"] - 29.97) < 0.01
    report = json.loads((out / "qa" / "report.json").read_text())
    assert len(report["clips"]) == 3 and report["failures"] == []
    for clip in report["clips"]:  # the generated corpus has ground truth: QA measured the fit against it
        assert clip["qa"]["metrics"]["ground_truth"]
        assert set(clip["qa"]["metrics"]["ground_truth"]["offset_error_mm"]) == {"face", "lips", "eye_region"}
    # the measures against the truth, summarised in the report stage from every clip's QA artefact
    lips = report["summary"]["ground_truth"]["offset_error_mm"]["regions"]["lips"]
    assert lips["clips"] == 3 and lips["true_total"] > 0 and lips["static"] is not None
    rec = report["summary"]["recognisability"]
    assert rec["clips"] == 3 and rec["actors"] == 3 and {"fitted", "truth"} <= set(rec)
    html = (out / "qa" / "report.html").read_text()
    assert "Emotion recognisability" in html and "lips dynamic mm" in html
    assert (out / "qa" / "report.html").stat().st_size > 1000
    # --oracle: the same fit from the true landmarks (+1 px), beside the build's; it is the floor of each measure
    oracle = report["summary"]["ground_truth"]["oracle"]
    assert oracle["clips"] == 3 and "errors" not in oracle
    o_lips = oracle["offset_error_mm"]["regions"]["lips"]
    assert o_lips["total"] < lips["total"] and o_lips["true_total"] == lips["true_total"]
    assert "oracle" in rec and "offset error / oracle / truth mm" in html
    report_json = (out / "qa" / "report.json").read_text()
    same = subprocess.run([*cmd, "--oracle"], capture_output=True, text=True, timeout=600)  # nothing to do: not redone
    assert same.returncode == 0 and (out / "qa" / "report.json").read_text() == report_json, same.stderr[-2000:]
    assert all(c["oracle"]["ground_truth"]["offset_error_mm"] for c in report["clips"])
    # the setting is in the report's config hash: a rerun without it redoes the report, without the oracle, and
    # nothing else (neither the fits nor the per-clip QA)
    def kept() -> dict[str, str]:
        return {f"{d}/{p.name}": p.read_text() for d in ("fit", "qa") for p in (out / "work" / d).glob("*.sidecar.json")}

    fits = kept()
    report_sidecar = json.loads((out / "work" / "report" / "report.sidecar.json").read_text())
    assert len(fits) == 6
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    redone = json.loads((out / "qa" / "report.json").read_text())
    assert "oracle" not in redone["summary"]["ground_truth"] and "oracle" not in redone["summary"]["recognisability"]
    assert redone["summary"]["ground_truth"]["offset_error_mm"] == report["summary"]["ground_truth"]["offset_error_mm"]
    assert json.loads((out / "work" / "report" / "report.sidecar.json").read_text())["config_hash"] != report_sidecar["config_hash"]
    assert kept() == fits  # the fits and the per-clip QA were not redone
