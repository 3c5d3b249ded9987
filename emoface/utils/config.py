"""Typed configuration: dataclasses hold the defaults, YAML files hold only overrides.

Unknown keys are errors (with the file and the key named), nested dataclasses are filled
recursively, values are checked against their type and, for fields declared with
:func:`bounded`, their range (``optim.lr`` > 0, ``train.epochs`` >= 1 ...), and every run
writes its fully resolved config with :func:`dump_yaml`. All of this happens in
:func:`from_dict`, the one place a config is built from data, and every problem is a
:class:`ConfigError` whose message is one line naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

__all__ = ["ConfigError", "Bounds", "bounded", "from_dict", "to_dict", "load_yaml", "dump_yaml", "config_hash",
           "apply_overrides"]

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override that does not match its dataclass."""


@dataclasses.dataclass(frozen=True)
class Bounds:
    """The allowed range of a numeric config field (``None`` = no limit on that side)."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def problem(self, value: float) -> str | None:
        """Why ``value`` is out of range, or None."""
        for limit, ok, op in ((self.ge, lambda v, b: v >= b, ">="), (self.gt, lambda v, b: v > b, ">"),
                              (self.le, lambda v, b: v <= b, "<="), (self.lt, lambda v, b: v < b, "<")):
            if limit is not None and not ok(value, limit):
                return f"must be {op} {limit:g}, got {value!r}"
        return None


def bounded(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
            lt: float | None = None) -> Any:
    """A dataclass field with a range that :func:`from_dict` checks (``None`` values and defaults pass).

    Sequences (``betas``) are checked item by item.
    """
    return dataclasses.field(default=default, metadata={"bounds": Bounds(ge, gt, le, lt)})


def _check_bounds(f: dataclasses.Field, value: Any, where: str) -> None:
    bounds = f.metadata.get("bounds")
    if bounds is None or value is None:
        return
    items = value if isinstance(value, (list, tuple)) else [value]
    for i, v in enumerate(items):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            problem = bounds.problem(v)
            if problem:
                suffix = f"[{i}]" if isinstance(value, (list, tuple)) else ""
                raise ConfigError(f"{where}{suffix}: {problem}")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass as plain dict/list/scalars (tuples become lists, paths strings)."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: _plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    raise TypeError(f"expected a dataclass instance, got {type(cfg).__name__}")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "config") -> T:
    """Build ``cls`` from ``data``; missing keys keep their defaults, unknown keys raise."""
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}.{name}")
        _check_bounds(fields[name], kwargs[name], f"{where}.{name}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{where}: {value!r} matches none of {tp}")
    if dataclasses.is_dataclass(tp):
        if dataclasses.is_dataclass(value):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(tp, value, where)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        out = [_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        vt = args[1] if len(args) == 2 else Any
        return {k: _coerce(vt, v, f"{where}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if tp is Path:
        return Path(value)
    return value


def load_yaml(cls: type[T], path: str | Path | None, overrides: dict[str, Any] | None = None) -> T:
    """Defaults of ``cls``, then the YAML file at ``path`` (if any), then ``overrides``."""
    data: dict[str, Any] = {}
    where = "defaults"
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not a UTF-8 text file (byte {exc.start}: {exc.reason})") from exc
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config file ({exc.strerror or exc})") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
        data = loaded or {}
        where = str(path)
    if overrides:
        data = apply_overrides(data, overrides)
    return from_dict(cls, data, where)


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Merge dotted-key overrides (``{"train.epochs": 3}``) into a nested mapping (a copy)."""
    out = json.loads(json.dumps(data, default=str))
    for key, value in overrides.items():
        node = out
        parts = key.split(".")
        if not all(parts):
            raise ConfigError(f"override {key!r}: empty key part (expected e.g. train.epochs)")
        for i, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                section = ".".join(parts[: i + 1])
                raise ConfigError(f"override {key!r}: {section} is a value ({node!r}), not a section with keys")
        node[parts[-1]] = value
    return out


def dump_yaml(cfg: Any, path: str | Path | None = None) -> str:
    """The fully resolved config as YAML text; also written atomically to ``path`` if given."""
    text = yaml.safe_dump(to_dict(cfg), sort_keys=False)
    if path is not None:
        from emoface.utils.atomic import atomic_write

        with atomic_write(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    return text


def config_hash(cfg: Any) -> str:
    """A stable sha256 of a config (dataclass or mapping), for resume sidecars."""
    data = to_dict(cfg) if dataclasses.is_dataclass(cfg) else cfg
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()
