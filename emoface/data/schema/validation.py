"""The validator of split files (what ``emoface validate`` runs): :func:`validate_split`, :func:`require_valid_split`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from emoface.data.ravdess import EMOTIONS
from emoface.data.schema.records import (
    INT_CLIP_ATTRS,
    PER_CLIP_PARAMS,
    REQUIRED_CLIP_ATTRS,
    InvalidSplitError,
    attr_value,
    faces_sha256,
    header_problems,
    length_problem,
)

__all__ = ["validate_split", "require_valid_split"]


def require_valid_split(path: str | os.PathLike) -> Path:
    """Run :func:`validate_split` (the checks of ``emoface validate``) before a command uses ``path``.

    Raises :class:`InvalidSplitError` with one line: the file, its first problem and how many
    more there are. Returns the path.
    """
    problems = validate_split(path, max_problems=1000)
    if problems:
        more = f" (and {len(problems) - 1} more problems; run `emoface validate {path}`)" if len(problems) > 1 else ""
        raise InvalidSplitError(problems[0] + more)
    return Path(path)


def validate_split(path: str | os.PathLike, max_problems: int = 200) -> list[str]:
    """Check a split file completely; returns a list of readable problems (empty when valid).

    Checks: the file opens; format and version; required attributes; faces (F, 3) int with
    indices < V; region indices in range; templates (V, 3) float32 finite; per clip: vertices
    (T, V, 3) float32 finite, audio (N,) float32 finite and covering T frames at ``fps`` to
    within one frame, attributes present and consistent, params/landmarks/fit_error with T
    frames and finite.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        return [f"{path}: file not found"]
    try:
        h = h5py.File(path, "r")
    except OSError as exc:
        return [f"{path}: not a readable HDF5 file (truncated or corrupt?): {str(exc).splitlines()[0]}"]
    problems: list[str] = []

    def add(msg: str) -> None:
        if len(problems) < max_problems:
            problems.append(f"{path}: {msg}")

    try:
        attrs = {k: attr_value(v) for k, v in h.attrs.items()}
        for p in header_problems(h, attrs):
            add(p)
        if problems:
            return problems
        fps = float(attrs["fps"])
        sr = int(attrs["sample_rate"])
        n_v = int(attrs["n_vertices"])
        faces = h["topology/faces"]
        if faces.ndim != 2 or faces.shape[1] != 3 or faces.dtype.kind not in "iu":
            add(f"/topology/faces must be (F, 3) integers, got {faces.shape} {faces.dtype}")
        else:
            f = faces[()]
            if f.size and (f.min() < 0 or f.max() >= n_v):
                add(f"/topology/faces index outside 0-{n_v - 1}")
            if faces_sha256(f) != attrs["topology_sha256"]:
                add("topology_sha256 does not match /topology/faces")
        for name, d in h["topology/regions"].items():
            idx = d[()]
            if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= n_v)):
                add(f"/topology/regions/{name}: indices must be 1-D within 0-{n_v - 1}")
        subjects = set(h["subjects"].keys())
        for s in sorted(subjects):
            g = h[f"subjects/{s}"]
            if "template" not in g:
                add(f"/subjects/{s}: missing template")
                continue
            t = g["template"]
            if t.shape != (n_v, 3) or t.dtype != np.float32:
                add(f"/subjects/{s}/template must be ({n_v}, 3) float32, got {t.shape} {t.dtype}")
            elif not np.all(np.isfinite(t[()])):
                add(f"/subjects/{s}/template holds NaN or inf")
        for cid in sorted(h["clips"].keys()):
            _validate_clip(h[f"clips/{cid}"], cid, n_v, fps, sr, subjects, add)
    except (OSError, RuntimeError, KeyError) as exc:
        add(f"unreadable content (truncated or corrupt?): {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    finally:
        h.close()
    return problems


def _validate_clip(g, cid: str, n_v: int, fps: float, sr: int, subjects: set[str], add) -> None:
    where = f"/clips/{cid}"
    for req in ("vertices", "audio"):
        if req not in g:
            add(f"{where}: missing dataset {req!r}")
            return
    v = g["vertices"]
    if v.ndim != 3 or v.shape[1:] != (n_v, 3) or v.dtype != np.float32:
        add(f"{where}/vertices must be (T, {n_v}, 3) float32, got {v.shape} {v.dtype}")
        return
    t = v.shape[0]
    if t < 1:
        add(f"{where}/vertices has no frames")
        return
    bad = 0
    for start in range(0, t, 256):
        bad += int((~np.isfinite(v[start : start + 256])).sum())
    if bad:
        add(f"{where}/vertices holds {bad} NaN/inf values")
    a = g["audio"]
    if a.ndim != 1 or a.dtype != np.float32:
        add(f"{where}/audio must be (N,) float32, got {a.shape} {a.dtype}")
    else:
        problem = length_problem(t, a.shape[0], fps, sr)
        if problem:
            add(f"{where}: {problem}")
        if not np.all(np.isfinite(a[()])):
            add(f"{where}/audio holds NaN or inf")
    attrs = {k: attr_value(x) for k, x in g.attrs.items()}
    missing = [k for k in REQUIRED_CLIP_ATTRS if k not in attrs]
    not_int = [k for k in INT_CLIP_ATTRS if k in attrs and
               (isinstance(attrs[k], bool) or not isinstance(attrs[k], (int, np.integer)))]
    if missing:
        add(f"{where}: missing attribute(s) {', '.join(missing)}")
    elif not_int:
        add(f"{where}: attribute(s) {', '.join(f'{k}={attrs[k]!r}' for k in not_int)} must be integers")
    else:
        if attrs["subject"] not in subjects:
            add(f"{where}: subject {attrs['subject']!r} has no /subjects entry")
        if int(attrs["n_frames"]) != t:
            add(f"{where}: n_frames={attrs['n_frames']} but vertices have {t} frames")
        if not 0 <= int(attrs["emotion"]) < len(EMOTIONS):
            add(f"{where}: emotion {attrs['emotion']} outside 0-{len(EMOTIONS) - 1}")
        elif attrs["emotion_name"] != EMOTIONS[int(attrs["emotion"])]:
            add(f"{where}: emotion_name {attrs['emotion_name']!r} does not match emotion {attrs['emotion']}")
        if int(attrs["intensity"]) not in (0, 1):
            add(f"{where}: intensity must be 0 or 1, got {attrs['intensity']}")
    if "params" in g:
        for name, d in g["params"].items():
            if name not in PER_CLIP_PARAMS and (d.ndim < 1 or d.shape[0] != t):
                add(f"{where}/params/{name} must have {t} frames first, got {d.shape}")
            elif not np.all(np.isfinite(d[()])):
                add(f"{where}/params/{name} holds NaN or inf")
    if "landmarks" in g:
        lm = g["landmarks"]
        if lm.ndim != 3 or lm.shape[0] != t or lm.shape[2] != 3:
            add(f"{where}/landmarks must be (T={t}, L, 3), got {lm.shape}")
    for name in ("fit_error", "valid"):
        if name in g and g[name].shape != (t,):
            add(f"{where}/{name} must be ({t},), got {g[name].shape}")
