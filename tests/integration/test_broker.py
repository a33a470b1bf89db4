"""The test broker itself: it takes a produce and serves it back, and the script sees it."""

from __future__ import annotations

import pytest

from tests.integration.broker_script import ScriptBroker
from tests.integration.kafka_helpers import consume_count, create_topics, produce


async def test_produce_consume_round_trip(kafka_broker: str, unique_topic: str) -> None:
    sent = [(f"agent-{i % 3}", f'{{"n": {i}}}'.encode()) for i in range(20)]
    await create_topics(kafka_broker, [unique_topic])

    await produce(kafka_broker, unique_topic, sent)
    records = await consume_count(kafka_broker, unique_topic, len(sent), timeout_s=30)

    assert [(r.key, r.value) for r in records] == [(k.encode(), v) for k, v in sent]
    assert [r.offset for r in records] == list(range(len(sent)))


def test_script_reports_the_broker_running(script_broker: ScriptBroker | None) -> None:
    if script_broker is None:
        pytest.skip("AUXSTREAM_TEST_BROKER names a broker this session did not start")
    status = script_broker.run("status", timeout_s=30)

    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.startswith("running:")
    assert script_broker.bootstrap in status.stdout
