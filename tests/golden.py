"""The golden build: a fixed small generated corpus, built with ``--workers 2``, and one epoch of the
small preset trained on it (issue 14: the refactor must not change what the code computes).

``tests/test_golden_build.py`` runs :func:`build_golden` and :func:`train_golden` and compares
what they make with the arrays recorded in ``tests/data/golden/`` (by :func:`run_golden`). After a deliberate change of behaviour, re-record them with::

    python tests/golden.py record        # from the repository root; about 30 s on 2 cores

One recording per kind of machine (``tests/data/golden/<vendor>-<widest SIMD flag>/``, the CPU in its
manifest): the generated corpus's frames and MediaPipe's landmarks differ in their last bits between an AMD
EPYC and an Intel Xeon (another SIMD path in the libraries that draw and detect), so a run is
compared with the recording of its own kind of CPU (vendor and SIMD flags), and a machine of a kind never
recorded skips the test with a reason (record one there). A re-recording after a change of behaviour redoes
every kind that can be reached; a kind left as it was then fails on its machines, which says so.

What is recorded (``golden.npz`` + ``golden.json``):

- every HDF5 dataset of ``train.h5`` and ``val.h5`` (params, vertices, templates, fit errors,
  valid masks, topology, regions) as a full array, except ``audio`` and ``landmarks`` (the two
  largest, about 2 MB together), which are recorded as sha256 + shape + dtype;
- the HDF5 attributes of every group except the run-specific ones (:data:`SKIPPED_ATTRS`);
- the trained ``state_dict`` (``checkpoints/last.pt``, key ``model``) as full arrays.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_DIR = ROOT / "tests" / "data" / "golden"
ARRAYS, MANIFEST = "golden.npz", "golden.json"  # in GOLDEN_DIR / label(cpu)
# SIMD extensions that pick the libraries' code paths: a recording matches a CPU with the same ones
SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile")

SPLITS = ("train", "val")
# 2 actors x 2 clips; short clips at 640x360 keep the golden arrays small and the run fast
SYNTH_ARGS = ("--actors", "2", "--clips-per-actor", "2", "--seed", "0", "--workers", "2")
# one photo, as when it was recorded (the default set alternates the astronaut and Grace Hopper)
SYNTH_YAML = "width: 640\nheight: 360\nmin_duration_s: 1.0\nlead_s: [0.2, 0.3]\ntail_s: [0.2, 0.3]\nphotos: [astronaut]\n"
SPLIT_YAML = "name: golden\ntrain: [1]\nval: [2]\ntest: []\n"
# configs/emoface-small.yaml, narrowed further so that the recorded weights stay under 0.5 MB
TRAIN_SETS = (
    "model.feature_dim=16",
    "model.mesh_attention.channels=4",
    *(f"model.{enc}.{key}={value}" for enc in ("content_encoder", "emotion_encoder")
      for key, value in (("hidden_size", 16), ("intermediate_size", 32), ("conv_dim", "[16,16,16,16,16,16,16]"))),
    # the recorded weights were trained at the constant rate (the preset's default until 2026-12-07)
    "optim.lr_schedule=constant",
)
# recorded as sha256 only (size); exact by construction: ffmpeg's decode and MediaPipe's output
HASHED = ("audio", "landmarks")
# attributes that name the run rather than what it computed
SKIPPED_ATTRS = ("created", "config", "package_version")


@dataclass(frozen=True)
class GoldenRun:
    """What one golden run produced: arrays by key, and the HDF5 attributes by group."""

    arrays: dict[str, np.ndarray]
    attrs: dict[str, dict[str, object]]


def _run(args: list[str], cwd: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def _plain(value: object) -> object:
    """An HDF5 attribute as a JSON value."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_splits(out: Path) -> GoldenRun:
    """Every dataset and (non-run-specific) attribute of ``out/{train,val}.h5``."""
    import h5py

    arrays: dict[str, np.ndarray] = {}
    attrs: dict[str, dict[str, object]] = {}
    for split in SPLITS:
        with h5py.File(out / f"{split}.h5", "r") as f:
            def visit(name: str, obj: object, split: str = split) -> None:
                if isinstance(obj, h5py.Dataset):
                    arrays[f"{split}/{name}"] = obj[()]
                else:
                    attrs[f"{split}/{name}"] = {k: _plain(v) for k, v in sorted(obj.attrs.items())}

            attrs[f"{split}/"] = {k: _plain(v) for k, v in sorted(f.attrs.items()) if k not in SKIPPED_ATTRS}
            f.visititems(visit)
    return GoldenRun(arrays, attrs)


def read_weights(run_dir: Path) -> dict[str, np.ndarray]:
    """The trained ``state_dict`` of ``run_dir/checkpoints/last.pt`` as numpy arrays."""
    import torch

    state = torch.load(run_dir / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)["model"]
    return {f"weights/{k}": v.detach().cpu().numpy() for k, v in state.items()}


def build_golden(work: Path) -> Path:
    """Generate the corpus and build it with ``--workers 2`` under ``work``; returns the output folder."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "synth.yaml").write_text(SYNTH_YAML)
    (work / "split.yaml").write_text(SPLIT_YAML)
    corpus, out = work / "corpus", work / "out"
    _run(["-m", "pipeline", "synth", "--out", str(corpus), *SYNTH_ARGS, "--config", str(work / "synth.yaml")], ROOT)
    _run(["-m", "pipeline", "ravdess", "--root", str(corpus), "--out", str(out), "--workers", "2",
          "--split", str(work / "split.yaml"), "--no-progress"], ROOT)
    return out


def train_golden(data: Path, run: Path) -> dict[str, np.ndarray]:
    """One epoch of the (narrowed) small preset on ``data``; returns the trained weights."""
    sets = [a for s in TRAIN_SETS for a in ("--set", s)]
    _run(["-m", "emoface", "train", "-c", str(ROOT / "configs" / "emoface-small.yaml"), "-d", str(data),
          "-o", str(run), "--epochs", "1", "--device", "cpu", *sets], ROOT)
    return read_weights(run)


def run_golden(work: Path) -> GoldenRun:
    """The whole golden run: build, then train on what was built."""
    out = build_golden(work)
    built = read_splits(out)
    return GoldenRun({**built.arrays, **train_golden(out, work / "run")}, built.attrs)


def machine() -> dict[str, object]:
    """This machine's CPU: vendor, model name and the SIMD flags of :data:`SIMD_FLAGS` it has (``/proc/cpuinfo``)."""
    from emoface.utils.cpu import cpuinfo  # the installed package (this file also runs as a script)

    info = cpuinfo()
    flags = set(info.get("flags", "").split())
    return {"vendor": info.get("vendor_id", "unknown"), "model": info.get("model name"),
            "flags": [f for f in SIMD_FLAGS if f in flags]}


def label(cpu: dict[str, object]) -> str:
    """The recording folder of a kind of CPU: ``amd`` / ``intel`` (or the vendor string) and its widest SIMD flag."""
    vendor = str(cpu.get("vendor"))
    name = {"AuthenticAMD": "amd", "GenuineIntel": "intel"}.get(vendor, vendor.lower() or "unknown")
    flags = cpu.get("flags") or []
    return f"{name}-{flags[-1]}" if flags else name


def same_kind(recorded: dict[str, object], cpu: dict[str, object]) -> bool:
    """Whether a recording's CPU is this one's kind: the same vendor and the same SIMD flags, among those
    the recording checked (``simd_flags_checked``, so that adding a flag to :data:`SIMD_FLAGS` later does
    not orphan it). The model name, which virtual machines often report generically, is for the reader."""
    if recorded.get("vendor") != cpu.get("vendor"):
        return False
    checked = set(recorded.get("simd_flags_checked") or SIMD_FLAGS)
    return set(recorded.get("flags") or []) == set(cpu.get("flags") or []) & checked


def recorded_machine(folder: Path) -> dict[str, object]:
    """The CPU a recording in ``folder`` was made on (its manifest's ``machine``)."""
    return json.loads((folder / MANIFEST).read_text()).get("machine", {})


def find_recording(cpu: dict[str, object] | None = None) -> Path | None:
    """The recording folder for ``cpu`` (default: this machine), or None if its kind was never recorded."""
    cpu = cpu or machine()
    for folder in sorted(p.parent for p in GOLDEN_DIR.glob(f"*/{MANIFEST}")):
        if same_kind(recorded_machine(folder), cpu):
            return folder
    return None


def load_golden(folder: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The recorded full arrays and the manifest (hashes, shapes, attributes, versions, machine) in ``folder``."""
    with np.load(folder / ARRAYS) as z:
        arrays = {k: z[k] for k in z.files}
    return arrays, json.loads((folder / MANIFEST).read_text())


def versions() -> dict[str, str]:
    """Versions of what computes the golden arrays (a different one may change them legitimately)."""
    from importlib.metadata import version

    import imageio_ffmpeg

    out = {name: version(name) for name in ("numpy", "scipy", "torch", "h5py", "mediapipe", "transformers")}
    out["ffmpeg"] = imageio_ffmpeg.get_ffmpeg_version()
    return out


def sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def is_hashed(key: str) -> bool:
    return key.rsplit("/", 1)[-1] in HASHED


def record(run: GoldenRun, cpu: dict[str, object] | None = None) -> Path:
    """Write ``golden.npz`` (full arrays) and ``golden.json`` (hashes, shapes, attributes, the CPU) into
    this kind of CPU's folder; returns the folder."""
    cpu = cpu or machine()
    folder = GOLDEN_DIR / label(cpu)
    if (folder / MANIFEST).is_file():
        other = recorded_machine(folder)
        if not same_kind(other, cpu):
            raise SystemExit(f"{folder} holds the recording of another kind of CPU ({other}); move it before recording")
    folder.mkdir(parents=True, exist_ok=True)
    full = {k: v for k, v in run.arrays.items() if not is_hashed(k)}
    hashed = {k: {"sha256": sha256(v), "shape": list(v.shape), "dtype": str(v.dtype)}
              for k, v in run.arrays.items() if is_hashed(k)}
    tmp = folder / "golden.tmp.npz"
    np.savez_compressed(tmp, **full)
    tmp.replace(folder / ARRAYS)
    manifest = {"keys": sorted(run.arrays), "hashed": hashed, "attrs": run.attrs, "versions": versions(),
                "machine": {**cpu, "simd_flags_checked": list(SIMD_FLAGS)}}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return folder


def main(argv: list[str]) -> int:
    import tempfile

    if argv != ["record"]:
        print("usage: python tests/golden.py record", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        run = run_golden(Path(tmp))
    folder = record(run)
    print(f"recorded {len(run.arrays)} arrays in {folder} ({(folder / ARRAYS).stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
