"""The worker's glue between Faust and the :class:`~auxstream.stream.processor.Processor`.

Every change to agents happens in a *cycle* under one lock, in this order:

1. the processor changes agents and returns the records to produce;
2. :meth:`Shell.send` produces them and waits until Kafka acknowledged every one;
3. :meth:`Shell.store_changed` writes the changed agents to the table (its changelog);
4. (input batches) Faust acks the batch's messages, and commits their offsets later,
   after flushing the producer, so after the changelog writes.

So a crash at any point leaves either the old state with the input not yet committed
(everything is redone: the records sent before the crash come again, with the same ids) or
the new state with its records already in Kafka. Nothing is lost; duplicates are possible
(at-least-once), and consumers remove them by id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

import faust
from faust.types import TP
from faust.types.tuples import Message

from auxstream.domain.policy import Policy
from auxstream.policy import PolicyError
from auxstream.stream import livepolicy
from auxstream.stream.gaps import GapFiller
from auxstream.stream.processor import REPARTITION, Inbound, Outbound, Processor, origin_of
from auxstream.stream.settings import Settings
from auxstream.stream.store import AgentStore
from auxstream.stream.watermark import Watermark

log = logging.getLogger("auxstream.stream")

REPORT_EVERY_S = 10.0


class Shell:
    """One worker: its processor, its table, and how it reaches Kafka."""

    def __init__(
        self, app: faust.App, settings: Settings, policy: Policy, policy_raw: bytes | None
    ) -> None:
        self.app = app
        self.settings = settings
        self.store = AgentStore(app, settings.input_topic, settings.partitions)
        self.processor = Processor(
            policy,
            settings.partitions,
            settings.input_topic,
            settings.repartition_topic,
            Watermark(policy.grace_s, settings.watermark),
            load=self.store.get,
        )
        self.gaps = GapFiller(
            settings.bootstrap_servers,
            settings.app_id,
            read_committed=settings.processing_guarantee == "exactly_once",
        )
        self._filled: list[Inbound] = []
        self.policy_raw = policy_raw
        self.lock = asyncio.Lock()
        self.topic_of = {**settings.output_topics, REPARTITION: settings.repartition_topic}
        self.started = time.monotonic()
        self.first_output_s: float | None = None
        self._reported = (self.started, 0)
        self._backlog: tuple[float, int] | None = None
        self.policy_table: Any = None

    # ------------------------------------------------------------------ cycle steps
    async def receive(self, events: Iterable[faust.EventT]) -> list[Outbound]:
        """Decode, validate, re-key or apply each message of a batch, in order (counted)."""
        batch = [
            Inbound(m.topic, m.partition, m.offset, m.key, m.value, origin_of(m.headers))
            for m in (event.message for event in events)
        ]
        messages, self._filled = await self.gaps.complete(batch)
        now = time.monotonic()
        out: list[Outbound] = []
        receive = self.processor.receive
        for msg in messages:
            out += receive(msg, now)
        return out

    def tick(self) -> list[Outbound]:
        return self.processor.tick(time.monotonic(), int(time.time() * 1000))

    async def send(self, outbound: list[Outbound]) -> None:
        """Produce every record, then wait until Kafka has all of them."""
        if not outbound:
            return
        producer = self.app.producer
        topic_of = self.topic_of
        pending = [
            await producer.send(topic_of[m.record], m.key, m.value, m.partition, None, m.headers)
            for m in outbound
        ]
        await asyncio.gather(*pending)
        if self.first_output_s is None:
            self.first_output_s = time.monotonic() - self.started
            log.info("first records delivered %.2f s after the worker started", self.first_output_s)

    def store_changed(self) -> None:
        """Write every changed agent to the table (after its records were delivered).

        Then the messages behind those changes may be committed: Faust acks the batch
        itself; messages the stream had skipped (see ``gaps``) are acked here.
        """
        put = self.store.put
        for partition, state in self.processor.take_dirty():
            put(partition, state)
        for m in self._filled:
            self.app.consumer.ack(
                Message(m.topic, m.partition, m.offset, 0.0, 0, None, m.key, m.value, None)
            )
        self._filled = []

    # ------------------------------------------------------------------ time and policy
    async def read_lag(self) -> None:
        """Tell the watermark how far behind each assigned partition is."""
        consumer = self.app.consumer
        watermark = self.processor.watermark
        for source in list(watermark.sources):
            tp = TP(*source)
            highwater: int | None
            position: int | None
            try:
                highwater = consumer.highwater(tp)
                position = await consumer.position(tp) if watermark.needs_position(source) else None
            except Exception:
                highwater = position = None
            watermark.set_highwater(source, highwater, position)

    def follow_policy(self) -> None:
        """Switch to a newly published policy (checked every tick; a dict lookup)."""
        if self.policy_table is None:
            return
        raw = self.policy_table.get(livepolicy.POLICY_KEY)
        if raw is None or raw == self.policy_raw:
            return
        self.policy_raw = raw
        try:
            published = livepolicy.decode(raw, self.settings.policy_topic)
        except PolicyError as exc:
            log.error(
                "ignoring the published policy, keeping version %s: %s",
                self.processor.policy.version,
                exc,
            )
            return
        old = self.processor.policy.version
        self.processor.set_policy(published.policy)
        log.info(
            "policy %s -> %s (published %s from %s)",
            old,
            published.policy.version,
            published.published_at,
            published.source,
        )

    def report(self) -> None:
        """Log catching up a backlog, and a progress line every REPORT_EVERY_S."""
        now = time.monotonic()
        watermark = self.processor.watermark
        caught_up = bool(watermark.sources) and all(
            c.caught_up() for c in watermark.sources.values()
        )
        done = self.processor.counts.messages
        if not caught_up and self._backlog is None:
            self._backlog = (now, done)
        elif caught_up and self._backlog is not None:
            began, first = self._backlog
            self._backlog = None
            if done > first:
                log.info(
                    "caught up: %d messages in %.1f s (%.0f/s)",
                    done - first,
                    now - began,
                    (done - first) / max(now - began, 1e-6),
                )
        since, before = self._reported
        if now - since < REPORT_EVERY_S:
            return
        self._reported = (now, done)
        mark = self.processor.watermark.value(now, int(time.time() * 1000))
        log.info(
            "%d messages (%.0f/s), %d agents, %d holding events, watermark %s",
            done,
            (done - before) / (now - since),
            len(self.processor.states),
            len(self.processor.held),
            mark,
        )

    # ------------------------------------------------------------------ rebalancing
    async def on_revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Faust's ``on_partitions_revoked`` signal: ``args[0]`` is the set of revoked TPs."""
        revoked: set[TP] = args[0] if args else set()
        async with self.lock:
            self.processor.revoke(
                {tp.partition for tp in revoked if tp.topic == self.settings.input_topic}
            )

    async def on_shutdown(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Faust's ``on_before_shutdown`` signal: close the gap reader's connection."""
        await self.gaps.close()

    async def on_rebalance_complete(
        self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any
    ) -> None:
        """Tables recovered: load the owned agents (once) before the streams resume."""
        ours = (self.settings.input_topic, self.settings.repartition_topic)
        assigned = {tp.partition for tp in self.app.consumer.assignment() if tp.topic in ours}
        async with self.lock:
            await self.gaps.reset((topic, p) for p in assigned for topic in ours)
            self.processor.revoke(set(range(self.settings.partitions)))
            self.processor.assign(assigned, self.store.stored(assigned), time.monotonic())
        log.info(
            "assigned partitions %s: %d agents loaded", sorted(assigned), len(self.processor.states)
        )
