"""Every runtime dependency declared in pyproject.toml is imported by the code that ships."""

from __future__ import annotations

import ast
import re
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Needed without an ``import <name>`` of their own: torch.utils.tensorboard's SummaryWriter needs tensorboard.
USED_INDIRECTLY = {"tensorboard": "torch.utils.tensorboard (SummaryWriter)"}


def _imported_top_level() -> set[str]:
    names: set[str] = set()
    for pkg in ("emoface", "pipeline"):
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module.split(".")[0])
    return names


def test_every_declared_dependency_is_imported():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    dists = [re.split(r"[<>=!~ \[;]", d, maxsplit=1)[0] for d in deps]
    provides: dict[str, set[str]] = {}
    for module, owners in metadata.packages_distributions().items():
        for owner in owners:
            provides.setdefault(owner.lower().replace("_", "-"), set()).add(module)
    imported = _imported_top_level()
    unused = [d for d in dists if d not in USED_INDIRECTLY and not (provides.get(d.lower().replace("_", "-"), set()) & imported)]
    assert not unused, f"declared in pyproject.toml but never imported: {unused}"
