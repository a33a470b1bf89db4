"""Fixtures for every test. Keep this light: unit tests must not pay for anything here."""

from __future__ import annotations

from pathlib import Path

import pytest

# The contract's worked example (events and policy), kept in the repository's examples/.
SHARED_EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="session")
def shared_examples() -> Path:
    """The worked example: examples/example-day.jsonl and examples/policy.yaml."""
    if not SHARED_EXAMPLES.is_dir():
        pytest.fail(
            f"examples not found at {SHARED_EXAMPLES}: the repository's examples/ folder is missing"
        )
    return SHARED_EXAMPLES
