"""The per-benchmark sections of BENCHMARKS.md (tables from the results, prose from ``bench.notes``)."""

from __future__ import annotations

from bench import notes
from bench.machine import machine_label
from bench.report_format import (
    analysis, cmd, cores_used, failed, g, infer_rows, missing, mode_note, num, pct, plural, run_cell,
    table,
)


def _head(d: dict) -> list[str]:
    """The line under a section title: the command that reproduces it and machine, date, load, wall time."""
    m = d["meta"]
    return [f"Command: {cmd(m)}. Run: {run_cell(m)}; {num(m.get('wall_s'), '.0f')} s wall{mode_note(d)}.", ""]


def _section(R: dict, name: str, title: str) -> tuple[dict | None, list[str]]:
    d = R.get(name)
    lines = [title, ""]
    if d is None:
        return None, lines + missing(name)
    bad = failed(d)
    if bad:
        return None, lines + bad
    return d, lines + _head(d)


def machines(R: dict) -> list[str]:
    seen: dict[str, dict] = {}
    for d in R.values():
        m = g(d, "meta", "machine", default={})
        seen.setdefault(machine_label(m), m)
    if not seen:
        return []
    cols = list(seen.values())
    fields = [("cores", lambda m: str(m.get("cores"))), ("CPU model (/proc/cpuinfo)", lambda m: str(m.get("cpu_model"))),
              ("memory", lambda m: num(m.get("memory_gib"), ".1f", " GiB")),
              ("GPU (torch.cuda)", lambda m: ", ".join(m.get("gpus") or []) or "none"),
              ("OS", lambda m: str(m.get("os"))), ("Python", lambda m: str(m.get("python")))]
    rows = [[f, *[fn(m) for m in cols]] for f, fn in fields]
    rows += [[k, *[str(g(m, "versions", k)) for m in cols]] for k in (cols[0].get("versions") or {})]
    head = ["", *[f"machine {i + 1}" for i in range(len(cols))]] if len(cols) > 1 else ["", "value"]
    return ["## Machine", "", *table(head, rows)]


# --------------------------------------------------------------------------- scaling
def scaling_section(R: dict) -> list[str]:
    lines = ["## Scaling", ""]
    s, part = _section(R, "build_scaling", "### Build throughput against clips and workers")
    lines += part
    if s:
        lines += [notes.SCALING_BUILD, ""]
        rows = []
        for r in s["rows"]:
            sp = g(s, "speedup_1_to_2_workers", str(r["clips"])) if r["workers"] == 2 else None
            rows.append([f"{r['clips']:,}", str(r["actors"]), f"{r['frames']:,}", str(r["workers"]), num(r["wall_s"], ".1f"),
                         num(r["frames_per_s"], ".1f"), num(r["frames_per_cpu_s"], ".1f"), num(cores_used(r), ".2f"),
                         num(r["clips_per_s"], ".2f"),
                         f"{sp:.2f}x" if sp else "", num(r["peak_rss_mb"], ".0f"),
                         pct(r.get("after_landmarks_over_decode_landmarks"), ".0f"),
                         f"{r['load_average_before']:.1f} -> {r['load_average_after']:.1f}"
                         + (f"; {r['failed']} failed" if r.get("failed") else "")])
        lines += table(["clips", "actors", "frames", "workers", "wall s", "frames/s", "frames / CPU s", "cores used (CPU s / wall s)", "clips/s",
                        "1 -> 2 workers", "peak RSS MB", "after landmarks / decode+landmarks", "load before -> after"], rows)
        noop = s.get("noop_rerun")
        if noop:
            lines += [f"No-op rerun of the {noop['clips']}-clip build: **{noop['command_total_s']:.2f} s** for the command "
                      f"including Python start-up ({noop['command_cpu_s']:.2f} CPU s), {noop['build_call_s']:.2f} s for the "
                      f"`build_ravdess` call alone (goal < 5 s); stages that ran: "
                      f"{sum(noop['stages_run'].values())}.", ""]
    t, part = _section(R, "train_scaling", "### Training step time against sequence length")
    lines += part
    if t:
        lines += [notes.SCALING_TRAIN, ""]
        rows = []
        for f in sorted({r["frames"] for r in t["rows"] if "frames" in r}):
            e = next((r for r in t["rows"] if r.get("frames") == f and r["variant"] == "emoface"), {})
            sb = next((r for r in t["rows"] if r.get("frames") == f and r["variant"] == "single_branch"), {})
            ratio = g(t, "emoface_over_single_branch", str(f))
            rows.append([f"{f:,}", num(e.get("seconds_per_step")) if "error" not in e else "failed",
                         num(sb.get("seconds_per_step")) if "error" not in sb else "failed",
                         f"{ratio:.1f}x" if ratio else "n/a", num(e.get("peak_rss_mib"), ".0f"), num(sb.get("peak_rss_mib"), ".0f"),
                         f"{num(e.get('load_average_after'), '.1f')} / {num(sb.get('load_average_after'), '.1f')}"])
        lines += table(["frames per clip", "EmoFace s / step", "single branch s / step", "EmoFace / single",
                        "EmoFace peak RSS MiB", "single peak RSS MiB", "load after (EmoFace / single)"], rows)
    return lines


# --------------------------------------------------------------------------- generated corpus
def synth_section(R: dict) -> list[str]:
    sy, lines = _section(R, "synth", "## Generated corpus (build-dataset synth)")
    if not sy:
        return lines
    samples = sy.get("samples", [])
    lines += [notes.SYNTH_INTRO, "", "Equivalent standalone commands:", "",
              *[f"    {smp['command']}" for smp in samples], "    python -m bench.bench_synth --warp", ""]
    qs = [(smp, smp.get("quality")) for smp in samples if smp.get("quality")]
    if qs:
        lines += ["### Quality: the detector follows the rendered face", ""]

        def col(fn):
            return [fn(q) for _, q in qs]

        def worst(q: dict, key: str) -> float:
            """Over all frames of each photo's actors, the worst photo (the measures' resting
            level differs between photos, so frames of different photos are not pooled)."""
            per = q.get("per_photo") or {}
            return min(v[key] for v in per.values()) if len(per) > 1 else q[key]

        def per_photo(q: dict) -> str:
            per = q.get("per_photo") or {}
            return "; ".join(f"{k}: {num(v['lip_r_pooled'], '.3f')} / {num(v['brow_r_pooled'], '.3f')}" for k, v in per.items())
        rows = [["frames with a face found, worst clip", ">= 99%", *col(lambda q: f"**{pct(q['detection_min'])}**")],
                ["video frame count = ground-truth frame count", "all clips",
                 *col(lambda q: f"all {q['clips']}" if q["frame_counts_match"] else "**no**")],
                ["inner-lip opening vs GT `mouth_opening`, Pearson r over all frames (of a photo's actors, worst photo)", ">= 0.9",
                 *col(lambda q: f"**{worst(q, 'lip_r_pooled'):.3f}**")],
                ["same, per clip: median / worst", "", *col(lambda q: f"{q['lip_r_clip_median']:.3f} / {q['lip_r_clip_min']:.3f}")],
                ["brow height vs GT `brow_raise`, Pearson r over all frames (of a photo's actors, worst photo)", ">= 0.8",
                 *col(lambda q: f"**{worst(q, 'brow_r_pooled'):.3f}**")],
                ["same, each actor's mean removed", "", *col(lambda q: num(q["brow_r_actor_centred"], ".3f"))]]
        if any(len(q.get("per_photo") or {}) > 1 for _, q in qs):
            rows.append(["per photo: lip r / brow r", "", *col(per_photo)])
        lines += table(["measure", "bar", *[f"seed {smp['seed']} ({q['clips']} clips, {q['frames']:,} frames)" for smp, q in qs]],
                       rows)
        lines += [notes.SYNTH_MEASURES, "", *analysis(notes.SYNTH_ANALYSIS)]
    lines += ["### Speed", ""]
    w = sy.get("warp") or {}
    if w:
        reg = w.get("region") or [0, 0, 0, 0]  # x0, y0, x1, y1
        lines += [notes.SYNTH_WARP + f" {w.get('triangles')} triangles, a {reg[2] - reg[0]} x {reg[3] - reg[1]} px region.", "",
                  *table(["implementation", "ms / frame"], [
                      ["per-triangle `cv2.warpAffine` on bounding boxes + masked copy", num(w.get("per_triangle_warpaffine_ms"), ".1f")],
                      ["triangle-id raster + backward map + `cv2.remap`, map at every pixel", num(w.get("backward_map_remap_ms"), ".1f")],
                      ["same, map on 2 x 2 blocks, bilinearly interpolated (used)", num(w.get("backward_map_remap_2x2_ms"), ".1f")],
                      ["whole frame: warp + mouth interior", num(w.get("render_frame_total_ms"), ".1f")]])]
    rows = []
    for smp in samples:
        ge = smp.get("generate") or {}
        if "cpu_ms_per_frame" not in ge:
            continue
        la, lb = smp.get("load_average_before") or [None], smp.get("load_average_after_generate") or [None]
        rows.append([f"seed {smp['seed']}", f"{ge['clips_done']} / {ge['frames']:,}" + (f" ({ge['clips_failed']} failed)"
                     if ge.get("clips_failed") else ""), num(ge["wall_s"], ".1f"),
                     f"{ge['cpu_ms_per_frame']:.1f} ({ge['steady_cpu_ms_per_frame']:.1f})",
                     f"**{ge['extrapolated_full_corpus_min_cpu']:.1f} min** ({ge['extrapolated_full_corpus_min_cpu_steady']:.1f} min)",
                     f"{ge['extrapolated_full_corpus_min_wall']:.1f} min", f"{num(la[0], '.1f')} -> {num(lb[0], '.1f')}"])
    if rows:
        lines += ["Generation with 2 workers:", "",
                  *table(["sample", "clips / frames", "wall s", "CPU ms / frame (median clip)",
                          "full corpus from CPU, 2 workers (median clip + start-up)", "full corpus from this run's wall time",
                          "load before -> after"], rows),
                  notes.SYNTH_SPEED + " Goal: <= 20 min.", "", *analysis(notes.SYNTH_EARLIER)]
    return lines


# --------------------------------------------------------------------------- fitting
def _loss(name) -> str:
    return {"geman_mcclure": "Geman-McClure", "huber": "Huber", "cauchy": "Cauchy", "l2": "L2"}.get(str(name), str(name))


def _fit_key(cfg: dict, group: str, key: str, flat: str, default=None):
    """A FitConfig value from a result's ``fit_config``: nested groups, or the flat layout of older results."""
    sub = cfg.get(group)
    return sub.get(key, default) if isinstance(sub, dict) else cfg.get(flat, default)


def _fit_config(cfg: dict) -> str:
    cam = cfg.get("camera") or {}
    parts = ["focal length estimated per actor" if cam.get("estimate_focal") else f"fixed {num(cam.get('fov_y_deg'), 'g')}-degree camera",
             f"{_loss(_fit_key(cfg, 'robust', 'loss', 'robust', '?'))} loss",
             f"up to {_fit_key(cfg, 'model', 'max_landmarks', 'max_landmarks', '?')} of the demo head's 468 points fitted"]
    return ", ".join(parts)


def fit_section(R: dict) -> list[str]:
    fi, lines = _section(R, "fit", "## Fitting accuracy")
    if not fi:
        return lines
    c = fi.get("corpus") or {}
    s, o, rv = c.get("summary") or {}, c.get("oracle_summary") or {}, fi.get("ravdess") or {}
    lines += [notes.FIT_INTRO, "", "Equivalent standalone commands:", "",
              f"    {g(fi, 'corpus_generation', 'command')}", f"    {fi.get('command')}", "",
              f"Default `FitConfig` / `SmoothConfig` ({_fit_config(fi.get('fit_config') or {})}), torch threads "
              f"{fi.get('torch_threads')}; CPU times are per-process CPU seconds.", "",
              f"Generated corpus, demo head, {s.get('clips')} clips ({plural(len(c.get('actors') or {}), 'actor')}, "
              f"{num(s.get('frames'), ',d')} frames):", ""]

    def row(label, x):
        return [label, num(x.get("vertex_error_mm_face")), num(x.get("vertex_error_mm_lips")),
                num(x.get("vertex_error_mm_eye_region")), num(x.get("vertex_error_aligned_mm")),
                f"{num(x.get('mouth_r_mean'), '.3f')} / {num(x.get('mouth_r_min'), '.3f')}",
                f"{pct(x.get('landmark_error_iod_fit'), '.2f')} / {pct(x.get('landmark_error_iod_detector'), '.2f')}"]
    lines += table(["landmarks the fit sees", "face mm", "lips mm", "eye region mm", "after one similarity per clip, mm",
                    "mouth-opening r, mean / worst clip", "landmark error % IOD, fit / detector"],
                   [row("MediaPipe detections (what the build uses)", s), row("oracle: true landmark positions + 1 px noise", o)])
    face, oface = s.get("vertex_error_mm_face"), o.get("vertex_error_mm_face")
    if face is not None:
        ok = face <= 2.0
        lines.append(f"- Goal \"mean vertex error <= 2.0 mm\": **{'met' if ok else 'not met'}** with the detector's landmarks "
                     f"({face:.2f} mm); with the true landmark positions (oracle) {num(oface)} mm"
                     + (" - the fitter itself is within the goal, the gap is the detector's bias (analysis below)."
                        if not ok and oface is not None and oface <= 2.0 else "."))
    sizes = [a["size_ratio"] for a in (c.get("actors") or {}).values() if "size_ratio" in a]
    if sizes and s.get("size_floor_mm") is not None:
        lines.append(f"- Size: the generated actors are {min(sizes):.3f}-{max(sizes):.3f} times the model's mean size, which "
                     "no image shows (a face s times larger at s times the distance looks the same), so the fit pins it "
                     f"to the mean. The true shape's nearest mean-size shape is already **{s['size_floor_mm']:.2f} mm** "
                     "from it (frame-weighted): a part of both rows' whole-face error that no landmark fit can remove.")
    if s.get("mouth_r_mean") is not None:
        lines.append(f"- Goal \"mouth opening r >= 0.95\": **{'met' if s['mouth_r_mean'] >= 0.95 else 'not met'}** "
                     f"({s['mouth_r_mean']:.3f} mean, {s['mouth_r_min']:.3f} worst clip).")
    its = [r.get("iterations") for r in c.get("rows", []) if isinstance(r.get("iterations"), int)]
    if its:
        fc = fi.get("fit_config") or {}
        nwarm = _fit_key(fc, "robust", "warmup", "robust_warmup")
        warm = (f" (the first {nwarm} with a Huber loss, then {_loss(_fit_key(fc, 'robust', 'loss', 'robust'))})"
                if nwarm else "")
        lines.append(f"- The fit takes {min(its)}-{max(its)} Levenberg-Marquardt steps per clip{warm}.")
    lines.append("")
    if "reprojection_iod_median" in rv:
        r = rv["reprojection_iod_median"]
        lines += [f"Real RAVDESS clip `{rv['clip']}` ({rv['n_frames']} frames at 30 fps, IOD {rv['inter_ocular_px']:.0f} px): "
                  f"median landmark reprojection error over all 468 embedded points **{pct(r, '.2f')} of the IOD** "
                  f"({rv['reprojection_px_median']:.2f} px; {pct(rv['raw_reprojection_iod_median'], '.2f')} before smoothing); "
                  f"goal <= 2%: **{'met' if r <= 0.02 else 'not met'}**. Jitter {rv['jitter_mm']:.3f} mm/frame^2 after "
                  f"smoothing, {rv['raw_jitter_mm']:.3f} before.", ""]
    elif rv.get("skipped"):
        lines += [f"Real RAVDESS clip: not measured ({rv['skipped']}).", ""]
    ms = c.get("ms_per_frame") or {}
    if ms:
        per_actor = round(s.get("clips", 0) / max(len(c.get("actors") or {}), 1))
        lines += ["CPU ms per frame in the same run (generated corpus, 1280x720):", "",
                  *table(["decode+landmarks", f"identity ({per_actor} clips per actor)", "fit", "smooth", "canonical",
                          "QA metrics (with ground truth)", "after landmarks / decode+landmarks"],
                         [[num(ms.get("decode+landmarks")), num(ms.get("identity")), num(ms.get("fit")), num(ms.get("smooth")),
                           num(ms.get("canonical")), num(ms.get("qa")), pct(c.get("after_landmarks_ratio"), ".0f")]]),
                  f"The corpus has {per_actor} clips per actor; with RAVDESS's 60 the identity share is {per_actor}/60 of the "
                  f"value here. {notes.FIT_CPU}", ""]
    return lines + analysis(notes.FIT_ANALYSIS)


def model_section(R: dict) -> list[str]:
    lines = ["## Model and training", "", notes.THREADS, ""]
    t, part = _section(R, "train", "### Training step")
    lines += part
    if t:
        lines += [notes.TRAIN_INTRO, ""]
        rows = []
        for r in t["rows"]:
            variant = "EmoFace" if r["variant"] == "emoface" else "single branch"
            if "error" in r:
                rows.append([r["preset"], str(r["vertices"]), variant, "failed: " + r["error"].splitlines()[-1][:80], "", "", ""])
                continue
            rows.append([r["preset"], str(r["vertices"]), variant, num(r["seconds_per_step"]), num(r["peak_rss_mib"], ".0f"),
                         num(r["rss_before_mib"], ".0f"), f"{r['params_trainable'] / 1e6:.2f} M"])
        lines += table(["preset", "V", "variant", "s / step", "peak RSS MiB", "RSS before MiB", "trainable params"], rows)
        lines += analysis(notes.TRAIN_ANALYSIS)
    inf, part = _section(R, "inference", "### Inference real-time factor")
    lines += part
    if inf:
        lines += [notes.INFER_INTRO, ""]
        rows_i = infer_rows(inf)
        rows = []
        for (preset, v, sec, dec), r in rows_i.items():
            if dec != "cached":
                continue
            u = rows_i.get((preset, v, sec, "uncached"), {})
            if "seconds" in u:
                us, ratio = f"{u['seconds']:.2f} ({u['rtf']:.3f})", f"{u['seconds'] / r['seconds']:.1f}x"
            elif u.get("skipped"):
                us = f"not run; estimated >= {u['estimated_seconds']:.0f} (>= {u['estimated_rtf']:.1f})"
                ratio = f">= {u['estimated_seconds'] / r['seconds']:.1f}x"
            else:
                us, ratio = "n/a", ""
            rows.append([preset, str(v), f"{sec:g} s", f"{r['frames']:,}", f"{r['seconds']:.2f} ({r['rtf']:.3f})", us, ratio])
        lines += table(["preset", "V", "audio", "frames", "cached s (RTF)", "uncached s (RTF)", "uncached / cached"], rows)
        for preset in dict.fromkeys(k[0] for k in rows_i):
            c = sorted((k[2], r["rtf"]) for k, r in rows_i.items() if k[0] == preset and k[3] == "cached" and "rtf" in r)
            if len(c) > 1:
                lines.append(f"- {preset}: the cached decoder's RTF goes from {c[0][1]:.3f} at {c[0][0]:g} s to {c[-1][1]:.3f} "
                             f"at {c[-1][0]:g} s (linear cost in the length); the uncached loop grows quadratically.")
        lines += ["", *analysis(notes.INFER_ANALYSIS)]
    st, part = _section(R, "small_training", "### Training the small preset")
    lines += part
    if st:
        fc = st.get("fixture_clips") or {}
        lines += [notes.SMALL_INTRO + f" Clips: {', '.join(f'{k} {v}' for k, v in fc.items())}.", ""]
        rows = []
        for r in st["rows"]:
            name = "EmoFace small" if r["variant"] == "emoface" else "single branch small (`--set model.single_branch=true`)"
            if "best_val_lve" not in r:
                rows.append([name, f"failed (exit {r.get('exit_code')})", "", "", "", "", "", ""])
                continue
            rows.append([name, str(r["epochs_run"]), f"{r['best_val_lve'] / 1e-5:.3f} (epoch {r['best_epoch']})",
                         f"{r['best_val_eve'] / 1e-5:.3f}", f"{r['last_val_lve'] / 1e-5:.3f}",
                         f"{r['template_lve'] / 1e-5:.3f} / {r['template_eve'] / 1e-5:.3f}",
                         num(r.get("floor_over_best_lve"), ".1f" if (r.get("floor_over_best_lve") or 0) < 10 else ".0f", "x"),
                         f"{r['wall_s'] / 60:.1f} min ({r['cpu_s'] / 60:.1f} min CPU), {r['peak_rss_mb']:.0f} MB"])
        lines += table(["run", "epochs", "val LVE (best epoch)", "val EVE (same epoch)", "last-epoch LVE",
                        "template-only LVE / EVE", "floor / best LVE", "wall (CPU), peak RSS"], rows)
        lines += analysis(notes.SMALL_ANALYSIS)
    return lines
