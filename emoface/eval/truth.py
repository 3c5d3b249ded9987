"""Scoring against the true meshes of a generated corpus (``emoface evaluate --truth CORPUS``).

A split built from a generated corpus (``build-dataset synth``, docs/synth.md) has fitted
meshes; the corpus keeps the meshes that were rendered, ``CORPUS/ground_truth/<clip_id>.npz``
(``vertices (T, V, 3)`` front-facing metres, ``shape (S,)``, ``model``). Comparing a prediction
with those separates what a model gets wrong from what the fit got wrong.

Identity error does not count: both sides are offsets from their own template,

    predicted offset = prediction - the split's template of the subject (the fitted identity)
    true offset      = true vertices - true template

where the true template is the morphable model at the clip's true ``shape`` and zero pose,
with the same expression convention as the split's: when the split's subject records an
``expression_reference`` (the pipeline's default, docs/fitting.md "Reference expression"),
the true template holds the true reference, the per-component median of the true
``expression`` over every frame of the actor's clips in the corpus
(:func:`actor_reference_expression`); otherwise zero expression. The per-clip
sums use the metrics' own recipe (``emoface.metrics``: max over the region's vertices of the
squared error per frame, summed over frames): "LVE vs truth" over the lips, "EVE vs truth"
over the eye region and forehead. :class:`FittedData` is the split's own meshes as a method:
against the truth it measures the training targets' error.
"""

from __future__ import annotations

import functools
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emoface.data.schema import ClipRecord
from emoface.morphable.reference import reference_expression

__all__ = ["TruthError", "TruthCorpus", "FittedData", "truth_frame_count", "actor_reference_expression", "actor_of"]


class TruthError(ValueError):
    """The truth corpus does not fit the split (missing folder or clip, frame or vertex count); names the file."""


@dataclass
class FittedData:
    """The split's own (fitted) meshes as a method: 0 against themselves, the fit's error against the truth."""

    name: str = "fitted data"
    description: str = "the split's own meshes (the training targets): 0 against themselves by definition"
    conditioned: bool = False

    def predict(self, record: ClipRecord, template: np.ndarray, speaker: int | None) -> np.ndarray:
        return np.asarray(record.vertices, np.float32)


def truth_frame_count(path: Path) -> tuple[int, ...]:
    """Shape of ``vertices`` in a ground-truth npz, read from the array header only (no decompression of the data)."""
    try:
        with zipfile.ZipFile(path) as z, z.open("vertices.npy") as fh:
            version = np.lib.format.read_magic(fh)
            reader = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if reader is None:
                raise TruthError(f"{path}: vertices.npy has an unknown npy format version {version}")
            shape, _fortran, _dtype = reader(fh)
    except KeyError:
        raise TruthError(f"{path}: no 'vertices' array (not a generated-corpus ground truth)") from None
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        if isinstance(exc, TruthError):
            raise
        raise TruthError(f"{path}: not a readable npz ({exc})") from None
    return tuple(int(s) for s in shape)


def actor_of(clip_id: str) -> str:
    """The actor field of a RAVDESS-named clip id (its last ``-`` field; the whole id when there is none)."""
    return clip_id.rsplit("-", 1)[-1]


@functools.lru_cache(maxsize=64)
def actor_reference_expression(folder: str, actor: str) -> np.ndarray | None:
    """The true reference expression ``(E,)`` of ``actor``: the per-component median of ``expression`` over every
    frame of the actor's ``<clip_id>.npz`` in ``folder`` (a corpus's ``ground_truth/``); None when none records one."""
    exprs = []
    for p in sorted(Path(folder).glob("*.npz")):
        if actor_of(p.stem) != actor:
            continue
        try:
            with np.load(p, allow_pickle=False) as z:
                if "expression" in z.files:
                    exprs.append(np.asarray(z["expression"], np.float64))
        except (OSError, ValueError) as exc:
            raise TruthError(f"{p}: cannot read the ground truth ({exc})") from None
    if not exprs:
        return None
    return reference_expression(np.concatenate(exprs), "median")


@dataclass
class TruthCorpus:
    """The ground truth of a generated corpus folder.

    Args:
        folder: the corpus (it holds ``ground_truth/``).
        model: the morphable model the corpus was generated with, a name for
            :func:`emoface.morphable.load` (``demo``, ``flame``) or a path; default: from each
            npz's ``model`` (the bundled demo head when it says ``demo-head``).
    """

    folder: Path
    model: str | None = None
    _layers: dict = field(default_factory=dict, repr=False)
    _templates: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        if not (self.folder / "ground_truth").is_dir():
            raise TruthError(f"{self.folder}: no ground_truth/ folder (--truth is a corpus made by `build-dataset synth`)")

    def path(self, clip_id: str) -> Path:
        return self.folder / "ground_truth" / f"{clip_id}.npz"

    def check(self, frames: dict[str, int], n_vertices: int) -> None:
        """Before any work: every clip has its npz, with the split's frame and vertex counts."""
        for cid, n in frames.items():
            p = self.path(cid)
            if not p.is_file():
                raise TruthError(f"{p}: missing (clip {cid} of the split has no ground truth in {self.folder})")
            shape = truth_frame_count(p)
            if len(shape) != 3 or shape[2] != 3:
                raise TruthError(f"{p}: vertices have shape {shape}, expected (T, V, 3)")
            if shape[1] != n_vertices:
                raise TruthError(f"{p}: {shape[1]} vertices, the split has {n_vertices} (another topology)")
            if shape[0] != n:
                raise TruthError(f"{p}: {shape[0]} frames, the split's clip {cid} has {n}: the truth and the split "
                                 "must have the same frame count (was the split built from this corpus?)")

    def _layer(self, name: str):
        from emoface.morphable import MorphableLayer, load

        key = self.model or name
        if key not in self._layers:
            if self.model is not None:
                model = load(self.model)
            else:
                demo = load("demo")
                if name != demo.name:
                    raise TruthError(f"{self.folder}: the truth was generated with model {name!r}; pass the model "
                                     "(truth_model / --truth-model: 'flame' or a .pkl/.npz path) to rebuild its templates")
                model = demo
            self._layers[key] = MorphableLayer(model).eval()
        return self._layers[key]

    def template(self, model_name: str, shape: np.ndarray, expression: np.ndarray | None = None) -> np.ndarray:
        """The true template ``(V, 3)``: the model at ``shape`` and zero pose, with ``expression`` (default zero)."""
        import torch

        shape = np.asarray(shape, np.float32).ravel()
        expr = None if expression is None else np.asarray(expression, np.float32).ravel()
        key = (self.model or model_name, shape.tobytes(), None if expr is None else expr.tobytes())
        if key not in self._templates:
            layer = self._layer(model_name)
            if shape.size > layer.n_shape:
                raise TruthError(f"{self.folder}: the truth's shape has {shape.size} coefficients, model "
                                 f"{layer.model_name!r} has {layer.n_shape}")
            kw = {}
            if expr is not None:
                kw["expression"] = torch.from_numpy(np.ascontiguousarray(expr[: layer.n_expr]))[None]
            with torch.no_grad():
                out = layer(shape=torch.from_numpy(shape)[None], landmarks=None, **kw).vertices[0]
            self._templates[key] = out.numpy().astype(np.float32)
        return self._templates[key]

    def offsets(self, clip_id: str, n_frames: int | None = None, reference: bool = False) -> np.ndarray:
        """True offsets ``(T, V, 3)`` of one clip: true vertices minus the true template (metres); ``reference``:
        the template holds the actor's true reference expression (:func:`actor_reference_expression`)."""
        p = self.path(clip_id)
        try:
            with np.load(p, allow_pickle=False) as z:
                verts = np.asarray(z["vertices"], np.float32)
                shape = np.asarray(z["shape"], np.float32)
                name = str(z["model"]) if "model" in z.files else "demo-head"
        except (OSError, KeyError, ValueError) as exc:
            raise TruthError(f"{p}: cannot read the ground truth ({exc})") from None
        if n_frames is not None and verts.shape[0] != n_frames:
            raise TruthError(f"{p}: {verts.shape[0]} frames, the split's clip has {n_frames}")
        ref = actor_reference_expression(str(p.parent), actor_of(clip_id)) if reference else None
        tpl = self.template(name, shape, ref)
        if tpl.shape[0] != verts.shape[1]:
            raise TruthError(f"{p}: {verts.shape[1]} vertices, the model's template has {tpl.shape[0]}")
        return verts - tpl[None]
