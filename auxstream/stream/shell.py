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
import gc
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
from auxstream.stream.snapshot import Snapshot
from auxstream.stream.store import AgentStore, encode_state
from auxstream.stream.watermark import Watermark

log = logging.getLogger("auxstream.stream")

REPORT_EVERY_S = 10.0
FULL_PASSES_NEVER = 2**30
"""gc threshold of the oldest generation: a count of young passes never reached."""
FREEZE_EVERY_S = 10.0
"""How often new long-lived objects are collected, then frozen (:meth:`Shell._tidy_memory`)."""
ADVANCE_CHUNK = 200
"""Agents advanced per step (a few milliseconds with the lock held)."""
PACED_CHUNK = 100
"""Agents advanced per step while the worker is caught up (``advance_per_s`` apart)."""
RELEASE_RETRY_S = 0.01
"""How soon held events whose partition was behind are tried again."""
BACKLOG = 5_000
"""Messages behind the end of the input (at the last tick) from which a flush encodes its
agents at once, not between messages: catching up, throughput counts, and encoding a few
at a time lets the intake hand over smaller batches (84 rather than 67 µs of CPU per
message, measured on 300,000 pre-loaded events). Not the size of the flush: at an interval
boundary every agent changes within one flush while the input keeps flowing."""


def quiet_collector() -> None:
    """Leave full collections to :meth:`Shell._tidy_memory` (the worker process only): the
    young generations are collected as usual, the oldest only there."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_PASSES_NEVER)


class Shell:
    """One worker: its processor, its table, and how it reaches Kafka."""

    def __init__(
        self, app: faust.App, settings: Settings, policy: Policy, policy_raw: bytes | None
    ) -> None:
        self.app = app
        self.settings = settings
        self.store = AgentStore(
            app, settings.input_topic, settings.partitions, settings.rocksdb_options
        )
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
        self._completing: asyncio.Future[None] | None = None
        """The last flush's completion (:meth:`_complete`); it waits for the earlier ones."""
        self._in_flight = 0
        self._hold_first_s = settings.fault_hold_first_flush_s
        self.release_wake = asyncio.Event()
        """Set when held events wait out their grace (:meth:`arm_release`)."""
        self.advance_wake = asyncio.Event()
        """Set by the tick when agents are due at the new watermark (:meth:`advance`)."""
        self.mark: int | None = None
        """The watermark of the last tick (epoch ms)."""
        self._release_at: float | None = None
        self._release_timer: asyncio.TimerHandle | None = None
        self._frozen_at = time.monotonic()
        self.policy_raw = policy_raw
        self.lock = asyncio.Lock()
        self.topic_of = {**settings.output_topics, REPARTITION: settings.repartition_topic}
        self._ours = (settings.input_topic, settings.repartition_topic)
        self.started = time.monotonic()
        self.first_output_s: float | None = None
        self._reported = (self.started, 0)
        self._backlog: tuple[float, int] | None = None
        self.policy_table: Any = None
        self.slowest: dict[str, float] = {}
        """Step ("batch", "flush", "tick") -> longest it held the lock since the last report."""

    # ------------------------------------------------------------------ the cycle
    async def handle_batch(self, generation: int, batch: list[Message]) -> None:
        """Input messages, in partition order: decode, validate, re-key or apply (counted).

        Their records go to the producer now; their agents are stored and the messages
        acked at the next flush. A batch taken before Faust cleared the intake (partitions
        revoked) is dropped: the consumer delivers those messages again from the committed
        offsets, to this worker or to the partition's new owner.
        """
        async with self.lock:
            began = time.monotonic()
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
            self.arm_release()
            self._took("batch", began)

    async def flush(self) -> None:
        """Wait for Kafka to have every record, then store the changed agents, then ack.

        The timers' flush: skipped while ``flushes_in_flight`` are still completing, rather
        than waiting for them with the lock held (messages keep being handled and their
        records sent; a later timer, or ``batch_max`` messages, flushes them). At an interval
        boundary every agent is advanced and stored at once, and waiting here held messages
        up for more than a second (50,000 agents, measured).
        """
        if self._in_flight >= self.settings.flushes_in_flight:
            return
        async with self.lock:
            began = time.monotonic()
            await self._flush()
            self._took("flush", began)

    async def move_time(self) -> None:
        """Release what waited out its grace, move the watermark, and flush.

        Advancing the silent agents to the new watermark is the :meth:`advance` task's: at
        an interval boundary every logged-in agent is due at once.
        """
        ends = await self.end_offsets()  # a broker round trip: not while holding up messages
        processor = self.processor
        async with self.lock:
            began = time.monotonic()
            self.follow_policy()
            await self.read_lag(ends)
            out = processor.release_due(time.monotonic())
            self.mark = processor.watermark.value(time.monotonic(), int(time.time() * 1000))
            await self._produce(out)
            self._took("tick", began)
        if self.mark is not None and processor.advance_is_due(self.mark):
            self.advance_wake.set()
        await self.flush()
        self.report()
        self._tidy_memory()
        await self._watch_for_stall()

    async def advance(self) -> None:
        """Advance the agents due by the watermark, a few at a time, messages in between.

        At an interval boundary every logged-in agent is due at once: 50,000 agents are
        about a second of the worker's CPU (closing the interval, then storing the state)
        and 100,000 records for the broker. Done as fast as possible, live events queued
        behind that work for up to 0.23 s (docs/performance.md). While the worker is caught
        up, it is spread at ``advance_per_s`` agents a second, so silent agents' interval
        records follow the boundary by up to agents / ``advance_per_s`` seconds; an agent's
        own event in the meantime closes its interval at once, as always. Behind (a backlog
        or a backfill), agents are advanced as fast as the messages allow.
        """
        processor = self.processor
        per_s = self.settings.advance_per_s
        while self.mark is not None and not self.app.rebalancing:
            paced = per_s > 0 and self.behind() < BACKLOG
            chunk = PACED_CHUNK if paced else ADVANCE_CHUNK
            async with self.lock:
                began = time.monotonic()
                out: list[Outbound] = []
                done = processor.advance_due(self.mark, out, chunk)
                await self._produce(out)
                self._took("advance", began)
            if done:
                return
            await asyncio.sleep(chunk / per_s if paced else 0)

    async def release_held(self) -> None:
        """Apply held events as soon as their grace ran out (between ticks; a cheap check
        when nothing is due)."""
        if self.processor.release_is_due(time.monotonic()):
            async with self.lock:
                await self._produce(self.processor.release_due(time.monotonic()))
        self.arm_release(retry=True)

    def arm_release(self, retry: bool = False) -> None:
        """Wake the release task (``release_wake``) the moment the earliest held events wait
        out their grace, rather than at the next turn of a polling timer.

        ``retry``: called after a release, when what is due now could not be released (its
        partition is behind): try again RELEASE_RETRY_S later, not at once. Only then: on a
        busy floor the next agent is due within a millisecond or two, and waking for it no
        earlier than RELEASE_RETRY_S added 5 ms on average, 10 ms at worst, to every held
        event (measured: p50 5.6 ms and p99 23 ms from the contract's release moment, against
        3.2 and 12 ms for events not held).
        """
        due = self.processor.next_release()
        if due is None:
            return
        now = time.monotonic()
        if retry and due <= now:
            due = now + RELEASE_RETRY_S
        if self._release_at is not None and self._release_at <= due:
            return  # already woken earlier
        if self._release_timer is not None:
            self._release_timer.cancel()
        self._release_at = due
        loop = asyncio.get_running_loop()
        self._release_timer = loop.call_later(max(0.0, due - now), self._wake_release)

    def _wake_release(self) -> None:
        self._release_at = self._release_timer = None
        self.release_wake.set()

    def _tidy_memory(self) -> None:
        """Every FREEZE_EVERY_S: a full collection of what is not frozen, then freeze it.

        Agent states and the worker's own structures live for hours; left to the cyclic
        collector, its full passes scan all of them (about a second with 50,000 agents,
        measured) at unpredictable moments, holding up messages. Frozen objects are still
        freed by reference counting when they go; only cyclic garbage made of objects
        already frozen would stay, and the worker makes little (the soak test watches
        memory over hours). The worker turns the collector's own full passes off
        (:func:`quiet_collector`): between freezes they scanned the objects made since
        the last one every 2-5 s, 5.6-18.6 ms each, and collected nothing (measured at
        2,000 events/s with 50,000 agents); this pass takes 11-19 ms every 10 s. (Every
        second it took about 4 ms, but froze ten times as many objects still in use, any of
        which may later end as uncollectable cyclic garbage.)
        """
        now = time.monotonic()
        if now - self._frozen_at < FREEZE_EVERY_S:
            return
        self._frozen_at = now
        gc.collect()
        gc.freeze()

    def _took(self, step: str, began: float) -> None:
        """Remember the longest time a step held the lock (messages wait meanwhile)."""
        took = time.monotonic() - began
        if took > self.slowest.get(step, 0.0):
            self.slowest[step] = took

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
        sender = self.batch_sender()
        if sender is not None:
            self._pending += await sender.send((topic_of[m.record], m) for m in outbound)
            return
        producer = self.app.producer  # exactly-once: each record in Faust's transaction
        for m in outbound:
            self._pending.append(
                await producer.send(
                    topic_of[m.record], m.key, m.value, m.partition, None, m.headers
                )
            )

    async def _flush(self) -> None:
        """Hand what was handled since the last flush to :meth:`_complete`, in the background.

        Runs under the lock: the changed agents are taken now, as the records already
        handed to the producer left them, into a :class:`Snapshot` that encodes them in the
        background (each before it changes again); messages handled after this point belong
        to the next flush. Completions are chained (each first waits for the one before), so agents
        are stored and messages acked in the order they were handled; when
        ``flushes_in_flight`` are under way (Kafka slow to acknowledge), this waits for them.
        """
        if self._in_flight >= self.settings.flushes_in_flight:
            await self.settled()
        snapshot = Snapshot(self.processor.take_dirty(), encode_state, self.processor.unsaved)
        if self.behind() >= BACKLOG:
            snapshot.encode_some(len(snapshot))
        pending, self._pending = self._pending, []
        filled, self._filled = self._filled, []
        acks, self._acks = self._acks, []
        if pending or snapshot or filled or acks:
            hold = self._hold_first_s if acks else 0.0
            self._hold_first_s -= hold
            self._in_flight += 1
            self._completing = asyncio.ensure_future(
                self._complete(self._completing, pending, snapshot, filled, acks, hold)
            )

    async def settled(self) -> None:
        """Wait until the last flush completed (agents stored, messages acked)."""
        completing = self._completing
        if completing is not None:
            self._completing = None
            await completing

    def behind(self) -> int:
        """Messages of the input not processed yet, as the last tick measured (0 if unknown)."""
        return sum(max(0, c.lag or 0) for c in self.processor.watermark.sources.values())

    def batch_sender(self) -> BatchSender | None:
        """The batched sender over Faust's aiokafka producer (started with the app); None
        under exactly_once, where every record belongs to Faust's transactions."""
        if self._sender is None and self.settings.processing_guarantee == "at_least_once":
            producer: Any = self.app.producer
            self._sender = BatchSender(producer._ensure_producer())
        return self._sender

    async def _complete(
        self,
        previous: asyncio.Future[None] | None,
        pending: list[Any],
        snapshot: Snapshot,
        filled: list[Inbound],
        acks: list[Message],
        hold_s: float = 0.0,
    ) -> None:
        """Wait for Kafka to have every record, then store the agents, then ack the messages.

        Messages keep being handled meanwhile (only the step under the lock holds them up).
        ``hold_s`` is the injected slow first flush (``fault_hold_first_flush_s``).
        """
        try:
            encoded = await snapshot.fill()
            if previous is not None:
                await previous
            if pending:
                await asyncio.gather(*pending)
                if self.first_output_s is None:
                    self.first_output_s = time.monotonic() - self.started
                    log.info(
                        "first records delivered %.2f s after the worker started",
                        self.first_output_s,
                    )
            if hold_s:
                await self._hold(hold_s, acks)
            self.processor.counts.agent_writes += len(encoded)
            sender = self.batch_sender()
            if sender is not None:  # at-least-once: changelog records batched too
                records = self.store.stage(encoded)
                if records:  # not waited for: Faust flushes the producer before it commits
                    await sender.send(records, self.store.changelog_delivered)
            else:
                put = self.store.put
                for partition, key, value in encoded:
                    put(partition, key, value)
        except Exception as exc:  # records not delivered: nothing may be acked; restart
            if previous is None or not previous.exception():  # said once, by the first
                log.error("records were not delivered, stopping the worker: %r", exc)
                await self.app.crash(exc)
            raise
        finally:
            self._in_flight -= 1
        # Only partitions still assigned: a revoked one's messages are its new owner's now.
        assigned = self.app.consumer.assignment()
        ack = self.app.consumer.ack
        for f in filled:  # messages the stream skipped (see gaps): Faust never saw them
            if TP(f.topic, f.partition) in assigned:
                ack(Message(f.topic, f.partition, f.offset, 0.0, 0, None, f.key, f.value, None))
        for message in acks:
            if message.tp in assigned:
                ack(message)

    async def _hold(self, hold_s: float, acks: list[Message]) -> None:
        """The injected slow message: its records are in Kafka, its agents not stored yet."""
        last: dict[str, int] = {}
        for message in acks:
            last[f"{message.topic}[{message.partition}]"] = message.offset
        log.warning(
            "fault injection: holding the first flush (%d messages, last offsets %s) for "
            "%.1f s after its records were delivered",
            len(acks),
            ", ".join(f"{tp} {offset}" for tp, offset in sorted(last.items())),
            hold_s,
        )
        await asyncio.sleep(hold_s)
        log.warning("fault injection: the first flush goes on")

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
        slowest = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in sorted(self.slowest.items()))
        self.slowest = {}
        lags = [c.lag for c in watermark.sources.values()]
        log.info(
            "%d messages (%.0f/s), %d agents, %d holding events, watermark %s; longest %s; lag %s",
            done,
            (done - before) / (now - since),
            len(self.processor.states),
            len(self.processor.held),
            mark,
            slowest or "-",
            "unknown" if None in lags else self.behind(),
        )

    # ------------------------------------------------------------------ rebalancing
    async def on_revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Faust's ``on_partitions_revoked`` signal: ``args[0]`` is the set of revoked TPs.

        Agents changed since the last flush are not stored (the partition is someone else's
        now) and their messages not acked: the next owner processes them again.
        """
        revoked: set[TP] = args[0] if args else set()
        async with self.lock:
            self.mark = None  # nothing advanced until the next tick after the rebalance
            await self.settled()
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
            await self.settled()
        await self.gaps.close()

    async def on_rebalance_complete(
        self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any
    ) -> None:
        """Tables recovered: load the owned agents (once) before the streams resume."""
        ours = self._ours
        assigned = {tp.partition for tp in self.app.consumer.assignment() if tp.topic in ours}
        async with self.lock:
            await self._flush()  # whatever is still pending of partitions this worker kept
            await self.settled()  # stored before the agents are loaded again below
            await self.gaps.reset((topic, p) for p in assigned for topic in ours)
            self.processor.revoke(set(range(self.settings.partitions)))
            self.processor.assign(assigned, self.store.stored(assigned), time.monotonic())
        self._frozen_at = 0.0  # the loaded agents: out of the collector's way at the next tick
        log.info(
            "assigned partitions %s: %d agents loaded", sorted(assigned), len(self.processor.states)
        )
