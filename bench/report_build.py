"""The dataset-build sections of BENCHMARKS.md: one build's throughput and stage times, the build of a
generated corpus and the full generated corpus end to end (tables from the results, prose from ``bench.notes``)."""

from __future__ import annotations

from bench import notes
from bench.report_format import (
    RAVDESS_FRAMES, analysis, build_after, cores_used, num, pct, plural, table,
)
from bench.report_sections import _section
from pipeline.stages.registry import REGISTRY

__all__ = ["build_section", "corpus_build_section", "full_corpus_section"]


# --------------------------------------------------------------------------- build
STAGE_LABELS = {"decode": "decode (one ffmpeg process per clip: frames, audio, stream info)",
                "landmarks": "landmarks (Face Landmarker, VIDEO mode)"}
#: the build's stages in order (the stage registry's)
STAGES = REGISTRY.names


def build_section(R: dict) -> list[str]:
    b, lines = _section(R, "build", "## Dataset build")
    if not b:
        return lines
    runs = b.get("runs", {})
    r1 = runs.get("workers_1") or {}
    frames = r1.get("frames") or next(iter(runs.values()), {}).get("frames")
    lines += [notes.BUILD_INTRO, "", f"Clip `{b.get('clip')}` copied under {b.get('clips')} names, {b.get('per_actor')} per "
              f"actor ({frames} frames at 30 fps in all). Equivalent standalone command: "
              f"`python -m bench.bench_build --clips {b.get('clips')} --per-actor {b.get('per_actor')} --noop-clips 0`.", ""]
    rows = [[f"`--workers {r['workers']}`", num(r["wall_s"], ".1f"), num(r["cpu_s"], ".1f"), num(r["frames_per_cpu_s"], ".1f"),
             num(r["frames_per_s"], ".1f"), num(cores_used(r), ".2f"), f"{r['peak_rss_mb']:.0f} MB", f"{r['load_average_before']:.1f} -> "
             f"{r['load_average_after']:.1f}" + (f"; {len(r['failures'])} failed" if r.get("failures") else "")]
            for r in runs.values()]
    lines += table([f"run ({b.get('clips')} clips, {frames} frames)", "wall s", "CPU s", "frames / CPU s", "frames / s",
                    "cores used (CPU s / wall s)", "peak RSS of largest process", "load before -> after"], rows)
    secs = r1.get("stage_seconds") or {}
    if secs and frames:
        lines += [notes.BUILD_STAGES, "",
                  *table(["stage", "s", "ms / frame"],
                         [[STAGE_LABELS.get(k, k) + (f" ({plural(r1.get('actors', 0), 'actor')})" if k == "identity" else ""),
                           num(secs[k]), num(1000 * secs[k] / frames, ".1f")] for k in STAGES if k in secs])]
        dl = secs.get("decode", 0) + secs.get("landmarks", 0)
        meas, at60 = build_after(b)
        total = sum(secs.values())
        lines.append(f"- decode+landmarks: {num(r1.get('decode_landmarks_frames_per_s'), '.1f')} frames/s; everything after "
                     f"landmarks adds {pct(meas, '.0f')} here, where each identity fit serves {b.get('per_actor')} clips; with "
                     f"RAVDESS's 60 clips per actor (identity cost spread over more clips) it adds **{pct(at60, '.0f')}** "
                     f"(goal <= 35%). The landmarker is {pct(secs.get('landmarks', 0) / total if total else None, '.0f')} "
                     f"of the summed stage time, decode+landmarks {pct(dl / total if total else None, '.0f')}.")
        est = [f"{r['full_ravdess_minutes_2_cores_from_cpu_s']:.0f} min (the {r['workers']}-worker rate, load "
               f"{r['load_average_after']:.1f})" for r in runs.values() if "full_ravdess_minutes_2_cores_from_cpu_s" in r]
        lines.append(f"- Full RAVDESS speech set (about {RAVDESS_FRAMES:,} frames) on 2 fully available cores, from frames "
                     f"per CPU-second as measured here: {', '.join(est)}. These {b.get('clips')}-clip runs carry fixed costs "
                     "that a 1,440-clip build spreads out (about 3 s CPU of start-up per process, one identity fit per "
                     f"{b.get('per_actor')} clips instead of per 60); the 1,000-clip build in \"Scaling\" measures them spread out.")
        if b.get("speedup_1_to_2_workers") is not None:
            peaks = ", ".join(f"{r['peak_rss_mb']:.0f} MB" for r in runs.values())
            r2 = runs.get("workers_2") or {}
            extra = (f" The 2-worker build spent {pct(r2['cpu_s'] / r1['cpu_s'] - 1, '+.0f')} CPU seconds relative to the "
                     "1-worker one (a second start-up, identity fits running at once, contention)."
                     if r1.get("cpu_s") and r2.get("cpu_s") else "")
            lines.append(f"- 1 -> 2 workers on these {b.get('clips')} clips: {b['speedup_1_to_2_workers']:.2f}x wall (goal >= 1.8x; "
                         "the largest build in \"Scaling\" is the representative figure)." + extra + " Peak memory of the "
                         f"largest process: {peaks} (goal <= 2 GB per worker).")
        lines.append("")
    return lines + analysis(notes.BUILD_ANALYSIS)


def corpus_build_section(R: dict) -> list[str]:
    b, lines = _section(R, "build_corpus", "## Dataset build on a generated corpus (RAVDESS-length clips)")
    if not b:
        return lines
    gen = b.get("corpus_generation") or {}
    rows = b.get("rows", [])
    lines += [notes.BUILD_CORPUS_INTRO, "", "Equivalent standalone commands:", "", f"    {gen.get('command')}",
              *[f"    build-dataset ravdess --root $WORK/build_corpus --out $WORK/out_w{r['workers']} --workers {r['workers']}"
                for r in rows], ""]
    lines += table(["workers", "clips", "frames", "wall s", "CPU s", "frames / s", "frames / CPU s", "cores used",
                    "after landmarks / decode+landmarks (at 60 clips per actor)", "peak RSS MB", "full RAVDESS, wall rate",
                    "load before -> after"],
                   [[str(r["workers"]), str(r["clips"]), f"{r['frames']:,}", num(r["wall_s"], ".1f"), num(r["cpu_s"], ".1f"),
                     num(r["frames_per_s"], ".1f"), num(r["frames_per_cpu_s"], ".1f"), num(cores_used(r), ".2f"),
                     f"{pct(r.get('after_landmarks_over_decode_landmarks'), '.0f')} "
                     f"({pct(r.get('after_over_decode_landmarks_at_60_clips_per_actor'), '.0f')})",
                     f"{r['peak_rss_mb']:.0f}", f"{r['full_ravdess_minutes']:.0f} min",
                     f"{r['load_average_before']:.1f} -> {r['load_average_after']:.1f}"
                     + (f"; {r['failed']} failed" if r.get("failed") else "")] for r in rows])
    r1 = next((r for r in rows if r["workers"] == 1), None)
    secs, frames = (r1 or {}).get("stage_seconds") or {}, (r1 or {}).get("frames")
    if secs and frames:
        lines += ["Time per stage of the 1-worker build, summed over clips:", "",
                  *table(["stage", "s", "ms / frame"],
                         [[STAGE_LABELS.get(k, k), num(secs[k]), num(1000 * secs[k] / frames, ".1f")] for k in STAGES if k in secs])]
    if b.get("speedup_1_to_2_workers"):
        lines += [f"1 -> 2 workers: **{b['speedup_1_to_2_workers']:.2f}x** wall (goal >= 1.8x).", ""]
    return lines + analysis(notes.BUILD_CORPUS_ANALYSIS)


def full_corpus_section(R: dict) -> list[str]:
    d, lines = _section(R, "full_corpus", "## The full generated corpus, end to end")
    if not d:
        return lines
    gen, b, qa = d.get("generation") or {}, d.get("build") or {}, d.get("qa_summary") or {}
    gt = qa.get("ground_truth") or {}
    lines += [notes.FULL_CORPUS_INTRO, "", "Equivalent standalone commands:", "", f"    {gen.get('command')}",
              f"    {b.get('command')}", ""]
    rows = [["generate (`build-dataset synth`)", f"{gen.get('clips_done', 0):,} ({gen.get('clips_failed', 0)} failed)",
             f"{gen.get('frames', 0):,}", num((gen.get("wall_s") or 0) / 60, ".1f"), "-", "-", "-"]]
    if b:
        rows.append(["build (`build-dataset ravdess --workers 2`)", f"{b['clips']:,} ({b.get('failed', 0)} failed)",
                     f"{b['frames']:,}", num(b["wall_s"] / 60, ".1f"), num(b["frames_per_s"], ".1f"),
                     f"{pct(b.get('after_landmarks_over_decode_landmarks'), '.0f')}", f"{b['peak_rss_mb']:.0f}"])
    lines += table(["step", "clips", "frames", "wall min", "frames / s", "after landmarks / decode+landmarks",
                    "peak RSS MB"], rows)
    splits = d.get("splits") or {}
    if splits:
        lines += ["Splits (paper split by actor): " + ", ".join(
            f"{k} {v['clips']} clips ({'valid' if v['validation_problems'] == 0 else str(v['validation_problems']) + ' problems'})"
            for k, v in splits.items()) + ".", ""]
    if gt:
        lines += [f"Fit against the ground truth over the whole corpus: {num(gt.get('vertex_error_mm_face'), '.2f')} mm face, "
                  f"{num(gt.get('vertex_error_mm_lips'), '.2f')} mm lips, {num(gt.get('vertex_error_mm_eye_region'), '.2f')} "
                  f"mm eye region; mouth-opening r {num((gt.get('mouth_correlation') or {}).get('mean'), '.3f')} (mean over "
                  f"clips); faces found in {pct((qa.get('detection_rate') or {}).get('mean'), '.1f')} of frames (mean over clips); "
                  f"{qa.get('flagged', 0)} clips flagged.", ""]
    return lines


# --------------------------------------------------------------------------- model and training
