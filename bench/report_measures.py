"""The "Measures against the truth" section of BENCHMARKS.md (results of ``bench.bench_measures``)."""

from __future__ import annotations

from bench import notes, notes_by_hand
from bench.report_format import analysis
from bench.report_sections import _section


def measures_section(R: dict) -> list[str]:
    """Offset errors and emotion recognisability, fitted / oracle / truth, per seed and photo."""
    d, lines = _section(R, "measures", "## Measures against the truth: offsets and emotion recognisability")
    if d is None:
        return lines
    from bench.bench_measures import markdown

    return lines + [markdown(d), ""] + analysis(notes.MEASURES_ANALYSIS)


LEVERS_TITLE = "## Fit levers: a fit that keeps the expression"


def levers_section(R: dict) -> list[str]:
    """Every fit lever on the tuning photo's corpus, the kept defaults on the held-out photo's.

    The record measured by hand (:data:`bench.notes_by_hand.LEVERS`: oracles, flow, reference
    expression, few clips, the true-identity floor) is always rendered: alone under the title until
    ``run_all --only levers`` has run, after that run's tables and analysis (or its failure) once it has.
    """
    record = [notes_by_hand.LEVERS.text, ""]
    if "levers" not in R:
        return [LEVERS_TITLE, "", *record]
    d, lines = _section(R, "levers", LEVERS_TITLE)
    if d is None:
        return lines + record
    size = d.get("size", {})
    for photo, label in (("astronaut", "Tuning corpus (astronaut photo)"), ("grace_hopper", "Held-out corpus (Grace Hopper photo)")):
        if photo in d:
            lines += [f"{label}, seed {size.get('seed')}, {size.get('actors')} actors x {size.get('clips_per_actor')} clips:",
                      "", d[photo]["markdown"], ""]
    if "landmark_floor" in d:
        lines += ["What the detector's points hold (`bench.bench_landmark_floor` on the same two corpora): a ridge map "
                  "from each frame's aligned detector points (`detector`) or true points + 1 px (`oracle`) to its true "
                  "offsets, learnt on the tuning corpus's other actors (leave one actor out) or on all of them and applied "
                  "to the held-out corpus; each cell the total, (static, dynamic) error in mm; recognisability of the "
                  "mapped meshes (of the true ones):", "", d["landmark_floor"]["markdown"], ""]
    return lines + analysis(notes.LEVERS_ANALYSIS) + [
        f"Measured by hand on {notes_by_hand.LEVERS.measured}, before `make bench` ran this section:", "", *record]
