"""Integration tests run against a real Kafka broker on 127.0.0.1.

The session starts its own private broker with scripts/kafka.sh (see broker_script.py) and
stops it at the end. Set AUXSTREAM_TEST_BROKER=host:port to use a broker you already run
instead. A broker that cannot start fails the tests; it never skips them.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.broker_script import TEST_BOOTSTRAP, log_tail, run_kafka_script

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration as `integration`."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[str]:
    """Bootstrap servers (`127.0.0.1:PORT`) of a running broker, for the whole session."""
    external = os.environ.get("AUXSTREAM_TEST_BROKER")
    if external:
        yield external
        return
    try:
        # The script bounds its own wait for the broker; this only guards against a hang.
        started = run_kafka_script("up", timeout_s=600)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"scripts/kafka.sh up hung: {exc}\n{log_tail()}", pytrace=False)
    if started.returncode != 0:
        pytest.fail(
            f"could not start the test broker (scripts/kafka.sh up exited {started.returncode}):"
            f"\n{started.stdout}{started.stderr}\n{log_tail()}",
            pytrace=False,
        )
    try:
        yield TEST_BOOTSTRAP
    finally:
        run_kafka_script("down", timeout_s=60)


@pytest.fixture
def unique_topic(request: pytest.FixtureRequest) -> str:
    """A topic name no other test (or earlier run) uses: `test.<test name>.<random>`."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:150]
    return f"test.{name}.{uuid.uuid4().hex[:10]}"
