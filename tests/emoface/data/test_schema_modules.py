"""`emoface.data.schema` is a package with one module per concept; its public names stay importable from it."""

from __future__ import annotations

import importlib
from pathlib import Path

import emoface.data.schema as schema

PUBLIC = {  # name -> the one module that defines it
    "FORMAT_NAME": "records", "FORMAT_VERSION": "records", "PER_CLIP_PARAMS": "records", "SchemaError": "records",
    "InvalidSplitError": "records", "ClipRecord": "records", "ClipMeta": "records", "faces_sha256": "records",
    "SplitWriter": "writer", "SplitReader": "reader", "open_split": "reader",
    "validate_split": "validation", "require_valid_split": "validation",
}


def test_public_names_come_from_one_module_each():
    assert set(schema.__all__) == set(PUBLIC)
    for name, module in PUBLIC.items():
        mod = importlib.import_module(f"emoface.data.schema.{module}")
        assert getattr(schema, name) is getattr(mod, name), name
        others = [m for m in ("records", "writer", "reader", "validation") if m != module
                  and name in importlib.import_module(f"emoface.data.schema.{m}").__all__]
        assert not others, f"{name} is also exported by {others}"


def test_modules_stay_small():
    folder = Path(schema.__file__).parent
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in folder.glob("*.py")}
    assert set(sizes) == {"__init__.py", "records.py", "writer.py", "reader.py", "validation.py"}
    assert max(sizes.values()) < 400, sizes
