"""Fixtures of the model tests."""

from __future__ import annotations

import pytest

from model_support import canonical_mesh


@pytest.fixture(scope="module")
def mesh():
    return canonical_mesh()
