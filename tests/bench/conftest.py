"""Fixtures of the bench tests: torch's thread count for a test, restored after it."""

from collections.abc import Iterator

import pytest


def _threads(n: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """The benches' small-preset steps on one thread."""
    yield from _threads(1)


@pytest.fixture
def two_threads() -> Iterator[None]:
    yield from _threads(2)
