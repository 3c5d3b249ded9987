"""The morphable-model container and its loader (FLAME pickles/npz, the demo head).

``load("demo")`` -> the bundled demo head (``assets/demo_head.npz``, NOT FLAME);
``load("flame")`` -> ``$EMOFACE_FLAME_DIR/generic_model.pkl`` (or ``flame2023.pkl``);
``load(path)`` -> a FLAME ``.pkl`` (no chumpy needed) or a FLAME-format ``.npz``.

FLAME files are licence-restricted (https://flame.is.tue.mpg.de, after registration) and
never bundled. Next to a FLAME file, ``FLAME_masks.pkl``, ``landmark_embedding.npy`` (DECA)
and ``mediapipe_landmark_embedding.npz`` are picked up when present.

The npz format (written by :func:`save_npz`) uses FLAME's key names: ``v_template (V,3)``,
``f (F,3)``, ``shapedirs (V,3,S+E)`` with ``n_shape``/``n_expr``, ``posedirs (V,3,P)``,
``J_regressor (J,V)`` dense, ``weights (V,J)``, ``kintree_table (2,J)``; plus
``region__<name>``, ``lmk__<name>__{face_idx,bary,source_index}``, ``expression_names``,
``uv``, ``face_group__<name>`` and JSON ``metadata``/``expression_regions``.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .landmarks import LandmarkEmbedding, load_deca_embedding, load_mediapipe_embedding
from .regions import load_flame_masks

__all__ = ["MorphableModel", "load", "save_npz", "from_flame_dict", "face_groups_for", "FLAME_URL", "FlameNotFoundError"]

FLAME_URL = "https://flame.is.tue.mpg.de"
FLAME_FILES = ("generic_model.pkl", "flame2023.pkl")
JOINT_NAMES = ("root", "neck", "jaw", "left_eye", "right_eye")
_ASSETS = Path(__file__).resolve().parent / "assets"


class FlameNotFoundError(FileNotFoundError):
    """A user-supplied FLAME file is missing."""


@dataclass
class MorphableModel:
    """A FLAME-format morphable model (numpy, metres, float32).

    Shapes: ``v_template (V,3)``, ``faces (F,3) int32``, ``shapedirs (V,3,S)``,
    ``exprdirs (V,3,E)``, ``posedirs (V,3,P)`` (P = 9*(J-1)), ``J_regressor (J,V)``,
    ``lbs_weights (V,J)``, ``parents (J,)`` (-1 for the root). Joints follow FLAME: 0 root,
    1 neck, 2 jaw, 3 left eye, 4 right eye. ``regions``: name -> int32 vertex indices.
    ``expression_names``: E names (the demo head's components; FLAME: ``expr_000``...).
    ``expression_regions``: component -> the region it mainly moves (demo head).
    ``face_groups``: name -> int32 face indices (demo head: triangles closing the mouth/eyes).
    ``uv (V,2)`` texture coordinates when known. ``metadata``: free-form strings.
    """

    name: str
    kind: str
    v_template: np.ndarray
    faces: np.ndarray
    shapedirs: np.ndarray
    exprdirs: np.ndarray
    posedirs: np.ndarray
    J_regressor: np.ndarray
    lbs_weights: np.ndarray
    parents: np.ndarray
    regions: dict[str, np.ndarray] = field(default_factory=dict)
    landmark_embeddings: dict[str, LandmarkEmbedding] = field(default_factory=dict)
    expression_names: list[str] = field(default_factory=list)
    expression_regions: dict[str, str] = field(default_factory=dict)
    face_groups: dict[str, np.ndarray] = field(default_factory=dict)
    uv: np.ndarray | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        f32 = lambda a: np.ascontiguousarray(np.asarray(a, dtype=np.float32))
        self.v_template = f32(self.v_template)
        self.faces = np.ascontiguousarray(np.asarray(self.faces, dtype=np.int32))
        self.shapedirs = f32(self.shapedirs)
        self.exprdirs = f32(self.exprdirs)
        self.posedirs = f32(self.posedirs)
        self.J_regressor = f32(self.J_regressor)
        self.lbs_weights = f32(self.lbs_weights)
        self.parents = np.asarray(self.parents, dtype=np.int64)
        self.regions = {k: np.asarray(v, dtype=np.int32) for k, v in self.regions.items()}
        self.face_groups = {k: np.asarray(v, dtype=np.int32) for k, v in self.face_groups.items()}
        if not self.expression_names:
            self.expression_names = [f"expr_{i:03d}" for i in range(self.exprdirs.shape[-1])]
        self.validate()

    @property
    def n_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def n_shape(self) -> int:
        return int(self.shapedirs.shape[-1])

    @property
    def n_expr(self) -> int:
        return int(self.exprdirs.shape[-1])

    @property
    def n_joints(self) -> int:
        return int(self.J_regressor.shape[0])

    def expression_index(self, name: str) -> int:
        """Index of a named expression component (KeyError lists the names)."""
        try:
            return self.expression_names.index(name)
        except ValueError:
            raise KeyError(f"{self.name}: no expression component '{name}' (have {self.expression_names})") from None

    def validate(self) -> None:
        """Check shapes and index ranges; raises ValueError naming the model and the problem."""
        V, J = self.n_vertices, self.n_joints
        problems = []
        if self.v_template.shape != (V, 3):
            problems.append(f"v_template {self.v_template.shape}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3 or self.faces.min() < 0 or self.faces.max() >= V:
            problems.append(f"faces {self.faces.shape} out of range")
        for nm in ("shapedirs", "exprdirs", "posedirs"):
            a = getattr(self, nm)
            if a.ndim != 3 or a.shape[:2] != (V, 3):
                problems.append(f"{nm} {a.shape} (want (V,3,K))")
        if self.posedirs.shape[-1] not in (0, 9 * (J - 1)):
            problems.append(f"posedirs has {self.posedirs.shape[-1]} columns, want {9 * (J - 1)}")
        if self.J_regressor.shape != (J, V) or self.lbs_weights.shape != (V, J) or self.parents.shape != (J,):
            problems.append(f"J_regressor {self.J_regressor.shape} / weights {self.lbs_weights.shape} / parents {self.parents.shape}")
        if self.parents.shape == (J,) and (self.parents[0] != -1 or any(not 0 <= p < j for j, p in enumerate(self.parents[1:], 1))):
            problems.append(f"parents {self.parents.tolist()} is not a tree rooted at joint 0")
        if len(self.expression_names) != self.n_expr:
            problems.append(f"{len(self.expression_names)} expression names for {self.n_expr} components")
        for k, r in self.regions.items():
            if len(r) and (r.min() < 0 or r.max() >= V):
                problems.append(f"region {k} out of range")
        for k, e in self.landmark_embeddings.items():
            try:
                e.validate(len(self.faces), f"embedding {k}")
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError(f"{self.name}: invalid morphable model: " + "; ".join(problems))


def _kintree_parents(kintree: np.ndarray) -> np.ndarray:
    kt = np.asarray(kintree).astype(np.int64)
    parents = kt[0].copy()
    parents[parents >= 2**31 - 1] = -1  # FLAME stores uint32 max for the root
    parents[0] = -1
    return parents


def _dense(a) -> np.ndarray:
    return np.asarray(a.toarray() if hasattr(a, "toarray") else a, dtype=np.float32)


def from_flame_dict(
    data: dict,
    name: str,
    kind: str = "flame",
    n_shape: int | None = None,
    n_expr: int | None = None,
    source: str = "<dict>",
) -> MorphableModel:
    """Build a model from FLAME-keyed arrays (pickle or npz contents, chumpy already converted)."""
    from .pickle_io import to_numpy

    def get(key: str):
        if key not in data:
            raise ValueError(f"{source}: missing key '{key}' (not a FLAME-format model)")
        return to_numpy(data[key])

    v = np.asarray(get("v_template"), dtype=np.float32)
    dirs = np.asarray(get("shapedirs"), dtype=np.float32)
    if dirs.ndim == 2:
        dirs = dirs.reshape(v.shape[0], 3, -1)
    if "exprdirs" in data:  # some exports keep expressions apart
        shapedirs, exprdirs = dirs, np.asarray(to_numpy(data["exprdirs"]), dtype=np.float32)
    else:
        K = dirs.shape[-1]
        if n_shape is None and "n_shape" in data:
            n_shape = int(np.asarray(data["n_shape"]))
        if n_expr is None and "n_expr" in data:
            n_expr = int(np.asarray(data["n_expr"]))
        if n_shape is None and n_expr is None:
            if K <= 100:
                raise ValueError(f"{source}: shapedirs has {K} components; pass n_shape/n_expr to split it")
            n_expr = 100  # FLAME 2020/2023: 300 shape + 100 expression; other counts: the last 100
        if n_shape is None:
            n_shape = K - int(n_expr)
        if n_expr is None:
            n_expr = K - int(n_shape)
        if n_shape + n_expr != K or n_shape < 0 or n_expr < 0:
            raise ValueError(f"{source}: cannot split {K} blendshapes into {n_shape} shape + {n_expr} expression")
        shapedirs, exprdirs = dirs[..., :n_shape], dirs[..., n_shape:]
    posedirs = np.asarray(get("posedirs"), dtype=np.float32)
    if posedirs.ndim == 2:  # (V*3, P) or (P, V*3)
        posedirs = posedirs.reshape(v.shape[0], 3, -1) if posedirs.shape[0] == v.size else posedirs.T.reshape(v.shape[0], 3, -1)
    J_reg = _dense(get("J_regressor"))
    names = data.get("expression_names")
    meta = data.get("metadata")
    return MorphableModel(
        name=name,
        kind=kind,
        v_template=v,
        faces=np.asarray(get("f")).astype(np.int64),
        shapedirs=shapedirs,
        exprdirs=exprdirs,
        posedirs=posedirs,
        J_regressor=J_reg,
        lbs_weights=np.asarray(get("weights"), dtype=np.float32),
        parents=_kintree_parents(get("kintree_table")),
        expression_names=[str(s) for s in names] if names is not None else [],
        metadata={k: v for k, v in json.loads(_text(meta)).items() if k not in ("name", "kind")} if meta is not None else {},
    )


def _text(a) -> str:
    """A string stored as a 0-d (or 1-element) numpy array."""
    return str(np.asarray(a).reshape(-1)[0])


def _read_npz(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable FLAME-format npz ({exc})") from exc


def _model_from_npz(path: Path, n_shape: int | None, n_expr: int | None) -> MorphableModel:
    data = _read_npz(path)
    meta = json.loads(_text(data["metadata"])) if "metadata" in data else {}
    kind = meta.get("kind", "flame")
    name = meta.get("name", path.stem)
    model = from_flame_dict(data, name=name, kind=kind, n_shape=n_shape, n_expr=n_expr, source=str(path))
    model.regions = {k[len("region__") :]: v.astype(np.int32) for k, v in data.items() if k.startswith("region__")}
    model.face_groups = {k[len("face_group__") :]: v.astype(np.int32) for k, v in data.items() if k.startswith("face_group__")}
    for key in data:
        if key.startswith("lmk__") and key.endswith("__face_idx"):
            nm = key[len("lmk__") : -len("__face_idx")]
            model.landmark_embeddings[nm] = LandmarkEmbedding(
                data[key], data[f"lmk__{nm}__bary"], data[f"lmk__{nm}__source_index"]
            )
    if "expression_regions" in data:
        model.expression_regions = json.loads(_text(data["expression_regions"]))
    if "uv" in data:
        model.uv = data["uv"].astype(np.float32)
    model.extras = {k[len("extra__") :]: v for k, v in data.items() if k.startswith("extra__")}
    model.validate()
    return model


def save_npz(model: MorphableModel, path: str | Path) -> Path:
    """Write ``model`` in the FLAME-format npz (atomic; byte-identical for equal models)."""
    from emoface.utils.atomic import atomic_path

    arrays: dict[str, np.ndarray] = {
        "v_template": model.v_template,
        "f": model.faces,
        "shapedirs": np.concatenate([model.shapedirs, model.exprdirs], axis=-1),
        "n_shape": np.array(model.n_shape, dtype=np.int64),
        "n_expr": np.array(model.n_expr, dtype=np.int64),
        "posedirs": model.posedirs,
        "J_regressor": model.J_regressor,
        "weights": model.lbs_weights,
        "kintree_table": np.stack([model.parents, np.arange(model.n_joints)]).astype(np.int64),
        "expression_names": np.array(model.expression_names, dtype=str),
        "metadata": np.array(json.dumps({**model.metadata, "name": model.name, "kind": model.kind}, sort_keys=True)),
        "expression_regions": np.array(json.dumps(model.expression_regions, sort_keys=True)),
    }
    if model.uv is not None:
        arrays["uv"] = model.uv
    for k, v in sorted(model.regions.items()):
        arrays[f"region__{k}"] = v
    for k, v in sorted(model.face_groups.items()):
        arrays[f"face_group__{k}"] = v
    for k, e in sorted(model.landmark_embeddings.items()):
        arrays[f"lmk__{k}__face_idx"] = e.face_idx
        arrays[f"lmk__{k}__bary"] = e.bary
        arrays[f"lmk__{k}__source_index"] = e.source_index
    for k, v in sorted(model.extras.items()):
        arrays[f"extra__{k}"] = np.asarray(v)
    path = Path(path)
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for key, arr in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.require(arr, requirements="C"), allow_pickle=False)
                info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, buf.getvalue())
    return path


def _attach_flame_extras(model: MorphableModel, folder: Path) -> None:
    masks = folder / "FLAME_masks.pkl"
    if masks.is_file():
        model.regions.update(load_flame_masks(masks, model.n_vertices))
    deca = folder / "landmark_embedding.npy"
    if deca.is_file():
        embs, dynamic = load_deca_embedding(deca)
        model.landmark_embeddings.update(embs)
        model.extras.update(dynamic)
    mp = folder / "mediapipe_landmark_embedding.npz"
    if mp.is_file():
        model.landmark_embeddings["mediapipe"] = load_mediapipe_embedding(mp)
    model.validate()


def _missing(path: Path, hint: str = "") -> FlameNotFoundError:
    return FlameNotFoundError(
        f"FLAME model file not found: {path}{hint}. FLAME is licence-restricted and not bundled: "
        f"register at {FLAME_URL}, download FLAME 2020 (generic_model.pkl) or FLAME 2023 (flame2023.pkl) "
        "and point EMOFACE_FLAME_DIR (or the path argument) at it."
    )


def _load_flame_pickle(path: Path, n_shape: int | None, n_expr: int | None) -> MorphableModel:
    from .pickle_io import load_pickle

    data = load_pickle(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a FLAME dict, got {type(data).__name__}")
    return from_flame_dict(data, name=path.stem, kind="flame", n_shape=n_shape, n_expr=n_expr, source=str(path))


def load(name_or_path: str | os.PathLike = "demo", n_shape: int | None = None, n_expr: int | None = None) -> MorphableModel:
    """Load a morphable model: ``"demo"``, ``"flame"`` or a ``.pkl``/``.npz`` path.

    ``n_shape``/``n_expr`` override how a FLAME file's 400 blendshapes are split (default
    300 + 100, or what the npz records).
    """
    key = str(name_or_path)
    if key == "demo":
        path = _ASSETS / "demo_head.npz"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the bundled demo head is missing; rebuild it with "
                                    f"`python -m tools.demo_head.build --out {path}` (in a clone of the repository)")
        return _model_from_npz(path, None, None)
    if key == "flame":
        folder = os.environ.get("EMOFACE_FLAME_DIR")
        if not folder:
            raise _missing(Path("$EMOFACE_FLAME_DIR/generic_model.pkl"), " (EMOFACE_FLAME_DIR is not set)")
        for fname in FLAME_FILES:
            if (Path(folder) / fname).is_file():
                return load(Path(folder) / fname, n_shape, n_expr)
        raise _missing(Path(folder) / FLAME_FILES[0], f" (nor {FLAME_FILES[1]} in {folder})")
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        if path.suffix in (".pkl", ".npz"):
            raise _missing(path)
        raise FileNotFoundError(f"{path}: no such model file (names: 'demo', 'flame', or a .pkl/.npz path)")
    if path.suffix == ".npz":
        model = _model_from_npz(path, n_shape, n_expr)
    elif path.suffix == ".pkl":
        model = _load_flame_pickle(path, n_shape, n_expr)
    else:
        raise ValueError(f"{path}: unknown model file type (want .pkl or .npz)")
    if model.kind == "flame":
        _attach_flame_extras(model, path.parent)
    return model


def face_groups_for(faces: np.ndarray) -> dict[str, np.ndarray]:
    """The face groups (e.g. the demo head's ``mouth_interior``) of a bundled model with these faces.

    Meshes in the HDF5 files and in trained runs carry only their faces; a renderer uses this to
    draw the triangles that close the demo head's mouth and eyes dark. Returns ``{}`` for any
    other topology (FLAME has no closing triangles).
    """
    faces = np.asarray(faces)
    demo = load("demo")
    if faces.shape == demo.faces.shape and np.array_equal(faces, demo.faces):
        return {k: np.asarray(v, dtype=np.int64) for k, v in demo.face_groups.items()}
    return {}
