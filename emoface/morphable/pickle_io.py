"""Reading FLAME-family files without chumpy and without running code from them.

FLAME 2020/2023 ``generic_model.pkl`` / ``flame2023.pkl`` are Python-2 pickles whose arrays
are partly ``chumpy`` objects; DECA's ``landmark_embedding.npy`` is a pickled dict (inside an
object ``.npy``) whose dynamic-contour entries are pickled torch tensors; ``FLAME_masks.pkl``
is a plain pickled dict of index arrays. A pickle can name any importable callable, so all of
them go through :class:`RestrictedUnpickler`, which admits only:

- numpy array reconstruction (``ndarray``, ``dtype``, ``_reconstruct``, ``scalar``),
- the classes of ``scipy.sparse`` csc/csr/coo matrices (rebuilt from their stored fields),
- chumpy class names (``chumpy.ch.Ch``, ``chumpy.reordering.*``, ``chumpy.ch_ops.*``,
  ``chumpy.ch.MatVecMult``): mapped to an inert holder that only records its state; the few
  array operations FLAME files use are evaluated afterwards with numpy (:func:`to_numpy`),
- a handful of harmless builtins (``set``, ``frozenset``, ``slice``, ``complex``, ``object``
  as a reconstruction base), ``copy_reg._reconstructor`` (re-implemented here),
  ``collections.OrderedDict`` and ``_codecs.encode`` (how Python 3 stores bytes at protocol
  2; text encodings only),
- only when ``allow_torch=True``: torch's tensor rebuild functions, which are decoded through
  ``torch.load(weights_only=True)`` (itself a restricted loader).

Any other global (``os.system``, ``builtins.eval``, ...) raises :class:`UnsafePickleError`
naming the file and the global, before anything is called.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "UnsafePickleError",
    "ChumpyObject",
    "RestrictedUnpickler",
    "load_pickle",
    "load_object_npy",
    "to_numpy",
    "to_plain",
]


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle names a global outside the allowed set."""


class ChumpyObject:
    """Inert stand-in for any chumpy class: keeps the class name and the pickled state."""

    chumpy_class = "chumpy.ch.Ch"

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # NEWOBJ may pass args
        self.state: dict[str, Any] = {}
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = dict(state) if isinstance(state, dict) else {"_raw": state}

    def __repr__(self) -> str:
        return f"ChumpyObject({self.chumpy_class}, keys={sorted(self.state)})"


class _SparseHolder:
    """Inert stand-in for a pickled scipy.sparse matrix; rebuilt by :func:`to_numpy`."""

    sparse_format = "csc"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        self.state = dict(state) if isinstance(state, dict) else {}


class _SkippedTensor:
    """A torch tensor that could not be decoded safely (kept as a marker, then dropped)."""

    def __repr__(self) -> str:
        return "<torch tensor skipped>"


_CHUMPY_CLASSES: dict[tuple[str, str], type] = {}


def _chumpy_class(module: str, name: str) -> type:
    key = (module, name)
    if key not in _CHUMPY_CLASSES:
        _CHUMPY_CLASSES[key] = type(f"Chumpy_{name}", (ChumpyObject,), {"chumpy_class": f"{module}.{name}"})
    return _CHUMPY_CLASSES[key]


_SPARSE: dict[str, type] = {}


def _sparse_class(fmt: str) -> type:
    if fmt not in _SPARSE:
        _SPARSE[fmt] = type(f"Sparse_{fmt}", (_SparseHolder,), {"sparse_format": fmt})
    return _SPARSE[fmt]


def _safe_reconstructor(cls: type, base: type, state: Any) -> Any:
    """``copy_reg._reconstructor`` limited to classes this module admitted."""
    if base is object and isinstance(cls, type) and issubclass(cls, (ChumpyObject, _SparseHolder)):
        return cls.__new__(cls)
    raise UnsafePickleError(f"_reconstructor of {cls!r} with base {base!r} is not allowed")


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    if encoding.lower().replace("-", "") not in ("latin1", "iso88591", "utf8", "ascii"):
        raise UnsafePickleError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return text.encode(encoding)


def _OrderedDict(*args: Any) -> dict:
    """``collections.OrderedDict`` as plain data (torch's empty backward-hook dicts)."""
    import collections

    if args and not isinstance(args[0], (list, tuple, dict)):
        raise UnsafePickleError("OrderedDict with a non-data argument is not allowed")
    return collections.OrderedDict(*args)


def _numpy_global(name: str) -> Any:
    try:
        from numpy._core import multiarray as ma  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray as ma  # type: ignore[no-redef]
    table = {"_reconstruct": ma._reconstruct, "scalar": ma.scalar, "ndarray": np.ndarray, "dtype": np.dtype}
    return table[name]


_NUMPY_MODULES = {
    "numpy",
    "numpy.core.multiarray",
    "numpy._core.multiarray",
    "numpy.core.numeric",
    "numpy._core.numeric",
}
_NUMPY_NAMES = {"_reconstruct", "scalar", "ndarray", "dtype"}
_BUILTINS = {"set": set, "frozenset": frozenset, "slice": slice, "complex": complex, "object": object}
_DTYPE_CLASSES = "numpy.dtypes"


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only the globals listed in the module docstring.

    ``source`` names the file in error messages. Python-2 pickles need ``encoding="latin1"``
    (the default here) so that numpy's byte buffers survive.
    """

    def __init__(self, file, source: str = "<pickle>", allow_torch: bool = False, encoding: str = "latin1"):
        super().__init__(file, encoding=encoding, fix_imports=True)
        self.source = source
        self.allow_torch = allow_torch

    def find_class(self, module: str, name: str) -> Any:
        if module in _NUMPY_MODULES and name in _NUMPY_NAMES:
            return _numpy_global(name)
        if module == _DTYPE_CLASSES and name.endswith("DType"):
            # numpy>=1.25 pickles dtypes through their DType classes (plain data, no code)
            import numpy.dtypes as npd

            obj = getattr(npd, name, None)
            if isinstance(obj, type):
                return obj
        if module in ("builtins", "__builtin__") and name in _BUILTINS:
            return _BUILTINS[name]
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return _safe_reconstructor
        if module == "_codecs" and name == "encode":  # how Python 3 writes bytes at protocol < 3
            return _latin1_encode
        if module == "collections" and name == "OrderedDict":
            return _OrderedDict
        if module == "chumpy" or module.startswith("chumpy."):
            return _chumpy_class(module, name)
        if module.startswith("scipy.sparse"):
            for fmt in ("csc", "csr", "coo"):
                if name == f"{fmt}_matrix" or name == f"{fmt}_array":
                    return _sparse_class(fmt)
        if self.allow_torch and module in ("torch._utils", "torch.storage", "torch"):
            torch_global = _torch_global(module, name)
            if torch_global is not None:
                return torch_global
        raise UnsafePickleError(
            f"{self.source}: refusing to load global '{module}.{name}' "
            "(model files may only hold numpy/scipy.sparse/chumpy data; a pickle must never run code)"
        )


def _torch_global(module: str, name: str) -> Any:
    """Tensor rebuild functions only; storages are decoded with ``torch.load(weights_only=True)``."""
    if module == "torch.storage" and name == "_load_from_bytes":

        def _load_from_bytes(b: bytes) -> Any:
            try:
                import torch

                return torch.load(io.BytesIO(b), weights_only=True, map_location="cpu")
            except Exception:  # undecodable: keep a marker, the entry is dropped later
                return _SkippedTensor()

        return _load_from_bytes
    if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor", "_rebuild_parameter"):

        def _rebuild(storage: Any, *args: Any) -> Any:
            if isinstance(storage, _SkippedTensor):
                return storage
            try:
                import torch._utils as tu

                fn = getattr(tu, name)
                return fn(storage, *args)
            except Exception:
                return _SkippedTensor()

        return _rebuild
    if module == "torch" and name in ("FloatStorage", "LongStorage", "IntStorage", "DoubleStorage"):
        import torch

        return getattr(torch, name)
    return None


def load_pickle(path: str | Path, allow_torch: bool = False) -> Any:
    """Unpickle ``path`` through :class:`RestrictedUnpickler`; errors name the file."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return RestrictedUnpickler(fh, source=str(path), allow_torch=allow_torch).load()
    except UnsafePickleError:
        raise
    except FileNotFoundError:
        raise
    except Exception as exc:  # truncated / not a pickle
        raise ValueError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc})") from exc


def load_object_npy(path: str | Path, allow_torch: bool = True) -> Any:
    """Read an ``.npy`` file; an object array (a pickled payload) goes through the restricted unpickler.

    Returns the array, or for a 0-d object array its single item (e.g. DECA's dict).
    """
    path = Path(path)
    with open(path, "rb") as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                _, _, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                _, _, dtype = np.lib.format.read_array_header_2_0(fh)
        except ValueError as exc:
            raise ValueError(f"{path}: not an .npy file ({exc})") from exc
        if not dtype.hasobject:
            fh.seek(0)
            return np.load(fh, allow_pickle=False)
        try:
            arr = RestrictedUnpickler(fh, source=str(path), allow_torch=allow_torch).load()
        except UnsafePickleError:
            raise
        except Exception as exc:
            raise ValueError(f"{path}: cannot read the pickled payload ({type(exc).__name__}: {exc})") from exc
    if isinstance(arr, np.ndarray) and arr.dtype == object and arr.shape == ():
        return arr.item()
    return arr


def _chumpy_value(obj: ChumpyObject) -> np.ndarray:
    """Evaluate the chumpy expressions found in FLAME-family files with numpy."""
    cls = obj.chumpy_class.rsplit(".", 1)[-1]
    s = obj.state

    def sub(key: str) -> np.ndarray:
        return to_numpy(s[key])

    if "x" in s and cls in ("Ch", "ChHandle"):
        return np.asarray(to_numpy(s["x"]))
    if cls == "Reshape":
        return sub("a").reshape(s["newshape"])
    if cls == "transpose":
        return np.transpose(sub("a"), s.get("axes"))
    if cls == "swapaxes":
        return np.swapaxes(sub("a"), s["axis1"], s["axis2"])
    if cls == "rollaxis":
        return np.rollaxis(sub("a"), s["axis"], s.get("start", 0))
    if cls == "Select":
        out = sub("a").ravel()[np.asarray(s["idxs"])].copy()
        return out.reshape(s["preferred_shape"]) if "preferred_shape" in s else out
    if cls == "Tile":
        return np.tile(sub("a"), s["reps"])
    if cls == "Repeat":
        return np.repeat(sub("a"), s["repeats"], s.get("axis"))
    if cls == "AtleastNd":
        x = sub("x")
        return {1: np.atleast_1d, 2: np.atleast_2d, 3: np.atleast_3d}[int(s["ndims"])](x)
    if cls == "Concatenate":
        names = sorted((k for k in s if k.startswith("m") and k[1:].isdigit()), key=lambda k: int(k[1:]))
        return np.concatenate([sub(k) for k in names], axis=s.get("axis", 0))
    binary = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide}
    if cls in binary:
        return binary[cls](sub("a"), sub("b"))
    if cls == "negative":
        return -sub("a")
    if cls == "MatVecMult":
        mtx = to_numpy(s["mtx"])
        vec = sub("vec")
        return np.asarray(mtx @ vec.ravel()).reshape(-1)
    raise ValueError(f"chumpy object {obj.chumpy_class} cannot be evaluated without chumpy (state keys {sorted(s)})")


def _sparse_value(obj: _SparseHolder) -> sp.spmatrix:
    s = obj.state
    shape = tuple(s.get("_shape", s.get("shape", ())))
    if obj.sparse_format == "coo":
        row = np.asarray(s.get("row", s.get("coords", [None, None])[0]))
        col = np.asarray(s.get("col", s.get("coords", [None, None])[1]))
        return sp.coo_matrix((np.asarray(s["data"]), (row, col)), shape=shape)
    ctor = sp.csc_matrix if obj.sparse_format == "csc" else sp.csr_matrix
    return ctor((np.asarray(s["data"]), np.asarray(s["indices"]), np.asarray(s["indptr"])), shape=shape)


def to_numpy(obj: Any) -> Any:
    """Chumpy holders -> ndarray, sparse holders -> scipy sparse; anything else unchanged."""
    if isinstance(obj, ChumpyObject):
        return _chumpy_value(obj)
    if isinstance(obj, _SparseHolder):
        return _sparse_value(obj)
    return obj


def to_plain(obj: Any) -> Any:
    """Recursively convert a loaded structure (dicts/lists) to numpy/scipy values.

    Torch tensors become numpy arrays; tensors that could not be decoded are dropped from
    dicts (their keys disappear) so callers never see half-decoded data.
    """
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            pv = to_plain(v)
            if isinstance(pv, _SkippedTensor):
                continue
            out[k] = pv
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_plain(v) for v in obj)
    if isinstance(obj, (ChumpyObject, _SparseHolder)):
        return to_numpy(obj)
    if type(obj).__module__.startswith("torch") and hasattr(obj, "detach"):
        return obj.detach().cpu().numpy()
    return obj
