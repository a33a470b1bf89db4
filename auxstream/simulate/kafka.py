"""``auxstream simulate --to-kafka``: the simulator's messages on a Kafka topic, at a rate.

A rate is ``max`` (as fast as the producer batches), ``realtime`` or ``Nx`` (N times real
time): a paced run sends each message when the wall clock, counted from the start, has
caught up with its event time counted from the period's start, divided by N. Messages go
out in the simulator's delivery order, so a late or repeated line (whose event time is
older) goes out at once, in its place. Keys are the agent ids (None for a line without
one), partitioned like Kafka's default partitioner, so one agent's events stay on one
partition in order.

The producer batches (``linger_ms``); ``produce`` keeps a bounded window of unacknowledged
sends and yields to the event loop regularly, so a caller's other tasks (the demo's view)
keep running even at ``max``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from auxstream.kafka_security import PLAINTEXT, KafkaSecurity, connect_failure
from auxstream.simulate.wire import Message

PACED_LINGER_MS = 5
"""A paced message waits at most this long for its batch (the rate stays smooth)."""
MAX_LINGER_MS = 20
"""At ``max`` a batch waits this long to fill: fewer, bigger requests."""
MAX_BATCH_BYTES = 512 * 1024
IN_FLIGHT = 20_000
"""Unacknowledged sends before ``produce`` waits for the broker (bounds memory)."""
YIELD_EVERY = 1_000
"""At ``max``, hand the event loop to other tasks this often (in messages)."""

_RATE = re.compile(r"^(\d+(?:\.\d+)?)x$")


class BrokerUnreachable(Exception):
    """Kafka did not answer; ``str()`` is the one line to show a person."""

    def __init__(self, bootstrap: str, cause: BaseException, message: str | None = None) -> None:
        super().__init__(message or f"cannot reach Kafka at {bootstrap}: {cause}")
        self.bootstrap = bootstrap


class TopicMissing(Exception):
    """The topic to produce to does not exist (and should not be auto-created)."""


@dataclass(frozen=True)
class Rate:
    """How fast simulated time runs: ``speed`` times real time, or None for as fast as possible."""

    speed: float | None

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``max``, ``realtime`` (= ``1x``) or ``Nx`` such as ``60x`` or ``0.5x``."""
        value = text.strip().lower()
        if value == "max":
            return cls(None)
        if value == "realtime":
            return cls(1.0)
        match = _RATE.match(value)
        if match is None or float(match.group(1)) <= 0:
            raise ValueError(f"rate must be realtime, max or Nx with N > 0 (60x), not {text!r}")
        return cls(float(match.group(1)))

    def __str__(self) -> str:
        if self.speed is None:
            return "max"
        return "realtime" if self.speed == 1.0 else f"{self.speed:g}x"


class Pacer:
    """When a message is due: wall time since ``started`` = (event time - ``origin_ts``) / speed."""

    def __init__(self, rate: Rate, origin_ts: float, started: float) -> None:
        self.speed = rate.speed
        self.origin_ts = origin_ts
        self.started = started

    def due(self, event_ts: float) -> float:
        """Monotonic time at which a message of this event time is due (``started`` at ``max``)."""
        if self.speed is None:
            return self.started
        return self.started + max(0.0, event_ts - self.origin_ts) / self.speed


class KeyPartitioner:
    """Kafka's default partitioner (murmur2 of the key), cached per key: agent ids repeat."""

    def __init__(self) -> None:
        self._cache: dict[tuple[bytes, int], int] = {}

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:  # a line without an agent: any partition, like Kafka's own client
            return random.choice(available or all_partitions)
        n = len(all_partitions)
        found = self._cache.get((key, n))
        if found is None:
            found = self._cache[(key, n)] = all_partitions[(murmur2(key) & 0x7FFFFFFF) % n]
        return found


@dataclass
class ProduceStats:
    """What a producer has sent so far; read by progress lines and the demo's view."""

    sent: int = 0
    """Messages handed to the producer."""
    bytes: int = 0
    """Value bytes of those messages."""
    started: float | None = None
    """Monotonic time of the first send."""
    last_sent: float | None = None
    """Monotonic time of the latest send."""
    newest_ts: int | None = None
    """Newest event time sent (seconds since the epoch): the simulated clock."""

    def rate(self, now: float | None = None) -> float:
        """Messages per second since the first send (up to ``now``, else the latest send)."""
        if self.started is None:
            return 0.0
        end = self.last_sent if now is None else now
        span = (end or self.started) - self.started
        return self.sent / span if span > 0 else 0.0


def _quiet_aiokafka() -> None:
    # aiokafka logs a failed connection itself; without a handler Python's last-resort
    # handler would print it above our one-line message.
    logging.getLogger("aiokafka").addHandler(logging.NullHandler())


@contextlib.asynccontextmanager
async def reachable(
    bootstrap: str,
    start: Callable[[], Awaitable[object]],
    stop: Callable[[], Awaitable[object]],
    security: KafkaSecurity = PLAINTEXT,
) -> AsyncIterator[None]:
    """Start a Kafka client and stop it after; BrokerUnreachable, naming the address tried and
    why (nothing answers, authentication failed, ...) when it cannot start (the client is
    stopped then too, quietly). ``security``: what the client was made with."""
    _quiet_aiokafka()
    try:
        await start()
    except (KafkaError, OSError) as exc:
        with contextlib.suppress(Exception):
            await stop()
        raise BrokerUnreachable(
            bootstrap, exc, await connect_failure(bootstrap, security, exc)
        ) from None
    try:
        yield
    finally:
        await stop()


@contextlib.asynccontextmanager
async def open_producer(
    bootstrap: str, rate: Rate, security: KafkaSecurity = PLAINTEXT, linger_ms: int | None = None
) -> AsyncIterator[AIOKafkaProducer]:
    """A started producer batching for ``rate`` (or ``linger_ms``); BrokerUnreachable when
    Kafka does not answer."""
    if linger_ms is None:
        linger_ms = MAX_LINGER_MS if rate.speed is None else PACED_LINGER_MS
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=linger_ms,
        max_batch_size=MAX_BATCH_BYTES,
        partitioner=KeyPartitioner(),
        request_timeout_ms=15_000,
        **security.client_options(),
    )
    # Stopping the producer flushes what is still batched.
    async with reachable(bootstrap, producer.start, producer.stop, security):
        yield producer


async def check_topic(bootstrap: str, topic: str, security: KafkaSecurity = PLAINTEXT) -> None:
    """Raise TopicMissing (or BrokerUnreachable) unless ``topic`` exists on the broker."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=10_000, **security.client_options()
    )
    async with reachable(bootstrap, admin.start, admin.close, security):
        topics = await admin.list_topics()
    if topic not in topics:
        raise TopicMissing(
            f"topic {topic} does not exist on {bootstrap}: create it first with "
            "`auxstream topics create` (its partition count must match the workers')"
        )


async def produce(
    producer: AIOKafkaProducer,
    topic: str,
    messages: Iterable[Message],
    pacer: Pacer,
    stats: ProduceStats,
    on_message: Callable[[Message], Any] | None = None,
) -> ProduceStats:
    """Send every message, paced, and wait until Kafka acknowledged all of them.

    ``on_message`` sees each message right after it was handed to the producer.
    Cancelling stops between messages; what was handed over is still flushed by the
    producer's ``stop``.
    """
    pending: list[asyncio.Future[Any]] = []
    send = producer.send
    paced = pacer.speed is not None
    clock = time.monotonic
    for message in messages:
        if paced:
            delay = pacer.due(message.ts) - clock()
            if delay > 0.001:
                await asyncio.sleep(delay)
        elif stats.sent % YIELD_EVERY == 0:
            await asyncio.sleep(0)
        pending.append(await send(topic, message.value, key=message.key))
        now = clock()
        if stats.started is None:
            stats.started = now
        stats.last_sent = now
        stats.sent += 1
        stats.bytes += len(message.value)
        if stats.newest_ts is None or message.ts > stats.newest_ts:
            stats.newest_ts = message.ts
        if on_message is not None:
            on_message(message)
        if len(pending) >= IN_FLIGHT:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    return stats
