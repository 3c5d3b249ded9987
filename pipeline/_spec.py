"""``module:Name`` references, resolved in one place.

Stages, executors, detectors and the numerical back end name their code this way, so that a worker
process (local or on Ray) imports only what it runs, and a test can declare a toy one by name.
"""

from __future__ import annotations

import importlib

__all__ = ["load_object"]


def load_object(spec: str, what: str, error: type[Exception] = ValueError) -> object:
    """The object ``module:Name`` names; ``error`` with one line naming ``what`` and ``spec`` when it cannot be had."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise error(f"{what} {spec!r}: expected module:Name")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise error(f"{what} {spec!r} cannot be loaded: {exc}") from exc
