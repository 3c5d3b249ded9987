"""Fixtures of the QA tests."""

import pytest

from emoface.morphable import load


@pytest.fixture(scope="module")
def demo():
    """The bundled demo head (loaded once per test module)."""
    return load("demo")
