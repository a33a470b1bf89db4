"""Integration tests run against a real Kafka broker on 127.0.0.1.

The session starts a private broker with scripts/kafka.sh (see broker_script.py) and stops it
at the end. Set AUXSTREAM_TEST_BROKER=host:port to use a broker you already run instead.
A broker that cannot start fails the tests; it never skips them.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.broker_script import ScriptBroker, new_session_broker, running

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration as `integration`."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def script_broker() -> Iterator[ScriptBroker | None]:
    """The broker this session started, or None when AUXSTREAM_TEST_BROKER names another."""
    if os.environ.get("AUXSTREAM_TEST_BROKER"):
        yield None
        return
    with running(new_session_broker()) as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_broker(script_broker: ScriptBroker | None) -> str:
    """Bootstrap servers (`127.0.0.1:PORT`) of a running broker, for the whole session."""
    if script_broker is None:
        return os.environ["AUXSTREAM_TEST_BROKER"]
    return script_broker.bootstrap


@pytest.fixture
def unique_topic(request: pytest.FixtureRequest) -> str:
    """A topic name no other test (or earlier run) uses: `test.<test name>.<random>`."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:150]
    return f"test.{name}.{uuid.uuid4().hex[:10]}"
