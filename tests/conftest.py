"""Fixtures shared by every test suite (helpers live in tests/support.py)."""
from __future__ import annotations

import pytest

from tests.support import write_tiny_models


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(video model path, image model path): tiny random nets (seed 0) in a session folder of their own.

    Shared by the whole session: tests must not write into that folder (copy a model to change it).
    """
    return write_tiny_models(tmp_path_factory.mktemp("models"))
