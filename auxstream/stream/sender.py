"""Records to Kafka one batch per partition, not one ``send`` per record.

Faust's ``producer.send`` costs a coroutine, a metadata wait, a future and sensor calls per
record; a busy worker produces one to three records per input message, so that was a
large share of its time. With at-least-once processing, :class:`BatchSender` groups a
step's records by topic and partition, fills aiokafka ``BatchBuilder``s and submits each
with ``send_batch``: one future per batch, which the shell's flush waits for exactly as it
waited for the per-record futures before storing agents and acking messages. A partition
with only a few records in the step gets aiokafka's own ``send`` (with the partition
given, so without its pure-Python partitioner), which joins the partition's open batch.

Partitions are the ones Kafka's default partitioner gives the key (murmur2, as Faust and
every Kafka client use), so every record lands where a per-record send would have put it.
Under exactly-once the shell keeps Faust's per-record sends, which belong to Faust's
transactions.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka.partitioner import murmur2

from auxstream.stream.processor import Outbound

BATCH_FROM = 32
"""Records for one partition from which a batch of their own is built: ``send_batch``
waits until the partition's open batch was sent (a round trip), so a handful of records
(a quiet floor, one message at a time) are appended to the open batch instead."""
KEYS_CACHED = 500_000
"""Partitions of this many keys are remembered (murmur2 is pure Python in aiokafka)."""


class BatchSender:
    """Sends ``(topic, Outbound)`` pairs through one aiokafka producer, batched by partition."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer
        """An aiokafka ``AIOKafkaProducer`` (Faust's, already started)."""
        self._partitions: dict[str, int] = {}
        self._by_key: dict[tuple[int, bytes], int] = {}

    async def send(
        self,
        records: Iterable[tuple[str, Outbound]],
        on_delivered: Callable[[int, int], None] | None = None,
    ) -> list[asyncio.Future[Any]]:
        """Hand ``records`` to the producer; the futures resolve when Kafka has them all.

        ``on_delivered(partition, last_offset)`` is called as each batch is acknowledged
        (the agents table records its changelog position with it).
        """
        groups: dict[tuple[str, int], list[Outbound]] = {}
        for topic, m in records:
            partition = m.partition
            if partition is None:
                partition = await self._partition(topic, m.key)
            group = groups.get((topic, partition))
            if group is None:
                groups[(topic, partition)] = [m]
            else:
                group.append(m)
        producer = self.producer
        futures: list[asyncio.Future[Any]] = []
        for (topic, partition), items in groups.items():
            if len(items) < BATCH_FROM:
                # A few records: appended to the partition's open batch, if there is one
                # (a batch of our own would wait for that one to be sent first).
                for m in items:
                    future = await producer.send(
                        topic, m.value, key=m.key, partition=partition, headers=m.headers
                    )
                    if on_delivered is not None:
                        future.add_done_callback(_when_delivered(on_delivered, partition, 1))
                    futures.append(future)
                continue
            batch, n = producer.create_batch(), 0
            for m in items:
                if batch.append(key=m.key, value=m.value, timestamp=None, headers=m.headers):
                    n += 1
                    continue
                futures.append(await self._submit(batch, n, topic, partition, on_delivered))
                batch, n = producer.create_batch(), 1
                if not batch.append(key=m.key, value=m.value, timestamp=None, headers=m.headers):
                    raise ValueError(f"a record for {topic} is larger than a producer batch")
            futures.append(await self._submit(batch, n, topic, partition, on_delivered))
        return futures

    async def _submit(
        self,
        batch: Any,
        records: int,
        topic: str,
        partition: int,
        on_delivered: Callable[[int, int], None] | None,
    ) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = await self.producer.send_batch(
            batch, topic, partition=partition
        )
        if on_delivered is not None:
            future.add_done_callback(_when_delivered(on_delivered, partition, records))
        return future

    async def _partition(self, topic: str, key: bytes | None) -> int:
        count = self._partitions.get(topic)
        if count is None:
            count = self._partitions[topic] = len(await self.producer.partitions_for(topic))
        if key is None:
            return random.randrange(count)  # noqa: S311 - spreading keyless records, not secrets
        found = self._by_key.get((count, key))
        if found is None:
            if len(self._by_key) >= KEYS_CACHED:  # keys of poison messages are unbounded
                self._by_key.clear()
            found = self._by_key[(count, key)] = (murmur2(key) & 0x7FFFFFFF) % count
        return found


def _when_delivered(
    on_delivered: Callable[[int, int], None], partition: int, records: int
) -> Callable[[asyncio.Future[Any]], None]:
    """A done-callback reporting the last offset of ``records`` delivered from its result."""

    def delivered(done: asyncio.Future[Any]) -> None:
        if not done.cancelled() and done.exception() is None:
            on_delivered(partition, done.result().offset + records - 1)

    return delivered
