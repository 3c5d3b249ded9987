"""Executors of the build's tasks, registered by name in :data:`EXECUTORS` (``--executor NAME``).

An executor is a :class:`pipeline.executors.local.Executor`: ``submit(pool, fn, ctx, *args)``
returns a future, ``capacity()`` says how many tasks each pool runs at once, and
``worker_lost(exc)`` says whether an exception means the task's worker died (the scheduler
then retries it alone). Adding one is a module with its class and a factory, and one line here.
A factory that cannot start (a missing extra, no cluster) raises :class:`ExecutorUnavailable`,
a setup error (exit 2). Nothing heavy is imported until an executor is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pipeline._spec import load_object

if TYPE_CHECKING:
    from pipeline.executors.local import Executor
    from pipeline.stages.config import ExecutorConfig

__all__ = ["EXECUTORS", "ExecutorUnavailable", "make_executor"]


class ExecutorUnavailable(RuntimeError):
    """The executor cannot start here (e.g. ``ray`` is not installed)."""


#: ``--executor`` name -> ``module:factory(workers, gpus, address, cfg) -> Executor``
EXECUTORS: dict[str, str] = {
    "local": "pipeline.executors.local:make_local",
    "ray": "pipeline.executors.ray_executor:make_ray",
}


def make_executor(kind: str, workers: int, gpus: int, address: str | None, cfg: ExecutorConfig,
                  executors: Mapping[str, str] = EXECUTORS) -> Executor:
    """The registered executor ``kind`` (``executors``: the table, tests pass a copy with a toy one);
    ``ValueError`` for an unknown name."""
    if kind not in executors:
        raise ValueError(f"--executor must be one of {', '.join(executors)}, got {kind!r}")
    factory = load_object(executors[kind], f"executor {kind!r}")
    return factory(workers, gpus, address, cfg)  # type: ignore[operator]
