"""An executor is one line in a registry table plus its code: a toy executor declared only in this
test is reachable by name through ``make_executor`` and ``build_ravdess`` (no global table is edited)."""

from __future__ import annotations

import pytest

from buildtest_support import FIXTURE, make_corpus
from pipeline import executors
from pipeline.build import build_ravdess
from pipeline.executors.local import InlineExecutor
from pipeline.stages.config import ExecutorConfig

MADE: list[tuple[int, int, str | None]] = []


def make_toy(workers: int, gpus: int, address: str | None, cfg: ExecutorConfig) -> InlineExecutor:
    MADE.append((workers, gpus, address))
    if address == "unreachable":
        raise executors.ExecutorUnavailable("toy: no cluster at 'unreachable'")
    return InlineExecutor(cfg.torch_threads)


#: the one declaration of the toy executor
WITH_TOY = {**executors.EXECUTORS, "toy": f"{__name__}:make_toy"}


def test_a_declared_executor_is_made_by_name():
    MADE.clear()
    ex = executors.make_executor("toy", 3, 0, "here", ExecutorConfig(), WITH_TOY)
    assert isinstance(ex, InlineExecutor) and MADE == [(3, 0, "here")]
    with pytest.raises(ValueError, match=r"^--executor must be one of local, ray, got 'toy'$"):
        executors.make_executor("toy", 1, 0, None, ExecutorConfig())  # the shipped table is unchanged


def test_the_build_reaches_a_declared_executor(tmp_path):
    """``build_ravdess(executor="toy", executors=...)`` makes the toy; its typed setup failure stops the build."""
    MADE.clear()
    root = make_corpus(tmp_path / "ravdess", {"Actor_05/01-01-01-01-01-01-05.mp4": FIXTURE})
    with pytest.raises(executors.ExecutorUnavailable, match="toy: no cluster"):
        build_ravdess(root, tmp_path / "out", executor="toy", address="unreachable", executors=WITH_TOY)
    assert MADE == [(1, 0, "unreachable")]
