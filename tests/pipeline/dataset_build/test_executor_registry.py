"""Executors are registered in one place and report their failures with types, not names."""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool

import pytest

from pipeline import executors
from pipeline.executors.local import InlineExecutor, ProcessExecutor, make_local
from pipeline.stages.config import ExecutorConfig


def test_unknown_executor_names_the_registered_ones():
    with pytest.raises(ValueError, match=r"^--executor must be one of local, ray, got 'slurm'$"):
        executors.make_executor("slurm", 1, 0, None, ExecutorConfig())
    assert isinstance(executors.make_executor("local", 1, 0, None, ExecutorConfig()), InlineExecutor)


def test_every_registered_factory_resolves():
    import importlib

    for name, spec in executors.EXECUTORS.items():
        module, _, factory = spec.partition(":")
        assert callable(getattr(importlib.import_module(module), factory)), name


def test_worker_death_is_recognised_by_type():
    ex = make_local(2, 0, None, ExecutorConfig())
    assert isinstance(ex, ProcessExecutor)
    assert ex.worker_lost(BrokenProcessPool("gone")) and not ex.worker_lost(RuntimeError("WorkerCrashedError"))


def test_ray_unavailable_is_a_setup_error(monkeypatch):
    import sys

    from pipeline.executors.ray_executor import RayExecutor, RayUnavailable

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the 'cluster' extra were not installed
    with pytest.raises(executors.ExecutorUnavailable, match="cluster"):
        RayExecutor()
    assert issubclass(RayUnavailable, executors.ExecutorUnavailable)
