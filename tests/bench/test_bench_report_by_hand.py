"""bench.report keeps what BENCHMARKS.md holds beyond ``bench/results/full``: the records measured by hand
(``bench.notes_by_hand``: the levers' bullets; ``bench.notes_flame``: "FLAME scale, continued") and ``bench.bench_speed``'s block,
in a full re-render as well as with ``--only``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is a folder of the repository, not an installed package
    sys.path.insert(0, str(REPO))

from bench.bench_speed import END, START  # noqa: E402
from bench.report import render, splice, write_report  # noqa: E402
from bench.report_measures import levers_section  # noqa: E402

FLAME_HEADING = "### FLAME scale, continued: the pair step's shared work, `animate --bf16`, int8 (measured by hand)"
LEVERS_BULLET = "- Kept as the defaults: `prior.expression_std` 0.5 (was 1.0) and `landmarks.weights.other` 0.3 (was 0.1)."
LEVERS_FLOOR = "- A floor of landmark-only fits (`python -m bench.bench_true_identity --corpus C --cache T`)"
META = {"command": "python -m bench.run_all --only levers", "machine": {"cores": 2, "cpu_model": "X"}, "date": "2027-01-02",
        "load_start": [1.0], "load_end": [2.0], "wall_s": 60.0, "name": "levers"}


def _results(tmp_path: Path) -> Path:
    """An empty ``bench/results/full`` inside ``tmp_path`` (``bench/results`` is its parent)."""
    full = tmp_path / "results" / "full"
    full.mkdir(parents=True)
    return full


def test_a_full_render_without_results_keeps_the_records_measured_by_hand(tmp_path: Path):
    text = render(_results(tmp_path))
    assert FLAME_HEADING in text
    assert "| int8: encoders and decoders | 1.69x | 1.49x | 1.48x | 0.943 / 0.985 mm | 0.149 / 0.151 mm | 2.3% |" in text
    assert LEVERS_BULLET in text and LEVERS_FLOOR in text
    assert "Tuning corpus (astronaut photo, 8 actors x 5 clips, seed 0):" in text
    # the speed block's markers, in order, the hand record after them
    assert text.index("## Fit levers") < text.index(START) < text.index(END) < text.index(FLAME_HEADING)
    assert "measurement stays reproducible with `bench.bench_inference --int8`.\n" in text
    assert text.index(FLAME_HEADING) < text.index("### FLAME scale, continued: training memory under 4 GB")
    assert text.index("### FLAME scale, continued: training memory under 4 GB") < text.index(
        "### FLAME scale, continued: the decoding loop and the pair step at 2 threads")
    assert text.index("### FLAME scale, continued: the decoding loop and the pair step at 2 threads") < text.index(
        "### FLAME scale, continued: two more ways measured and not kept")
    assert "none of the\nways measured meets both the memory goal and the step-time goal.\n" in text
    assert text.index("### FLAME scale, continued: Mesh Attention's projected layer") < text.index(
        "### FLAME scale, continued: the pair step later the same day")
    assert text.endswith("encoders' self-attention costs the square of the length in time, not in memory).\n")  # the last record


def test_the_records_are_the_text_of_benchmarks_md_verbatim():
    """BENCHMARKS.md's hand-measured blocks are the generator's: edit bench/notes_by_hand.py and
    bench/notes_flame.py, not the file."""
    from bench import notes_by_hand, notes_flame

    md = (REPO / "BENCHMARKS.md").read_text(encoding="utf-8")
    lev = md.index("## Fit levers: a fit that keeps the expression\n")
    assert md[lev:].startswith("## Fit levers: a fit that keeps the expression\n\n" + notes_by_hand.LEVERS.text + "\n\n## ")
    assert notes_flame.FLAME_RECORDS[0] is notes_flame.FLAME_CONTINUED
    assert md.endswith("<!-- /speed -->\n\n" + "\n\n".join(r.text for r in notes_flame.FLAME_RECORDS) + "\n")


def test_splice_with_no_results_leaves_benchmarks_md_byte_identical(tmp_path: Path):
    md = (REPO / "BENCHMARKS.md").read_text(encoding="utf-8")
    new = render(_results(tmp_path))
    assert splice(md, new) == md
    # the sections the new render holds in full are those of the file, byte for byte
    for start, stop in (("## Fit levers", "## Dataset build\n"), (FLAME_HEADING, None)):
        a, b = new.index(start), md.index(start)
        assert new[a:new.index(stop, a) if stop else None] == md[b:md.index(stop, b) if stop else None]


def test_write_report_in_full_keeps_the_records(tmp_path: Path):
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# old\n")
    write_report(_results(tmp_path), md, partial=False)
    text = md.read_text()
    assert FLAME_HEADING in text and LEVERS_BULLET in text


def test_a_measured_levers_run_keeps_the_record_after_its_tables():
    d = {"meta": META, "plan": {"mode": "full"}, "size": {"seed": 0, "actors": 2, "clips_per_actor": 2},
         "astronaut": {"markdown": "| lever | setting |\n|---|---|\n| - | fresh row |"},
         "landmark_floor": {"markdown": "| landmarks | test |\n|---|---|\n| detector | floor row |"}}
    text = "\n".join(levers_section({"levers": d}))
    assert text.index("| - | fresh row |") < text.index("What the detector's points hold") < text.index("| detector | floor row |")
    assert "Command: `python -m bench.run_all --only levers`. Run: 2 cores" in text
    assert text.index("| - | fresh row |") < text.index("*Analysis") < text.index("Measured by hand on 2026-12-06/07")
    assert text.index("Measured by hand on 2026-12-06/07") < text.index(LEVERS_BULLET)
    failed = "\n".join(levers_section({"levers": {"meta": META, "error": "Traceback\nRuntimeError: boom"}}))
    assert "failed in its last run" in failed and "`RuntimeError: boom`" in failed and LEVERS_FLOOR in failed


def test_the_speed_block_is_rendered_from_speed_json_beside_the_results(tmp_path: Path):
    from tests.bench.test_bench_speed import _round

    full = _results(tmp_path)
    meta = {**META, "command": "python -m bench.bench_speed --faceformer DIR --rounds 2 --threads 1", "date": "2026-12-06"}
    (full.parent / "speed.json").write_text(json.dumps({"meta": meta, "threads": 1, "rounds": [_round(1.0)]}))
    text = render(full)
    assert "| EmoFace inference RTF / FaceFormer's, 3 s | 0.75x | <= 1.0x | met |" in text
    assert "Not measured yet: `python -m bench.bench_speed" not in text
    assert text.index(START) < text.index("0.75x") < text.index(END) < text.index(FLAME_HEADING)
    old = "# B\n\n" + START + "\n\n## FLAME scale: EmoFace next to FaceFormer's reference code (issue 17)\n\nOLD SPEED NUMBERS\n\n" + END + "\n"
    assert "OLD SPEED NUMBERS" not in splice(old, text) and "0.75x" in splice(old, text)  # --only redoes a measured block
    (full.parent / "speed.json").write_text("{not json")
    assert "Not measured yet: `python -m bench.bench_speed" in render(full)  # unreadable: as if absent
    assert "OLD SPEED NUMBERS" in splice(old, render(full))  # and the block in the file is kept
