"""Every repository path the docs name in backticks (``emoface/...``, ``pipeline/...``, ``tools/...``,
``configs/...``, ``tests/...``, ``bench/...``) exists, and every dotted module they name under
``emoface.``/``pipeline.``/``tools.`` resolves: moved code leaves no stale pointer behind."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
PATH = re.compile(r"`((?:emoface|pipeline|tools|configs|tests|bench)/[A-Za-z0-9_./-]*)")
MODULE = re.compile(r"`((?:emoface|pipeline|tools)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def _paths(text: str) -> set[str]:
    out = set()
    for p in PATH.findall(text):
        p = p.rstrip(".")
        if any(c in p for c in "*<>{}") or "..." in p:  # a pattern, not a path
            continue
        out.add(p)
    return out


def _module_exists(dotted: str) -> bool:
    """``a.b.c`` is a module, or ``a.b`` is a module with an attribute ``c`` (a class, a function)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        mod = ".".join(parts[:cut])
        try:
            spec = importlib.util.find_spec(mod)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            continue
        if cut == len(parts):
            return True
        obj = importlib.import_module(mod)
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_backticked_paths_exist(doc):
    missing = sorted(p for p in _paths(doc.read_text(encoding="utf-8")) if not (ROOT / p).exists())
    assert missing == [], f"{doc.name} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_backticked_modules_resolve(doc):
    names = {m.rstrip(".") for m in MODULE.findall(doc.read_text(encoding="utf-8"))}
    names = {n for n in names if not n.endswith((".py", ".md", ".yaml", ".npz", ".h5"))}  # file names
    missing = sorted(n for n in names if not _module_exists(n))
    assert missing == [], f"{doc.name} names modules or attributes that do not exist: {missing}"
