"""Lazy exports of a package (PEP 562): names imported from their submodule on first use.

``pipeline.fitting`` and ``pipeline.qa`` export their torch-based functions this way, so that a
build's main process reads and checks their config sections without importing torch.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence

__all__ = ["lazy_exports"]


def lazy_exports(package: str, lazy: Mapping[str, str], public: Sequence[str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The package's ``__getattr__`` and ``__dir__``: ``lazy`` maps a name to its submodule (``"fit_clip": "clip"``).

    Use as ``__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)``.
    """

    def __getattr__(name: str) -> object:
        if name in lazy:
            return getattr(importlib.import_module(f".{lazy[name]}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(public))

    return __getattr__, __dir__
