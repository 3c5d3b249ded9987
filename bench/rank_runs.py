"""What each run of the ranking experiment (bench/rank.py) was launched with, and whether it is stale.

Before ``emoface train`` starts a run, :func:`write_record` puts a :class:`RunRecord` in the run
folder (``rank_run.json``, written atomically): the full ``--set`` list, the epochs, the sha256 of
the preset's values (:func:`config_values_sha256`: its YAML parsed, so that a comment or a layout
change is not a change; records from before it hold the file's bytes), a fingerprint of the
training data (:func:`data_fingerprint`: the hashes
the build's ``package`` stage records for ``train.h5`` and ``val.h5``, which change whenever the
clips, the fitting code or the build config behind a split change) and a hash of the training code
(:func:`code_fingerprint`: ``emoface/model``, ``emoface/train``). A resumed experiment compares
each existing run's record with what it would launch now (:func:`stale_items`); a run that differs
was trained with other settings or on other data and must not be resumed or kept. Other training
code makes an unfinished run stale (one run would mix two versions); a finished one is kept, with a
line saying so, and its record keeps the code it was trained with.

Runs from before the record (no ``rank_run.json``) are judged by what they left (:func:`legacy_items`):
their resolved ``config.yaml`` against the config the experiment would resolve now, and the split
files against the run's oldest file (data rebuilt after the run started). Those that agree are
adopted: their record is written.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["RECORD", "RunRecord", "config_values_sha256", "data_fingerprint", "code_fingerprint", "code_changed", "launch_record",
           "read_record", "write_record", "stale_items",
           "legacy_items", "has_trained", "move_aside"]

#: the record's file name in the run folder
RECORD = "rank_run.json"
#: the splits a run trains on (``val.h5`` chooses ``best.pt``)
TRAINED_ON = ("train", "val")
#: settings that may change when a run is resumed (they do not change what it learns)
_RESUMABLE = frozenset({"train.device", "train.threads", "train.num_workers"})


@dataclass(frozen=True)
class RunRecord:
    """What ``emoface train`` was launched with for one run of the ranking experiment."""

    sets: tuple[str, ...]  # every ``--set key=value``, in order
    epochs: int
    config_sha256: str  # the preset file's content
    data: dict[str, str]  # split -> fingerprint (:func:`data_fingerprint`)
    code: str = ""  # :func:`code_fingerprint` of the training code ("": a record written before it was kept)
    config_values: str = ""  # :func:`config_values_sha256` of the preset ("": a record written before it was kept)

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "sets": list(self.sets)}


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def config_values_sha256(path: Path) -> str:
    """The sha256 of a YAML preset's values: parsed, then written as canonical JSON (sorted keys), so that
    its comments, key order and layout do not count; "" when the file does not parse (the file's bytes
    are compared instead, :func:`stale_items`)."""
    import yaml

    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
        text = json.dumps(values, sort_keys=True, default=str)
    except (yaml.YAMLError, TypeError):  # not YAML, or keys JSON cannot sort: "" (then the file's bytes decide)
        return ""
    return hashlib.sha256(text.encode()).hexdigest()


def data_fingerprint(data: Path) -> dict[str, str]:
    """Per split in :data:`TRAINED_ON`: the hashes of the ``package`` stage's sidecar (its inputs, config,
    code version and output); for a folder not built by the pipeline, the split file's size and mtime."""
    from pipeline.stages.store import Store

    store, out = Store(data), {}
    for split in TRAINED_ON:
        sc = store.read_sidecar("package", split)
        if sc is not None and sc.ok:
            digest = hashlib.sha256(json.dumps([sc.input_hash, sc.config_hash, sc.code_version, sc.output_sha256]).encode())
            out[split] = "package:" + digest.hexdigest()[:16]
        else:
            try:
                st = (data / f"{split}.h5").stat()
                out[split] = f"file:{st.st_size}:{st.st_mtime_ns}"
            except OSError:
                out[split] = "missing"
    return out


#: the packages whose code decides what a run learns (model, losses, schedule, trainer)
TRAINING_CODE = ("emoface/model", "emoface/train")


def code_fingerprint(root: Path | None = None) -> str:
    """A hash of every ``.py`` file under :data:`TRAINING_CODE` (path and content), 16 hex digits."""
    root = Path(__file__).resolve().parents[1] if root is None else root
    h = hashlib.sha256()
    for pkg in TRAINING_CODE:
        for path in sorted((root / pkg).rglob("*.py")):
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def launch_record(config: Path, sets: Sequence[str], epochs: int, data: Path) -> RunRecord:
    """The record of a run launched now with ``--config config``, ``sets``, ``--epochs epochs`` on ``data``."""
    return RunRecord(tuple(sets), int(epochs), _file_sha256(config), data_fingerprint(data), code_fingerprint(),
                     config_values_sha256(config))


def code_changed(have: RunRecord, want: RunRecord) -> bool:
    """Whether the run was launched with other training code (unknown for a record without it: False)."""
    return bool(have.code) and have.code != want.code


def read_record(run: Path) -> RunRecord | None:
    """The run's record; None when it has none (or an unreadable one, which counts as none)."""
    try:
        d = json.loads((run / RECORD).read_text())
        return RunRecord(tuple(d["sets"]), int(d["epochs"]), str(d["config_sha256"]), dict(d["data"]), str(d.get("code", "")),
                         str(d.get("config_values", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_record(run: Path, record: RunRecord) -> None:
    from emoface.utils.atomic import write_json_atomic

    run.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run / RECORD, record.to_dict())


def _set_map(sets: Sequence[str]) -> dict[str, str]:
    out = {}
    for s in sets:
        key, _, value = s.partition("=")
        out[key] = value
    return out


def stale_items(have: RunRecord, want: RunRecord, finished: bool = False) -> list[str]:
    """What differs between the run's record and the launch now, one short item each (empty: the same).

    Other training code makes a partial run stale (resuming would mix two versions in one run); a
    ``finished`` one is kept (the caller says so, and its record keeps the code it was trained with)."""
    items = []
    a, b = _set_map(have.sets), _set_map(want.sets)
    for key in sorted(set(a) | set(b)):
        if key not in _RESUMABLE and a.get(key) != b.get(key):
            items.append(f"{key}={a.get(key, '(unset)')} (now {b.get(key, '(unset)')})")
    if have.epochs != want.epochs:
        items.append(f"epochs {have.epochs} (now {want.epochs})")
    if have.config_values and want.config_values:  # its values; a record from before them: the file's bytes
        if have.config_values != want.config_values:
            items.append("the preset's values")
    elif have.config_sha256 != want.config_sha256:
        items.append("the preset's content")
    items += [f"{split}.h5 (rebuilt since)" for split in sorted(set(have.data) | set(want.data))
              if have.data.get(split) != want.data.get(split)]
    if code_changed(have, want) and not finished:
        items.append(f"other training code ({', '.join(TRAINING_CODE)}) in a run that is not finished")
    return items


def _flat(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _run_files(run: Path) -> list[Path]:
    return [p for p in (run / "config.yaml", run / "metrics.json", *(run / "checkpoints").glob("*.pt"),
                        *(run / "events").glob("*")) if p.is_file()]


def legacy_items(run: Path, config: Path, sets: Sequence[str], epochs: int, data: Path) -> list[str]:
    """What makes a run without a record stale: its ``config.yaml`` against the config that ``config`` with
    ``sets`` and ``epochs`` resolves to now, and a training split newer than the run's oldest file."""
    from emoface.train.config import ExperimentConfig
    from emoface.train.workflow import parse_overrides
    from emoface.utils.config import ConfigError, load_yaml, to_dict

    want = load_yaml(ExperimentConfig, config, {**parse_overrides(list(sets)), "train.epochs": int(epochs)})
    try:
        have = _flat(to_dict(load_yaml(ExperimentConfig, run / "config.yaml", {})))
    except (ConfigError, OSError) as exc:
        return [f"config.yaml unreadable ({exc})"]
    now = _flat(to_dict(want))
    ignore = set(_RESUMABLE) | ({"pairs.cross_reconstruction"} if want.pairs.cross_reconstruction is None else set())
    items = [f"{k}={have.get(k)} (now {now.get(k)})" for k in sorted(set(have) | set(now))
             if k not in ignore and have.get(k) != now.get(k)]
    started = min((p.stat().st_mtime for p in _run_files(run)), default=None)
    for split in TRAINED_ON:
        path = data / f"{split}.h5"
        if started is not None and path.is_file() and path.stat().st_mtime > started:
            items.append(f"{split}.h5 (rebuilt since the run started)")
    return items


def has_trained(run: Path) -> bool:
    """Whether the run folder holds training (a checkpoint or finished epochs) that a launch would resume or keep."""
    return (run / "metrics.json").is_file() or any((run / "checkpoints").glob("*.pt"))


def move_aside(run: Path) -> Path:
    """Rename a stale run (and its log ``RUN.log``) to ``RUN.stale-<time>``; returns the new folder. Nothing is deleted."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest, n = run.with_name(f"{run.name}.stale-{stamp}"), 1
    while dest.exists() or dest.with_name(dest.name + ".log").exists():
        n += 1
        dest = run.with_name(f"{run.name}.stale-{stamp}-{n}")
    run.rename(dest)
    log = run.with_name(run.name + ".log")
    if log.is_file():
        log.rename(dest.with_name(dest.name + ".log"))
    return dest
