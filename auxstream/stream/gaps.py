"""Every input message reaches the processor exactly in partition order, whatever Faust drops.

faust-streaming (0.15.3) can lose the first messages of a partition after an assignment:
they are fetched while the table recovery finishes, the in-memory queues are then cleared,
and when the consumer seeks back to the committed offset the re-fetched copies are thrown
away as "already read" (``Consumer._drain_messages``: ``DROPPED MESSAGE ROFF``). The stream
then starts a few offsets after the committed one. Faust's commit logic either skips over
the hole (a gap of one, faust-streaming#606 / PR #707) or never commits that partition
again (a larger gap, faust-streaming#596). For auxstream that would mean lost events, and
the agent's next events applied first would turn the lost ones into ``late`` dead letters
on the next restart.

So the worker keeps, per assigned input topic partition, the next offset it must process
(the committed offset at assignment). A batch that jumps ahead is completed by reading the
missing range directly from Kafka, in order, before the batch; messages it already
processed are skipped. The filled-in messages are acknowledged to Faust afterwards so its
commits move on. Control records of transactional producers also take offsets: a range
that yields no message is simply passed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from auxstream.kafka_security import PLAINTEXT, KafkaSecurity
from auxstream.stream.processor import Inbound, origin_of

log = logging.getLogger("auxstream.stream")

Source = tuple[str, int]
FILL_TIMEOUT_S = 30.0


class GapFiller:
    """Completes batches that skip offsets, from a consumer of its own (no group)."""

    def __init__(self, bootstrap: str, group_id: str, read_committed: bool) -> None:
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.isolation = "read_committed" if read_committed else "read_uncommitted"
        self.expected: dict[Source, int] = {}
        self.filled = 0
        """Messages read directly because the stream skipped them (a count, for the logs)."""
        self._consumer: AIOKafkaConsumer | None = None
        self.security: KafkaSecurity = PLAINTEXT
        """TLS and login of its clients (create_app sets the worker's)."""

    async def reset(self, sources: Iterable[Source]) -> None:
        """A new assignment: each partition starts at its committed offset (or its beginning)."""
        sources = list(sources)
        self.expected = {}
        if not sources:
            return
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap,
            request_timeout_ms=15_000,
            **self.security.client_options(),
        )
        await admin.start()
        try:
            committed = await admin.list_consumer_group_offsets(self.group_id)
        finally:
            await admin.close()
        consumer = await self._reader()
        tps = [TopicPartition(*source) for source in sources]
        beginnings = await consumer.beginning_offsets(tps)
        for tp in tps:
            meta = committed.get(tp)
            start = meta.offset if meta is not None and meta.offset >= 0 else beginnings[tp]
            self.expected[(tp.topic, tp.partition)] = max(start, beginnings[tp])

    async def end_offsets(self, sources: list[Source]) -> dict[Source, int]:
        """The broker's end offset of each partition (the last stable one when read_committed)."""
        if not sources:
            return {}
        consumer = await self._reader()
        ends = await consumer.end_offsets([TopicPartition(*source) for source in sources])
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    async def complete(self, batch: list[Inbound]) -> tuple[list[Inbound], list[Inbound]]:
        """The batch in order with any skipped messages put back; also returns those put back."""
        out: list[Inbound] = []
        filled: list[Inbound] = []
        expected = self.expected
        for msg in batch:
            source = (msg.topic, msg.partition)
            want = expected.get(source)
            if want is not None:
                if msg.offset < want:
                    continue  # delivered again after a seek: already processed
                if msg.offset > want:
                    missing = await self._read(source, want, msg.offset)
                    filled += missing
                    out += missing
            out.append(msg)
            expected[source] = msg.offset + 1
        if filled:
            self.filled += len(filled)
            log.warning(
                "read %d messages the stream skipped (%s) before handling the batch",
                len(filled),
                ", ".join(sorted({f"{m.topic}[{m.partition}]" for m in filled})),
            )
        return out, filled

    async def _read(self, source: Source, start: int, end: int) -> list[Inbound]:
        consumer = await self._reader()
        tp = TopicPartition(*source)
        consumer.assign([tp])
        consumer.seek(tp, start)
        out: list[Inbound] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FILL_TIMEOUT_S
        while await consumer.position(tp) < end:
            if loop.time() > deadline:
                raise TimeoutError(
                    f"could not read {source[0]}[{source[1]}] offsets {start}..{end - 1} "
                    f"within {FILL_TIMEOUT_S:.0f} s"
                )
            batch = await consumer.getmany(tp, timeout_ms=500)
            for record in batch.get(tp, []):
                if start <= record.offset < end:
                    out.append(
                        Inbound(
                            record.topic,
                            record.partition,
                            record.offset,
                            record.key,
                            record.value,
                            origin_of(record.headers),
                        )
                    )
        return out

    async def _reader(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                enable_auto_commit=False,
                group_id=None,
                isolation_level=self.isolation,
                auto_offset_reset="earliest",
                **self.security.client_options(),
            )
            await self._consumer.start()
        return self._consumer

    async def close(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
            self._consumer = None
