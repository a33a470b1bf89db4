"""The worker's glue between Faust and the :class:`~auxstream.stream.processor.Processor`.

Every change to agents happens under one lock, and reaches Kafka in this order:

1. a batch of messages (or a tick of the timer) changes agents; the records they produce
   are handed to the producer at once (:meth:`Shell.handle_batch`, :meth:`Shell.move_time`);
2. a *flush* (when ``batch_max`` messages are pending, every ``batch_within_s``, and after
   every tick) waits until Kafka acknowledged every one of those records,
3. then writes the changed agents to the table (its changelog),
4. then acks the messages to Faust's consumer, which commits their offsets later, after
   flushing the producer, so after the changelog writes.

So a crash at any point leaves either the old state with the input not yet committed
(everything is redone: the records sent before the crash come again, with the same ids) or
the new state with its records already in Kafka. Nothing is lost; duplicates are possible
(at-least-once), and consumers remove them by id. Faust does not wait for unacked messages
when partitions are revoked or the worker stops (``stream_wait_empty=False``): they are
simply not committed, and whoever owns the partition next processes them again.

Messages arrive in batches from :mod:`auxstream.stream.intake` rather than through a Faust
agent, one ``await`` per batch instead of several per message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
from faust.types import TP
from faust.types.tuples import Message

from auxstream.domain.policy import Policy
from auxstream.policy import PolicyError
from auxstream.stream import livepolicy
from auxstream.stream.gaps import GapFiller
from auxstream.stream.intake import Intake
from auxstream.stream.processor import REPARTITION, Inbound, Outbound, Processor, origin_of
from auxstream.stream.sender import BatchSender
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
        self._pending: list[Any] = []
        """Delivery futures of records handed to the producer since the last flush."""
        self._acks: list[Message] = []
        """Messages handled since the last flush, acked once their agents are stored."""
        self.intake: Intake | None = None
        """Where Faust delivers the input messages (set by create_app)."""
        self._sender: BatchSender | None = None
        self.policy_raw = policy_raw
        self.lock = asyncio.Lock()
        self.topic_of = {**settings.output_topics, REPARTITION: settings.repartition_topic}
        self._ours = (settings.input_topic, settings.repartition_topic)
        self.started = time.monotonic()
        self.first_output_s: float | None = None
        self._reported = (self.started, 0)
        self._backlog: tuple[float, int] | None = None
        self.policy_table: Any = None

    # ------------------------------------------------------------------ the cycle
    async def handle_batch(self, generation: int, batch: list[Message]) -> None:
        """Input messages, in partition order: decode, validate, re-key or apply (counted).

        Their records go to the producer now; their agents are stored and the messages
        acked at the next flush. A batch taken before Faust cleared the intake (partitions
        revoked) is dropped: the consumer delivers those messages again from the committed
        offsets, to this worker or to the partition's new owner.
        """
        async with self.lock:
            if self.intake is not None and generation != self.intake.generation:
                return
            inbound = [
                Inbound(m.topic, m.partition, m.offset, m.key, m.value, origin_of(m.headers))
                for m in batch
            ]
            messages, filled = await self.gaps.complete(inbound)
            self._filled += filled
            now = time.monotonic()
            receive = self.processor.receive
            out: list[Outbound] = []
            for msg in messages:
                out += receive(msg, now)
            await self._produce(out)
            self._acks += batch
            if len(self._acks) >= self.settings.batch_max:
                await self._flush()

    async def flush(self) -> None:
        """Wait for Kafka to have every record, then store the changed agents, then ack."""
        async with self.lock:
            await self._flush()

    async def move_time(self) -> None:
        """Release what waited out its grace, advance silent agents, and flush."""
        ends = await self.end_offsets()  # a broker round trip: not while holding up messages
        async with self.lock:
            self.follow_policy()
            await self.read_lag(ends)
            await self._produce(self.processor.tick(time.monotonic(), int(time.time() * 1000)))
            await self._flush()
        self.report()
        await self._watch_for_stall()

    async def _watch_for_stall(self) -> None:
        """Stop the worker when its consumer stopped delivering (then it is restarted).

        faust-streaming 0.15.3 can stop fetching a partition a worker keeps across a
        rebalance: the fetch loop waits forever on the consumer thread (seen in about one
        two-worker rebalance in five). Nothing would ever process that partition again;
        stopping hands it to another worker or to this one restarted, and at-least-once
        makes that safe.
        """
        after = self.settings.stall_timeout_s
        stuck = self.processor.watermark.stalled(time.monotonic(), after)
        if stuck and not self.app.rebalancing:
            names = ", ".join(f"{topic}[{partition}]" for topic, partition in sorted(stuck))
            log.error(
                "no message processed for %.0f s on %s although messages are waiting: "
                "the consumer is stuck; stopping the worker so it restarts",
                after,
                names,
            )
            await self.app.crash(RuntimeError(f"consumer stuck on {names}"))

    async def _produce(self, outbound: list[Outbound]) -> None:
        if not outbound:
            return
        topic_of = self.topic_of
        if self.settings.processing_guarantee == "at_least_once":
            if self._sender is None:  # Faust's aiokafka producer, started with the app
                producer: Any = self.app.producer
                self._sender = BatchSender(producer._ensure_producer())
            self._pending += await self._sender.send((topic_of[m.record], m) for m in outbound)
            return
        producer = self.app.producer  # exactly-once: each record in Faust's transaction
        for m in outbound:
            self._pending.append(
                await producer.send(
                    topic_of[m.record], m.key, m.value, m.partition, None, m.headers
                )
            )

    async def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)
            if self.first_output_s is None:
                self.first_output_s = time.monotonic() - self.started
                log.info(
                    "first records delivered %.2f s after the worker started", self.first_output_s
                )
        changed = self.processor.take_dirty()
        if self._sender is not None:  # at-least-once: changelog records batched like outputs
            records = self.store.stage(changed)
            if records:  # not waited for here: Faust flushes the producer before it commits
                await self._sender.send(records, self.store.changelog_delivered)
        else:
            put = self.store.put
            for partition, state in changed:
                put(partition, state)
        ack = self.app.consumer.ack
        for f in self._filled:  # messages the stream skipped (see gaps): Faust never saw them
            ack(Message(f.topic, f.partition, f.offset, 0.0, 0, None, f.key, f.value, None))
        self._filled = []
        acks, self._acks = self._acks, []
        for message in acks:
            ack(message)

    # ------------------------------------------------------------------ time and policy
    async def end_offsets(self) -> dict[tuple[str, int], int]:
        """The broker's end offset of every partition the watermark follows ({} if it did
        not answer this tick: lag unknown). Asked of the broker, not the consumer's cached
        highwater, which stops moving when the consumer stops fetching."""
        try:
            return await self.gaps.end_offsets(list(self.processor.watermark.sources))
        except Exception as exc:
            log.warning("could not read end offsets: %s", exc)
            return {}

    async def read_lag(self, ends: dict[tuple[str, int], int]) -> None:
        """Tell the watermark how far behind each assigned partition is.

        ``ends`` are the broker's end offsets (:meth:`end_offsets`, read a moment before);
        what was processed is the gap filler's next expected offset (the committed offset
        until a message arrives).
        """
        watermark = self.processor.watermark
        for source in list(watermark.sources):
            end = ends.get(source)
            done = self.gaps.expected.get(source)
            if end is not None and done is not None and 0 < end - done <= 2:
                # Transaction markers take offsets but are never delivered: past them, the
                # consumer's position says we are at the end.
                position = await self.app.consumer.position(TP(*source))
                if position is not None and position >= end:
                    end = done
            watermark.set_highwater(source, end, done)

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
        """Faust's ``on_partitions_revoked`` signal: ``args[0]`` is the set of revoked TPs.

        Agents changed since the last flush are not stored (the partition is someone else's
        now) and their messages not acked: the next owner processes them again.
        """
        revoked: set[TP] = args[0] if args else set()
        async with self.lock:
            gone = {tp.partition for tp in revoked if tp.topic in self._ours}
            self._acks = [m for m in self._acks if m.partition not in gone]
            self._filled = [f for f in self._filled if f.partition not in gone]
            self.processor.revoke(
                {tp.partition for tp in revoked if tp.topic == self.settings.input_topic}
            )

    async def on_shutdown(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Faust's ``on_before_shutdown`` signal: flush, then close the gap reader's connection.

        Faust has stopped fetching and makes its last commit after this: flushing here puts
        the messages handled since the last flush into that commit (a clean stop repeats
        nothing); their agents' changelog writes go out with the producer's final flush.
        """
        async with self.lock:
            await self._flush()
        await self.gaps.close()

    async def on_rebalance_complete(
        self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any
    ) -> None:
        """Tables recovered: load the owned agents (once) before the streams resume."""
        ours = self._ours
        assigned = {tp.partition for tp in self.app.consumer.assignment() if tp.topic in ours}
        async with self.lock:
            await self._flush()  # whatever is still pending of partitions this worker kept
            await self.gaps.reset((topic, p) for p in assigned for topic in ours)
            self.processor.revoke(set(range(self.settings.partitions)))
            self.processor.assign(assigned, self.store.stored(assigned), time.monotonic())
        log.info(
            "assigned partitions %s: %d agents loaded", sorted(assigned), len(self.processor.states)
        )
