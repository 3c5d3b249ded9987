"""Package boundaries, read from the source with ``ast`` (every import, also those inside functions).

- `emoface` (the library) never imports `pipeline` (dataset construction);
- inside `emoface`, the subpackages are layered (:data:`LAYERS`): a module imports only from its own
  subpackage or from a lower layer, so there is no cycle between subpackages;
- inside each subpackage, no two modules import each other, directly or round a longer cycle;
- the tooling (`tools/`: the demo-head builder, test fixtures) does not ship and the runtime never imports it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A unit is a subpackage or a top-level module of emoface ("emoface" = its __init__).
# Units in one layer do not import each other. A new subpackage must be placed here.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("emoface",),  # the version only
    ("utils",),  # config files, atomic writes, audio and video I/O
    ("mesh",),  # camera, spiral indices
    ("morphable",),  # morphable models (FLAME, demo head), LBS, landmarks, regions
    ("data", "render"),  # HDF5 splits and datasets; meshes to images and videos
    ("metrics",),  # LVE, EVE, FDD
    ("model",),  # the EmoFace network
    ("train",),
    ("eval",),  # animate and evaluate trained runs
    ("cli",),
    ("__main__",),
)
LAYER_OF = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """``(line, module)`` for every import in ``path``; ``from X import y`` yields ``X.y`` too
    (``y`` may be a submodule), relative imports resolved."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The library module an import names (``X.y`` where ``y`` is not a module: ``X``), else None."""
    if target in modules:
        return target
    parent = target.rpartition(".")[0]
    return parent if parent in modules else None


def _library_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / "emoface").rglob("*.py"))}


def test_emoface_never_imports_pipeline():
    offenders = []
    for path in sorted((ROOT / "emoface").rglob("*.py")):
        offenders += [f"{path.relative_to(ROOT)}:{line} imports {m}" for line, m in _imports(path)
                      if m.split(".")[0] == "pipeline"]
    assert not offenders, "\n".join(offenders)


def test_every_emoface_unit_has_a_layer():
    units = {_unit(m) for m in _library_modules()}
    assert not units - set(LAYER_OF), f"place these in LAYERS: {sorted(units - set(LAYER_OF))}"


def test_emoface_subpackages_are_layered():
    modules = _library_modules()
    offenders = []
    for name, path in modules.items():
        src = _unit(name)
        for line, target in _imports(path):
            module = _resolve(target, modules)
            if module is None:
                continue
            dst = _unit(module)
            if dst != src and LAYER_OF.get(dst, -1) >= LAYER_OF.get(src, -1):
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {target} ({src} may not depend on {dst})")
    assert not offenders, "\n".join(sorted(set(offenders)))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_module_cycles_inside_a_subpackage():
    modules = _library_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        for _, target in _imports(path):
            module = _resolve(target, modules)
            if module is not None and module != name and _unit(module) == _unit(name) != "emoface":
                graph.setdefault(name, set()).add(module)
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_tools_do_not_ship_and_the_runtime_never_imports_them():
    # the wheel's packages are declared in setup.py (find_packages(include=[...]) plus emoface.configs)
    found = re.findall(r"find_packages\(include=\[([^\]]*)\]", (ROOT / "setup.py").read_text())
    assert len(found) == 1, "setup.py: expected one find_packages(include=[...])"
    include = re.findall(r"[\"']([^\"']+)[\"']", found[0])
    assert include and all(not "tools".startswith(pattern.rstrip("*")) for pattern in include), include
    offenders = []
    for package in ("emoface", "pipeline"):
        for path in sorted((ROOT / package).rglob("*.py")):
            offenders += [f"{path.relative_to(ROOT)}:{line} imports {m}" for line, m in _imports(path)
                          if m.split(".")[0] == "tools"]
    assert not offenders, "\n".join(offenders)
