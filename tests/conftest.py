"""Every test owns its randomness: Python's, NumPy's and PyTorch's generators are seeded before
each test, so a test's outcome does not depend on which tests ran before it (or on which
pytest-xdist worker runs it)."""

from __future__ import annotations

import pytest

from dlparts import runtime


@pytest.fixture(autouse=True)
def _seeded():
    runtime.seed_everything(0)
    yield
