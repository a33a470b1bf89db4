"""Fixtures for every test. Keep this light: unit tests must not pay for anything here."""

from __future__ import annotations

from pathlib import Path

import pytest

# The shared folder sits beside the repository (../shared), in a checkout and in CI alike.
SHARED_EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "examples"


@pytest.fixture(scope="session")
def shared_examples() -> Path:
    """The folder of example events and policies in shared/examples."""
    if not SHARED_EXAMPLES.is_dir():
        pytest.fail(
            f"shared examples not found at {SHARED_EXAMPLES}: the shared/ folder is expected "
            "beside the repository (../shared)"
        )
    return SHARED_EXAMPLES
