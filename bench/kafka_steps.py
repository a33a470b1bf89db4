"""The benchmark's measurements against a real broker, each a bounded async function.

Every loop here stops at a deadline (and the readers at a record count); only 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from auxstream.simulate.kafka import Pacer, ProduceStats, Rate, open_producer, produce
from auxstream.simulate.wire import Message
from bench.latency import contract_releases


def _group() -> str:
    return f"bench-{uuid.uuid4().hex[:10]}"


async def preload(
    bootstrap: str, topic: str, messages: Iterable[Message], limit: int, out: BinaryIO
) -> dict[str, float]:
    """Produce the first ``limit`` messages as fast as possible; write their values to ``out``."""

    def keep(message: Message) -> None:
        out.write(message.value + b"\n")

    stats = ProduceStats()
    rate = Rate(None)
    began = time.perf_counter()
    async with open_producer(bootstrap, rate) as producer:
        await produce(
            producer,
            topic,
            itertools.islice(messages, limit),
            Pacer(rate, 0, time.monotonic()),
            stats,
            keep,
        )
    seconds = time.perf_counter() - began
    return {
        "events": stats.sent,
        "seconds": round(seconds, 2),
        "events_per_s": round(stats.sent / seconds),
    }


async def floor(bootstrap: str, topic: str, expected: int, timeout_s: float) -> dict[str, Any]:
    """A bare ``getmany`` + ``orjson.loads`` consumer: events/s from first record to last."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=_group(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    count, first = 0, None
    deadline = time.monotonic() + timeout_s
    loads = orjson.loads
    try:
        while count < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            if batches and first is None:
                first = time.perf_counter()
            for records in batches.values():
                for record in records:
                    with contextlib.suppress(orjson.JSONDecodeError):
                        loads(record.value)
                count += len(records)
        seconds = time.perf_counter() - (first or time.perf_counter())
    finally:
        await consumer.stop()
    return {
        "events": count,
        "seconds": round(seconds, 3),
        "events_per_s": round(count / seconds) if seconds > 0 else None,
        "complete": count >= expected,
    }


async def count_outputs(
    bootstrap: str,
    topics: dict[str, str],
    want: dict[str, int],
    *,
    timeout_s: float,
    stall_s: float = 90.0,
) -> dict[str, Any]:
    """Count records on ``topics`` (name -> topic) until every ``want`` count is reached.

    Returns the counts, the earliest record timestamp (when the producer made it, epoch s)
    and the wall time the last wanted record arrived; ``complete`` False on a timeout or
    when nothing new came for ``stall_s``.
    """
    by_topic = {topic: name for name, topic in topics.items()}
    consumer = AIOKafkaConsumer(
        *by_topic,
        bootstrap_servers=bootstrap,
        group_id=_group(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=1000,
    )
    await consumer.start()
    counts = dict.fromkeys(topics, 0)
    first_ms: int | None = None
    last_new = time.monotonic()
    deadline = last_new + timeout_s
    done_at = None
    try:
        while time.monotonic() < deadline and time.monotonic() - last_new < stall_s:
            batches = await consumer.getmany(timeout_ms=500, max_records=20_000)
            for tp, records in batches.items():
                if not records:
                    continue
                counts[by_topic[tp.topic]] += len(records)
                oldest = min(r.timestamp for r in records)
                first_ms = oldest if first_ms is None else min(first_ms, oldest)
                last_new = time.monotonic()
            if all(counts[name] >= n for name, n in want.items()):
                done_at = time.time()
                break
    finally:
        await consumer.stop()
    return {
        "counts": counts,
        "first_output_at": None if first_ms is None else first_ms / 1000,
        "done_at": done_at,
        "complete": done_at is not None,
    }


async def bare_hop(bootstrap: str, topic: str, hops: int, timeout_s: float) -> list[float]:
    """Produce one record, wait until a consumer has it; ``hops`` times. Milliseconds each."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    await consumer.seek_to_end(tp)
    latencies: list[float] = []
    deadline = time.monotonic() + timeout_s
    try:
        for i in range(hops + 20):  # the first 20 warm the connections up
            if time.monotonic() > deadline:
                break
            began = time.perf_counter()
            await producer.send_and_wait(topic, b"%d" % i, partition=0)
            got = False
            while not got and time.monotonic() < deadline:
                batches = await consumer.getmany(tp, timeout_ms=1000)
                got = any(batches.values())
            if got and i >= 20:
                latencies.append((time.perf_counter() - began) * 1000)
    finally:
        await consumer.stop()
        await producer.stop()
    return latencies


async def prime(bootstrap: str, topics: Iterable[str]) -> int:
    """Write two records (key ``bench-prime``, a 5,000-byte value then ``{}``) to every
    partition of ``topics``, so the broker has made each partition's index files.

    Kafka adds an index entry to a log segment once more than ``index.interval.bytes``
    (4,096) were appended to it, and the segment's first entry creates its offset and time
    index files (10 MB each, preallocated): a produce request touching such a partition
    took 45-50 ms in the broker on this machine (its request log: ``localTimeMs``), and one
    touching several of them up to 280 ms, holding every record behind it. A floor meets
    this once per segment (1 GB or 7 days per partition); a benchmark on fresh topics met
    it at the first outputs of each kind, that is inside the measured minute (durations,
    or intervals at a boundary). Returns the records written."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        written = 0
        for topic in topics:
            for partition in sorted(await producer.partitions_for(topic)):
                for value in (b'{"prime": "' + b"x" * 5_000 + b'"}', b"{}"):
                    await producer.send_and_wait(
                        topic, value, key=b"bench-prime", partition=partition
                    )
                    written += 1
        return written
    finally:
        await producer.stop()


def iso_ms(epoch_s: float) -> str:
    """An event time with milliseconds, as the contract writes it."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def offered_load(
    bootstrap: str,
    input_topic: str,
    segments_topic: str,
    messages: Iterable[Message],
    *,
    per_s: int,
    duration_s: float,
    drain_s: float,
    warmup_s: float = 0.0,
    grace_s: float = 0.0,
    shift_s: float = 0.0,
    id_field: str = "end_event_id",
) -> dict[str, Any]:
    """Offer ``per_s`` events a second for ``warmup_s`` + ``duration_s``, each re-timed to the
    moment it is produced; latency of a segment = its arrival at our consumer - production of
    its end event, for end events produced after the warm-up (the worker's first agents,
    first sends and first collections are start-up, not steady state). ``beyond_hold_ms`` is
    the same arrival measured from the moment the contract lets the end event be applied
    (:func:`bench.latency.contract_releases` with ``grace_s``): the worker's own delay.
    ``shift_s`` is added to every event time (the worker's watermark follows event time
    while events flow, so this puts an interval boundary where the caller wants it).
    ``samples`` holds (production, hand-over to the worker's producer, arrival) of each.
    With ``segments_topic`` the input topic itself and ``id_field`` ``event_id``, this is
    the bare hop at the same offered load: every event's own arrival, nothing in between.
    """
    produced: dict[str, float] = {}
    by_agent: dict[str, list[tuple[float, str]]] = {}
    latencies: list[float] = []
    arrivals: list[tuple[str, float]] = []
    samples: list[tuple[float, float, float]] = []
    consumer = AIOKafkaConsumer(
        segments_topic,
        bootstrap_servers=bootstrap,
        group_id=_group(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    stop_reading = asyncio.Event()

    async def read() -> None:
        while not stop_reading.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            now = time.time()
            for records in batches.values():
                for record in records:
                    end_event = orjson.loads(record.value).get(id_field)
                    sent = produced.get(end_event)
                    if sent is not None:
                        latencies.append((now - sent) * 1000)
                        arrivals.append((end_event, now))
                        # CreateTime: when the worker handed the record to its producer
                        samples.append((sent, record.timestamp / 1000, now))

    reader = asyncio.create_task(read())
    sent = 0
    # The cyclic collector off while measuring, so that its passes over this process's
    # growing maps (hundreds of thousands of objects) are never timed as the worker's
    # latency; nothing here makes cycles that must be collected before the end.
    gc.collect()
    gc.disable()
    try:
        # linger 0, like the bare hop: the latency measured is the worker's, not batching here
        async with open_producer(bootstrap, Rate(1.0), linger_ms=0) as producer:
            began = time.monotonic()
            source = iter(messages)
            tick = 0.005
            measured_from = began + warmup_s
            while time.monotonic() - began < warmup_s + duration_s:
                due = int((time.monotonic() - began) * per_s)
                for message in itertools.islice(source, max(0, due - sent)):
                    now = time.time()
                    event = orjson.loads(message.value)
                    event["ts"] = iso_ms(now + shift_s)
                    by_agent.setdefault(event["agent_id"], []).append((now, event["event_id"]))
                    if time.monotonic() >= measured_from:
                        produced[event["event_id"]] = now
                    await producer.send(input_topic, orjson.dumps(event), key=message.key)
                    sent += 1
                await asyncio.sleep(tick)
        await asyncio.sleep(drain_s)
    finally:
        gc.enable()
        stop_reading.set()
        await asyncio.wait_for(reader, timeout=10)
        await consumer.stop()
    releases: dict[str, float] = {}
    for events in by_agent.values():
        for (_, event_id), release in zip(
            events, contract_releases([at for at, _ in events], grace_s), strict=True
        ):
            releases[event_id] = release
    return {
        "offered_per_s": per_s,
        "duration_s": duration_s,
        "sent": sent,
        "latencies_ms": latencies,
        "beyond_hold_ms": [(now - releases[e]) * 1000 for e, now in arrivals],
        "samples": samples,
    }


async def wait_caught_up(bootstrap: str, group: str, topic: str, timeout_s: float) -> float | None:
    """Seconds until ``group`` has committed the end of every partition of ``topic``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await probe.start()
    began = time.monotonic()
    try:
        partitions = [TopicPartition(topic, p) for p in probe.partitions_for_topic(topic) or ()]
        if not partitions:
            await probe._client.force_metadata_update()
            partitions = [TopicPartition(topic, p) for p in probe.partitions_for_topic(topic) or ()]
        ends = await probe.end_offsets(partitions)
        while time.monotonic() - began < timeout_s:
            committed = await admin.list_consumer_group_offsets(group)
            if all(tp in committed and committed[tp].offset >= end for tp, end in ends.items()):
                return time.monotonic() - began
            await asyncio.sleep(0.5)
        return None
    finally:
        await probe.stop()
        await admin.close()


def write_lines(path: Path) -> BinaryIO:
    return path.open("wb")
