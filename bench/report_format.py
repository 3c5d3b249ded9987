"""Formatting helpers and derived figures shared by ``bench.report`` and ``bench.report_sections``."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench.machine import machine_label

RAVDESS_FRAMES = 160_000  # frames of the RAVDESS speech set at 30 fps (issue 5)


def load(results: Path) -> dict[str, dict]:
    """Every ``<name>.json`` under ``results`` written by ``bench.run_all`` (has ``meta``), by name."""
    out = {}
    for p in sorted(results.glob("*.json")):
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(d, dict) and "meta" in d:
            out[p.stem] = d
    return out


def g(d, *keys, default=None):
    """``d[k1][k2]...`` or ``default`` when any level is missing."""
    for k in keys:
        if isinstance(d, dict) and k in d:
            d = d[k]
        elif isinstance(d, list) and isinstance(k, int) and -len(d) <= k < len(d):
            d = d[k]
        else:
            return default
    return d


def num(x, fmt: str = ".2f", unit: str = "") -> str:
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return "n/a"
    return f"{x:{fmt}}{unit}"


def plural(n, word: str) -> str:
    """``1 actor``, ``17 actors``."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def pct(x, fmt: str = ".1f") -> str:
    return "n/a" if x is None else f"{100 * x:{fmt}}%"


def run_cell(meta: dict) -> str:
    """Machine, date and load of a section: ``2 cores, Xeon, no GPU; 2026-11-29; load 3.1 -> 4.2``."""
    ls, le = g(meta, "load_start", 0), g(meta, "load_end", 0)
    return f"{machine_label(meta.get('machine', {}))}; {meta.get('date')}; load {num(ls, '.1f')} -> {num(le, '.1f')}"


def cmd(meta: dict) -> str:
    return f"`{meta.get('command')}`"


def verdict(value, goal: float, higher_is_better: bool, estimate: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    ok = value >= goal if higher_is_better else value <= goal
    word = "met" if ok else "**not met**"
    return f"{word} (estimate)" if estimate else word


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *["| " + " | ".join(r) + " |" for r in rows], ""]


def missing(name: str) -> list[str]:
    return [f"*Not measured yet: `python -m bench.run_all --only {name}`.*", ""]


def failed(d: dict) -> list[str] | None:
    if "error" in d:
        last = d["error"].strip().splitlines()[-1] if d["error"].strip() else "?"
        return [f"*This benchmark failed in its last run ({run_cell(d['meta'])}): `{last}`; the traceback is in "
                f"its results file, {d['meta']['name']}.json.*", ""]
    return None


def analysis(text: str) -> list[str]:
    if not text:
        return []
    return [f"*Analysis (hand-written from investigations that `make bench` does not repeat):* {text}", ""]


def mode_note(d: dict) -> str:
    return " **(quick mode: small sizes, not the reference numbers)**" if g(d, "plan", "mode") == "quick" else ""


# --------------------------------------------------------------------------- derived figures
def cores_used(run: dict) -> float:
    """CPU seconds of a build's processes per wall second: how much of the machine it actually got."""
    return run["cpu_s"] / run["wall_s"] if run.get("wall_s") else float("nan")


def build_after(b: dict) -> tuple[float | None, float | None]:
    """(after-landmarks / decode+landmarks as measured, the same with identity spread over 60 clips per actor)."""
    r = g(b, "runs", "workers_1") or {}
    return r.get("after_landmarks_over_decode_landmarks"), r.get("after_over_decode_landmarks_at_60_clips_per_actor")


def largest(scaling: dict, workers: int) -> dict | None:
    rows = [r for r in g(scaling, "rows", default=[]) if r.get("workers") == workers]
    return max(rows, key=lambda r: r["clips"]) if rows else None


def train_row(t: dict, preset: str, v: int, variant: str) -> dict | None:
    for r in g(t, "rows", default=[]):
        if r.get("preset") == preset and r.get("vertices") == v and r.get("variant") == variant and "seconds_per_step" in r:
            return r
    return None


def infer_rows(inf: dict) -> dict[tuple, dict]:
    """Inference rows by (preset, V, audio seconds, decoder), the small preset first."""
    rows = sorted(g(inf, "rows", default=[]), key=lambda r: (r["preset"] != "small", r["preset"], r["vertices"], r["audio_seconds"]))
    return {(r["preset"], r["vertices"], r["audio_seconds"], r["decoder"]): r for r in rows}
