"""Inference real-time factor: cached autoregressive decoding next to the uncached reference loop.

    python -m bench.bench_inference                       # small @ 468 and paper @ 5023, 3 s and 60 s
    python -m bench.bench_inference --presets small --seconds 3 60

The real-time factor is compute seconds / audio seconds (< 1 is faster than real time) for
``model.generate`` (encoders + Mesh Attention + autoregressive decoding, no gradients) on
random audio, for the cached decoder (one token per step against stored keys/values) and
the uncached reference loop (every step re-decodes the whole prefix, as FaceFormer's
``predict`` does). Uncached runs whose estimated time exceeds ``--max-uncached-seconds``
are skipped and reported as such; the estimate is the cached time at that length plus the
extra time of the uncached loop at the shortest length scaled by T^2 (its prefix
re-decoding is quadratic in T; the attention part is even cubic, so this is a lower bound).

Writes ``bench/results/inference.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VERTICES = {"small": 468, "paper": 5023}


def run(preset: str, n_vertices: int, seconds: list[float], max_uncached: float, device: str) -> list[dict]:
    import torch

    from bench.bench_train import _reset_peak_rss, _rss_kib, topology
    from emoface.model.build import build_model
    from emoface.train.config import ExperimentConfig
    from emoface.utils.config import load_yaml

    cfg = load_yaml(ExperimentConfig, REPO / "configs" / f"emoface-{preset}.yaml")
    m = topology(n_vertices)
    torch.manual_seed(0)
    model = build_model(cfg.model, m.faces, n_vertices, 20, m.v_template).to(device).eval()
    for dec in (model.content_decoder, model.emotion_decoder):
        torch.nn.init.normal_(dec.output.weight, std=1e-3)  # trained-like, non-zero output
    tpl = torch.from_numpy(m.v_template).float()
    g = torch.Generator().manual_seed(0)
    model.generate(0.1 * torch.randn(16000, generator=g), tpl)  # warm-up
    rows = []
    per_t2: float | None = None  # extra seconds of the uncached loop per T^2
    cached_s: dict[float, float] = {}
    for sec in seconds:
        audio = 0.1 * torch.randn(int(sec * 16000), generator=g)
        t_frames = model.n_frames_for(audio.shape[0])
        for cached in (True, False):
            row = {"preset": preset, "vertices": n_vertices, "audio_seconds": sec, "frames": t_frames,
                   "decoder": "cached" if cached else "uncached"}
            estimate = None if cached or per_t2 is None else cached_s[sec] + per_t2 * t_frames**2
            if not cached and estimate is not None and estimate > max_uncached:
                row.update(skipped=True, estimated_seconds=estimate, estimated_rtf=estimate / sec)
                rows.append(row)
                print(json.dumps(row), flush=True)
                continue
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            _reset_peak_rss()
            t0 = time.perf_counter()
            model.generate(audio, tpl, first_frame=tpl, cached=cached)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            dt = time.perf_counter() - t0
            if cached:
                cached_s[sec] = dt
            elif per_t2 is None:
                per_t2 = max(0.0, dt - cached_s[sec]) / t_frames**2
            row.update(seconds=dt, rtf=dt / sec, peak_rss_mib=_rss_kib("VmHWM") / 1024)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def _paper_model(n_vertices: int, preset: str = "paper"):
    """The paper preset's model (random init, seed 0, decoder outputs drawn small so predictions move) and its topology
    (``preset``: another ``configs/emoface-<preset>.yaml``, e.g. ``small`` for a test)."""
    import torch

    from bench.bench_train import topology
    from emoface.model.build import build_model
    from emoface.train.config import ExperimentConfig
    from emoface.utils.config import load_yaml

    cfg = load_yaml(ExperimentConfig, REPO / "configs" / f"emoface-{preset}.yaml")
    m = topology(n_vertices)
    torch.manual_seed(0)
    model = build_model(cfg.model, m.faces, n_vertices, 20, m.v_template).eval()
    for dec in (model.content_decoder, model.emotion_decoder):
        torch.nn.init.normal_(dec.output.weight, std=1e-3)
    return model, m


def bf16_error(seconds: list[float], n_vertices: int = 5023, repeats: int = 2) -> list[dict]:
    """Paper preset: cached ``generate`` in float32 and with ``encoder_dtype=torch.bfloat16``.

    RTF of each (median of ``repeats``, alternating) and the bfloat16 output's error against
    float32: max and mean absolute vertex difference (mm) and relative to the offsets' range.
    """
    import statistics

    import torch

    model, m = _paper_model(n_vertices)
    tpl = torch.from_numpy(m.v_template).float()
    g = torch.Generator().manual_seed(0)
    model.generate(0.1 * torch.randn(16000, generator=g), tpl, encoder_dtype=torch.bfloat16)  # warm-up
    rows = []
    for sec in seconds:
        audio = 0.1 * torch.randn(int(sec * 16000), generator=g)
        t32, t16 = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            a = model.generate(audio, tpl, first_frame=tpl).vertices
            t1 = time.perf_counter()
            b = model.generate(audio, tpl, first_frame=tpl, encoder_dtype=torch.bfloat16).vertices
            t32.append(t1 - t0)
            t16.append(time.perf_counter() - t1)
        d = (a - b).abs()
        span = float((a - tpl).abs().max())
        rows.append({"audio_seconds": sec, "rtf_fp32": statistics.median(t32) / sec, "rtf_bf16": statistics.median(t16) / sec,
                     "max_abs_err_mm": float(d.max()) * 1e3, "mean_abs_err_mm": float(d.mean()) * 1e3,
                     "max_err_over_max_offset": float(d.max()) / span if span else None})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def int8_error(seconds: list[float], n_vertices: int = 5023, repeats: int = 2) -> list[dict]:
    """Paper preset: cached ``generate`` in float32, with int8 dynamic quantisation, and with bf16 encoders.

    ``torch.ao.quantization.quantize_dynamic`` on every ``nn.Linear`` (weights int8, activations
    quantised per call; the CNNs' convolutions and Mesh Attention stay float32) of the two
    encoders and the two decoders (``int8``), of the encoders only (``int8 encoders``) or of the
    decoders only (``int8 decoders``), each on a copy of the model; ``bf16``: ``encoder_dtype=torch.bfloat16``. Round-robin in one process,
    the order reversed every other round; RTF (median of ``repeats``), speed-up over float32 and
    the error against float32, as in :func:`bf16_error`.
    """
    import copy
    import statistics

    import torch
    from torch import nn
    from torch.ao.quantization import quantize_dynamic

    model, m = _paper_model(n_vertices)

    def quantised(parts):
        q = copy.deepcopy(model)
        for name in parts:
            quantize_dynamic(getattr(q, name), {nn.Linear}, dtype=torch.qint8, inplace=True)
        return q

    enc = ("content_encoder", "emotion_encoder")
    variants = {"fp32": (model, None), "int8": (quantised(enc + ("content_decoder", "emotion_decoder")), None),
                "int8 encoders": (quantised(enc), None), "int8 decoders": (quantised(("content_decoder", "emotion_decoder")), None),
                "bf16": (model, torch.bfloat16)}
    tpl = torch.from_numpy(m.v_template).float()
    g = torch.Generator().manual_seed(0)
    warm = 0.1 * torch.randn(16000, generator=g)
    for mod, dt in variants.values():
        mod.generate(warm, tpl, encoder_dtype=dt)
    rows = []
    for sec in seconds:
        audio = 0.1 * torch.randn(int(sec * 16000), generator=g)
        times = {k: [] for k in variants}
        outs = {}
        for r in range(repeats):
            for k in (list(variants) if r % 2 == 0 else list(reversed(variants))):
                mod, dt = variants[k]
                t0 = time.perf_counter()
                outs[k] = mod.generate(audio, tpl, first_frame=tpl, encoder_dtype=dt).vertices
                times[k].append(time.perf_counter() - t0)
        a = outs["fp32"]
        span = float((a - tpl).abs().max())
        for k in variants:
            d = (outs[k] - a).abs()
            rows.append({"variant": k, "audio_seconds": sec, "rtf": statistics.median(times[k]) / sec,
                         "speedup_over_fp32": statistics.median(times["fp32"]) / statistics.median(times[k]),
                         "max_abs_err_mm": float(d.max()) * 1e3, "mean_abs_err_mm": float(d.mean()) * 1e3,
                         "max_err_over_max_offset": float(d.max()) / span if span else None})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def concurrent_encoders(seconds: list[float], n_vertices: int = 5023, repeats: int = 4, preset: str = "paper") -> list[dict]:
    """Paper preset: the two audio encoders one after the other, or side by side in two threads.

    ``generate`` runs the content and the emotion encoder one after the other, each on all of
    torch's threads. Side by side, each runs in its own thread on half of them (the
    transformer's matrices at a few seconds of audio are small, so two threads speed one pass up
    by less than 2x). Both encoders whole (CNN and transformer) side by side, or the CNNs one after
    the other and the transformers side by side; the rest of ``generate`` (Mesh Attention, cached
    decoding) after them, as it runs. Alternated in one process, the order reversed every other
    round; seconds (median of ``repeats``), speed-up over one after the other, and the largest
    difference of the features and of the vertices.
    """
    import statistics
    from concurrent.futures import ThreadPoolExecutor

    import torch

    model, m = _paper_model(n_vertices, preset)
    ce, ee = model.content_encoder, model.emotion_encoder
    tpl = torch.from_numpy(m.v_template).float()
    n_threads = torch.get_num_threads()
    halves = (max(1, n_threads // 2), max(1, n_threads - n_threads // 2))

    def on_threads(k: int, fn, *args):
        torch.set_num_threads(k)  # this worker's intra-op threads, and what threads started later begin with
        with torch.no_grad():  # grad mode is per thread: a worker starts with gradients on
            return fn(*args)

    def side_by_side(fc, fe, ac, ae, t):
        try:
            with ThreadPoolExecutor(2) as pool:
                jc, je = pool.submit(on_threads, halves[0], fc, ac, t), pool.submit(on_threads, halves[1], fe, ae, t)
                return jc.result(), je.result()
        finally:
            torch.set_num_threads(n_threads)  # the setting as before, for threads started later too

    def variant(name: str, audio: torch.Tensor, t: int):
        a = audio[None]
        if name == "one after the other":
            return ce(a, t), ee(a, t)
        if name == "side by side":
            return side_by_side(ce, ee, a, a, t)
        return side_by_side(ce.from_cnn_features, ee.from_cnn_features, ce.cnn_features(a), ee.cnn_features(a), t)

    def animate(feats):
        content, emotion = feats
        spk = torch.zeros(1, model.n_speakers)
        spk[0, 0] = 1
        inputs = model.prepare(content, emotion, spk, torch.tensor([[1.0, 0.0]]), tpl[None])
        return model.decode_autoregressive(inputs, torch.zeros(1, *tpl.shape)).fused

    names = ("one after the other", "side by side", "transformers side by side")
    g = torch.Generator().manual_seed(0)
    rows = []
    with torch.no_grad():
        warm = 0.1 * torch.randn(16000, generator=g)
        for k in names:
            variant(k, warm, model.n_frames_for(16000))
        for sec in seconds:
            audio = 0.1 * torch.randn(int(sec * 16000), generator=g)
            t = model.n_frames_for(audio.shape[0])
            enc = {k: [] for k in names}
            total = {k: [] for k in names}
            feats, verts = {}, {}
            for r in range(repeats):
                for k in (names if r % 2 == 0 else names[::-1]):
                    t0 = time.perf_counter()
                    feats[k] = variant(k, audio, t)
                    t1 = time.perf_counter()
                    verts[k] = animate(feats[k])
                    enc[k].append(t1 - t0)
                    total[k].append(time.perf_counter() - t0)
            base = names[0]
            for k in names:
                rows.append({"variant": k, "audio_seconds": sec, "threads": n_threads,
                             "encoders_s": statistics.median(enc[k]), "generate_s": statistics.median(total[k]),
                             "encoders_speedup": statistics.median(enc[base]) / statistics.median(enc[k]),
                             "generate_speedup": statistics.median(total[base]) / statistics.median(total[k]),
                             "max_feature_diff": max(float((x - y).abs().max()) for x, y in zip(feats[k], feats[base])),
                             "features_require_grad": any(x.requires_grad for x in feats[k]),
                             "max_vertex_diff_mm": float((verts[k] - verts[base]).abs().max()) * 1e3})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def run_presets(presets=("small", "paper"), vertices: int | None = None, seconds=(3.0, 60.0),
                max_uncached_seconds: float | dict[str, float] = 300.0, device: str = "cpu",
                threads: int | None = None) -> dict:
    """``run`` for each preset (its default topology unless ``vertices``); returns the report with ``rows``.

    ``max_uncached_seconds`` may be one limit or one per preset.
    """
    import torch

    if threads:
        torch.set_num_threads(threads)
    rows = []
    for preset in presets:
        v = vertices or DEFAULT_VERTICES.get(preset, 468)
        limit = max_uncached_seconds.get(preset, 300.0) if isinstance(max_uncached_seconds, dict) else max_uncached_seconds
        rows += run(preset, v, sorted(seconds), limit, device)
    return {"benchmark": "inference_rtf", "date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or
            platform.machine(), "cpus": os.cpu_count(), "threads": torch.get_num_threads(), "device": device,
            "max_uncached_seconds": max_uncached_seconds, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", nargs="+", default=["small", "paper"])
    ap.add_argument("--vertices", type=int, default=None, help="default: 468 for small, 5023 for paper")
    ap.add_argument("--seconds", nargs="+", type=float, default=[3.0, 60.0])
    ap.add_argument("--max-uncached-seconds", type=float, default=300.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "inference.json")
    compare = ap.add_mutually_exclusive_group()
    compare.add_argument("--bf16", action="store_true", help="paper preset: float32 vs bfloat16 encoders (speed, error)")
    compare.add_argument("--int8", action="store_true", help="paper preset: float32 vs int8 dynamic quantisation (speed, error)")
    compare.add_argument("--concurrent-encoders", action="store_true",
                         help="paper preset: the two encoders one after the other vs side by side in two threads (speed, difference)")
    args = ap.parse_args()
    if args.bf16 or args.int8 or args.concurrent_encoders:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        load0 = os.getloadavg()[0]
        kind = "bf16" if args.bf16 else "int8" if args.int8 else "concurrent_encoders"
        fn = {"bf16": bf16_error, "int8": int8_error, "concurrent_encoders": concurrent_encoders}[kind]
        rows = fn(args.seconds, args.vertices or 5023)
        report = {"benchmark": f"inference_{kind}", "load_average_before": load0, "date": time.strftime("%Y-%m-%d"), "threads": torch.get_num_threads(),
                  "load_average_after": os.getloadavg()[0], "rows": rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        return
    report = run_presets(args.presets, args.vertices, args.seconds, args.max_uncached_seconds, args.device, args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
