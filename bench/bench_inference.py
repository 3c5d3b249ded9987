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


def _paper_model(n_vertices: int):
    """The paper preset's model (random init, seed 0, decoder outputs drawn small so predictions move) and its topology."""
    import torch

    from bench.bench_train import topology
    from emoface.model.build import build_model
    from emoface.train.config import ExperimentConfig
    from emoface.utils.config import load_yaml

    cfg = load_yaml(ExperimentConfig, REPO / "configs" / "emoface-paper.yaml")
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
    ap.add_argument("--bf16", action="store_true", help="paper preset: float32 vs bfloat16 encoders (speed, error)")
    ap.add_argument("--int8", action="store_true", help="paper preset: float32 vs int8 dynamic quantisation (speed, error)")
    args = ap.parse_args()
    if args.bf16 or args.int8:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        load0 = os.getloadavg()[0]
        rows = (bf16_error if args.bf16 else int8_error)(args.seconds, args.vertices or 5023)
        report = {"benchmark": "inference_bf16" if args.bf16 else "inference_int8", "load_average_before": load0, "date": time.strftime("%Y-%m-%d"), "threads": torch.get_num_threads(),
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
