"""Small async helpers for tests that talk to the real broker.

Every wait here polls a condition against a deadline and a message budget; nothing sleeps and
hopes. Import as `from tests.integration.kafka_helpers import ...`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.structs import ConsumerRecord

Key: TypeAlias = bytes | str | None
Record: TypeAlias = ConsumerRecord[bytes, bytes]


class ConditionNotMet(AssertionError):
    """A wait ran out of time or messages before its condition held."""


async def create_topics(
    bootstrap: str, names: Iterable[str], *, partitions: int = 1, timeout_s: float = 30.0
) -> None:
    """Create topics (one replica each) and wait until the broker serves them."""
    names = list(names)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        new = [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names]
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(new, timeout_ms=int(timeout_s * 1000))

        async def all_listed() -> bool:
            return set(names) <= set(await admin.list_topics())

        await wait_for(all_listed, timeout_s=timeout_s, what=f"topics {names} to exist")
    finally:
        await admin.close()


async def produce(
    bootstrap: str,
    topic: str,
    messages: Sequence[tuple[Key, bytes]],
    *,
    partition: int | None = None,
) -> None:
    """Send (key, value) pairs in order and wait until the broker has acknowledged all of them."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    try:
        for key, value in messages:
            raw_key = key.encode() if isinstance(key, str) else key
            await producer.send_and_wait(topic, value, key=raw_key, partition=partition)
    finally:
        await producer.stop()


async def consume_until(
    bootstrap: str,
    topic: str,
    condition: Callable[[list[Record]], bool],
    *,
    timeout_s: float = 30.0,
    max_messages: int = 100_000,
    group_id: str | None = None,
) -> list[Record]:
    """Read `topic` from the beginning until `condition(records so far)` holds.

    Raises ConditionNotMet when `timeout_s` passes or `max_messages` were read first; the
    message says how many records were seen.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id or f"test-{uuid.uuid4().hex[:10]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Record] = []
    deadline = time.monotonic() + timeout_s
    try:
        while not condition(records):
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConditionNotMet(
                    f"condition on {topic!r} not met within {timeout_s}s; "
                    f"{len(records)} records seen"
                )
            if len(records) >= max_messages:
                raise ConditionNotMet(
                    f"condition on {topic!r} not met after {len(records)} records (max_messages)"
                )
            batches = await consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000))
            for partition_records in batches.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()
    return records


async def consume_count(
    bootstrap: str, topic: str, count: int, *, timeout_s: float = 30.0
) -> list[Record]:
    """Read `topic` from the beginning until at least `count` records arrived."""
    return await consume_until(
        bootstrap, topic, lambda records: len(records) >= count, timeout_s=timeout_s
    )


async def wait_for(
    condition: Callable[[], Awaitable[bool]],
    *,
    timeout_s: float = 30.0,
    interval_s: float = 0.1,
    what: str = "condition",
) -> None:
    """Poll an async condition until it holds or `timeout_s` passes (then ConditionNotMet)."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() >= deadline:
            raise ConditionNotMet(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(interval_s)
