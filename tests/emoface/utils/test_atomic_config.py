"""Atomic writes and strict typed configs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from emoface.utils.atomic import atomic_path, atomic_write, write_json_atomic
from emoface.utils.config import ConfigError, config_hash, dump_yaml, load_yaml, to_dict


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target, "w") as fh:
            fh.write("new")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    with atomic_write(target, "w") as fh:
        fh.write("new")
    assert target.read_text() == "new"


def test_atomic_path_keeps_extension_and_json(tmp_path):
    with atomic_path(tmp_path / "x.npz") as tmp:
        assert tmp.suffix == ".npz" and tmp.parent == tmp_path
        tmp.write_bytes(b"1")
    assert (tmp_path / "x.npz").read_bytes() == b"1"
    write_json_atomic(tmp_path / "j.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "j.json").read_text().startswith('{\n  "a"')


@dataclass
class Inner:
    lr: float = 1e-4
    layers: int = 1


@dataclass
class Outer:
    name: str = "x"
    inner: Inner = field(default_factory=Inner)
    sizes: tuple[int, ...] = (9, 9)
    path: Path | None = None


def test_config_overrides_and_unknown_keys(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("name: y\ninner:\n  lr: 0.001\nsizes: [3, 4, 5]\n")
    cfg = load_yaml(Outer, f, {"inner.layers": 2})
    assert cfg == Outer(name="y", inner=Inner(lr=0.001, layers=2), sizes=(3, 4, 5))
    assert load_yaml(Outer, tmp_path / "c.yaml").inner.layers == 1
    f.write_text("inner:\n  lrr: 1\n")
    with pytest.raises(ConfigError, match=r"c.yaml.inner: unknown key\(s\) lrr"):
        load_yaml(Outer, f)
    f.write_text("inner:\n  layers: two\n")
    with pytest.raises(ConfigError, match="expected an integer"):
        load_yaml(Outer, f)
    text = dump_yaml(cfg, tmp_path / "resolved.yaml")
    assert load_yaml(Outer, tmp_path / "resolved.yaml") == cfg and "lr: 0.001" in text
    assert config_hash(cfg) == config_hash(to_dict(cfg)) != config_hash(Outer())
