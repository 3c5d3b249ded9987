"""Checkpoints and run folders.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, written
atomically and loadable with ``torch.load(path, weights_only=True)``:

- ``format`` ("emoface-checkpoint"), ``version``
- ``model`` (state dict), ``optimizer`` (state dict)
- ``epoch`` (the epoch to run next, or the one in progress), ``step_in_epoch`` (steps of that
  epoch already done), ``global_step``
- ``best`` ``{"val_lve", "epoch"}``
- ``rng``: torch (CPU and CUDA), numpy, python and the schedule generator states
- ``config``: the resolved :class:`~emoface.train.config.ExperimentConfig` as a dict
- ``meta``: what inference needs besides the weights (:class:`RunMeta`)
- ``encoder_configs``: the wav2vec2 architectures as JSON, so that a model fine-tuned from
  pretrained snapshots loads without those folders

Run folder: ``runs/<name>/{config.yaml, checkpoints/{last,best}.pt, metrics.json, events/}``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emoface.utils.atomic import atomic_path

__all__ = ["RunMeta", "CheckpointError", "RunSetupError", "InvalidRunError", "check_meta", "save_checkpoint", "read_checkpoint", "capture_rng", "restore_rng",
           "load_run", "find_checkpoint"]

FORMAT = "emoface-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A missing or unreadable checkpoint (the message names the file)."""


class RunSetupError(CheckpointError):
    """A run that cannot be used as asked: no run at the path, no checkpoint in it, a run that does not fit
    the data (CLIs: a setup error, exit 2)."""


@dataclass
class RunMeta:
    """What a trained model needs at inference besides its weights.

    - ``speakers``: training subjects, in speaker-index order
    - ``emotions``, ``intensities``: class names, in index order
    - ``faces (F, 3)`` int32 and ``n_vertices``: the topology; ``topology``/``topology_sha256``
    - ``templates``: neutral ``(V, 3)`` metres per training subject
    - ``regions``: vertex index arrays (``lips``, ``eye_region``, ``forehead`` ...)
    - ``fps``, ``sample_rate``, ``model_name`` (morphable model of the data)
    """

    speakers: list[str]
    emotions: list[str]
    intensities: list[str]
    faces: np.ndarray
    n_vertices: int
    topology: str = ""
    topology_sha256: str = ""
    model_name: str = ""
    fps: float = 30.0
    sample_rate: int = 16000
    templates: dict[str, np.ndarray] = field(default_factory=dict)
    regions: dict[str, np.ndarray] = field(default_factory=dict)

    def to_state(self) -> dict[str, Any]:
        return {
            "speakers": list(self.speakers), "emotions": list(self.emotions), "intensities": list(self.intensities),
            "faces": torch.from_numpy(np.asarray(self.faces, dtype=np.int32)), "n_vertices": int(self.n_vertices),
            "topology": self.topology, "topology_sha256": self.topology_sha256, "model_name": self.model_name,
            "fps": float(self.fps), "sample_rate": int(self.sample_rate),
            "templates": {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in self.templates.items()},
            "regions": {k: torch.from_numpy(np.asarray(v, dtype=np.int64)) for k, v in self.regions.items()},
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> RunMeta:
        return cls(
            speakers=list(s["speakers"]), emotions=list(s["emotions"]), intensities=list(s["intensities"]),
            faces=s["faces"].numpy(), n_vertices=int(s["n_vertices"]), topology=s.get("topology", ""),
            topology_sha256=s.get("topology_sha256", ""), model_name=s.get("model_name", ""),
            fps=float(s.get("fps", 30.0)), sample_rate=int(s.get("sample_rate", 16000)),
            templates={k: v.numpy() for k, v in s.get("templates", {}).items()},
            regions={k: v.numpy() for k, v in s.get("regions", {}).items()},
        )


class InvalidRunError(RunSetupError):
    """A checkpoint whose run meta is inconsistent (faces, regions or templates outside the topology)."""


def check_meta(meta: RunMeta, where: str | Path) -> None:
    """The checks of ``emoface validate`` applied to a checkpoint's topology, regions and templates."""
    n_v = int(meta.n_vertices)
    faces = np.asarray(meta.faces)
    if faces.ndim != 2 or faces.shape[1] != 3 or (faces.size and (faces.min() < 0 or faces.max() >= n_v)):
        raise InvalidRunError(f"{where}: faces must be (F, 3) indices within 0-{n_v - 1}, got {faces.shape}")
    for name, idx in sorted(meta.regions.items()):
        idx = np.asarray(idx)
        if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= n_v)):
            raise InvalidRunError(f"{where}: region {name!r} has indices outside 0-{n_v - 1} (the run was trained on "
                                  "a split file that `emoface validate` rejects)")
    for name, tpl in sorted(meta.templates.items()):
        tpl = np.asarray(tpl)
        if tpl.shape != (n_v, 3) or not np.all(np.isfinite(tpl)):
            raise InvalidRunError(f"{where}: template of {name!r} must be ({n_v}, 3) finite, got {tpl.shape}")


def capture_rng(schedule_generator: torch.Generator | None = None) -> dict[str, Any]:
    """All random-number-generator states (weights_only-safe)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    out: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    if schedule_generator is not None:
        out["schedule"] = schedule_generator.get_state()
    return out


def restore_rng(state: dict[str, Any], schedule_generator: torch.Generator | None = None) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    if schedule_generator is not None and "schedule" in state:
        schedule_generator.set_state(state["schedule"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (see the module docstring) atomically to ``path``."""
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **state}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` and check its format."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint ({exc.__class__.__name__}: {str(exc)[:200]})") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an EmoFace checkpoint")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {state.get('version')} is newer than this code ({VERSION})")
    return state


def find_checkpoint(run_or_file: str | Path, which: str = "best") -> Path:
    """``runs/NAME`` + ``best|last`` -> the checkpoint file (best falls back to last); a file is returned as is."""
    p = Path(run_or_file)
    if p.is_file():
        return p
    ckpt = p / "checkpoints"
    if not ckpt.is_dir():
        raise RunSetupError(f"{p}: not a run folder (no checkpoints/) and not a checkpoint file")
    for name in ([which] if which != "best" else ["best", "last"]):
        if (ckpt / f"{name}.pt").is_file():
            return ckpt / f"{name}.pt"
    raise RunSetupError(f"{ckpt}: no {which}.pt")


def load_run(run_dir: str | Path, device: str | torch.device = "cpu", which: str = "best"):
    """Load a trained model for inference.

    Args:
        run_dir: ``runs/NAME`` (or a checkpoint file).
        device: where to put the model.
        which: ``best`` (validation LVE; falls back to ``last``), ``last`` or an epoch file name.
    Returns:
        ``(model, cfg, meta)``: the :class:`~emoface.model.emoface.EmoFace` in eval mode, the
        :class:`~emoface.train.config.ExperimentConfig` and the :class:`RunMeta`.
    """
    from emoface.model.build import build_model
    from emoface.train.config import ExperimentConfig
    from emoface.utils.config import from_dict

    path = find_checkpoint(run_dir, which)
    state = read_checkpoint(path)
    cfg = from_dict(ExperimentConfig, state["config"], f"{path}:config")
    meta = RunMeta.from_state(state["meta"])
    check_meta(meta, path)
    template = next(iter(meta.templates.values()), None)
    model = build_model(cfg.model, meta.faces, meta.n_vertices, len(meta.speakers), template,
                        state.get("encoder_configs"))
    missing, unexpected = model.load_state_dict(state["model"], strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not match the configured model "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.to(device).eval()
    return model, cfg, meta
