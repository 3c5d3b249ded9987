"""Artefacts and sidecars under ``<out>/work/<stage>/``.

Every stage writes, for each key (a clip id, an actor, a split), one artefact
``<key>.npz`` (or ``<key>.json``) and then a sidecar ``<key>.sidecar.json``::

    {"stage", "key", "status": "ok" | "failed", "input_hash", "config_hash", "code_version",
     "output_sha256", "output", "reason", "cacheable", "seconds", "created"}

Both are written atomically, the artefact first, so a sidecar always describes a complete
artefact. A stage is up to date when its sidecar's ``input_hash``, ``config_hash`` and
``code_version`` equal the current ones (and, for ``ok``, the artefact exists). A ``failed``
sidecar with ``cacheable: true`` records a deterministic failure of bad input (corrupt video,
no face, a diverged fit): it is reported again on a rerun without redoing the work. Unexpected
errors are recorded with ``cacheable: false`` and retried on the next run.

``output_sha256`` hashes the artefact's *content* (array names, dtypes, shapes, bytes), not
the file bytes, so rewriting equal content gives an equal hash and downstream stages stay
up to date.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Mapping

import numpy.typing as npt

import numpy as np

from emoface.utils.atomic import atomic_path, write_json_atomic

__all__ = [
    "ClipError",
    "Sidecar",
    "Store",
    "content_hash",
    "combine_hashes",
    "cleanup_temporaries",
]


class ClipError(RuntimeError):
    """Bad input for one clip (corrupt video, no audio, no face, diverged fit): recorded, cached, not fatal."""


@dataclass(frozen=True)
class Sidecar:
    stage: str
    key: str
    status: str
    input_hash: str
    config_hash: str
    code_version: str
    output_sha256: str | None = None
    output: str | None = None
    reason: str | None = None
    cacheable: bool = True
    seconds: float = 0.0
    created: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def matches(self, input_hash: str, config_hash: str, code_version: str) -> bool:
        return (self.input_hash, self.config_hash, self.code_version) == (input_hash, config_hash, code_version)


def combine_hashes(*parts: object) -> str:
    """sha256 of a JSON-serialisable description (hashes, ids, numbers)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def content_hash(arrays: Mapping[str, npt.ArrayLike]) -> str:
    """sha256 over sorted names, dtypes, shapes and bytes of ``arrays`` (JSON for non-arrays)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        value = arrays[name]
        h.update(name.encode() + b"\0")
        if isinstance(value, np.ndarray):
            a = np.ascontiguousarray(value)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes() if a.dtype != object else json.dumps(a.tolist(), default=str).encode())
        else:
            h.update(json.dumps(value, sort_keys=True, default=str).encode())
        h.update(b"\1")
    return h.hexdigest()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Store:
    """Paths, sidecars and atomic artefact writes for one build folder ``out``."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.work = self.out / "work"

    def folder(self, stage: str) -> Path:
        return self.work / stage

    def artefact(self, stage: str, key: str, ext: str = ".npz") -> Path:
        return self.work / stage / f"{key}{ext}"

    def sidecar_path(self, stage: str, key: str) -> Path:
        return self.work / stage / f"{key}.sidecar.json"

    def read_sidecar(self, stage: str, key: str) -> Sidecar | None:
        path = self.sidecar_path(stage, key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Sidecar(**data)
        except (OSError, json.JSONDecodeError, TypeError):
            return None

    def up_to_date(self, stage: str, key: str, input_hash: str, config_hash: str, code_version: str) -> Sidecar | None:
        """The sidecar when ``stage`` need not run for ``key`` (ok with its artefact, or a cached failure)."""
        sc = self.read_sidecar(stage, key)
        if sc is None or not sc.matches(input_hash, config_hash, code_version):
            return None
        if sc.ok:
            if sc.output is None or not (self.work / stage / sc.output).is_file():
                return None
            return sc
        return sc if sc.cacheable else None

    # -- writing ---------------------------------------------------------------------------
    def write_npz(self, stage: str, key: str, arrays: Mapping[str, npt.ArrayLike]) -> tuple[str, str]:
        """Write ``arrays`` as ``<key>.npz`` atomically; returns ``(file name, content hash)``."""
        path = self.artefact(stage, key, ".npz")
        clean = {k: (np.asarray(v) if not isinstance(v, str) else np.asarray(v)) for k, v in arrays.items()}
        with atomic_path(path) as tmp:
            np.savez(tmp, **clean)
        return path.name, content_hash(clean)

    def write_json(self, stage: str, key: str, obj: object, ext: str = ".json") -> tuple[str, str]:
        path = self.artefact(stage, key, ext)
        write_json_atomic(path, obj)
        return path.name, combine_hashes(obj)

    def record_ok(self, stage: str, key: str, hashes: tuple[str, str, str], output: str, output_sha256: str, seconds: float) -> Sidecar:
        sc = Sidecar(stage, key, "ok", *hashes, output_sha256=output_sha256, output=output, seconds=round(seconds, 3), created=_now())
        write_json_atomic(self.sidecar_path(stage, key), dataclasses.asdict(sc))
        return sc

    def record_failed(self, stage: str, key: str, hashes: tuple[str, str, str], reason: str, cacheable: bool, seconds: float) -> Sidecar:
        reason = " ".join(str(reason).split())[:500] or "unknown error"
        sc = Sidecar(stage, key, "failed", *hashes, reason=reason, cacheable=cacheable, seconds=round(seconds, 3), created=_now())
        write_json_atomic(self.sidecar_path(stage, key), dataclasses.asdict(sc))
        return sc

    def load_npz(self, stage: str, key: str) -> dict[str, np.ndarray]:
        path = self.artefact(stage, key, ".npz")
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}


def cleanup_temporaries(folder: str | Path) -> int:
    """Remove temporary files left by a killed run (``.<name>.<random>.tmp*`` from atomic writes)."""
    removed = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            if name.startswith(".") and ".tmp" in name:
                try:
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
                except OSError:
                    pass
    return removed
