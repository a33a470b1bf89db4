"""Poison messages become dead letters naming topic, partition and offset; the worker goes on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from auxstream.stream.processor import home_partition
from tests.integration.test_stream_support import StreamSetup, read_outputs, worker


def event(event_id: str, agent: str, ts: str, kind: str, **extra: object) -> bytes:
    return orjson.dumps(
        {"event_id": event_id, "agent_id": agent, "ts": ts, "type": kind, "team": "north", **extra}
    )


async def produce_all(
    broker: str, topic: str, messages: list[tuple[bytes | None, bytes | None, int]]
) -> list[int]:
    """(key, value, partition) in order; returns each message's offset."""
    producer = AIOKafkaProducer(
        bootstrap_servers=broker, acks="all", max_request_size=4 * 1024 * 1024
    )
    await producer.start()
    try:
        offsets = []
        for key, value, partition in messages:
            meta = await producer.send_and_wait(topic, value, key=key, partition=partition)
            offsets.append(meta.offset)
        return offsets
    finally:
        await producer.stop()


def test_poison_messages_become_dead_letters_and_processing_continues(
    kafka_broker: str, tmp_path: Path, shared_examples: Path
) -> None:
    setup = StreamSetup(kafka_broker, tmp_path)
    topic = setup.topics["input"]
    home = home_partition("P1", setup.partitions)
    other = (home + 1) % setup.partitions
    poison: list[tuple[str, bytes | None, bytes | None, int]] = [
        ("not JSON", b"P1", b'{"event_id": "x", "agent_id": ', home),
        ("tombstone", b"P1", None, home),
        ("over the", b"P1", b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}', home),
        ("must be a JSON object", None, b'["a", "list"]', other),  # null key and not an event
        (
            "field 'event_id' must be a string",
            b"P1",
            orjson.dumps(
                {"event_id": 7, "agent_id": "P1", "ts": "2026-05-12T08:00:00Z", "type": "ready"}
            ),
            home,
        ),
        (
            "missing field 'type'",
            b"P1",
            b'{"event_id": "p-9", "agent_id": "P1", "ts": "2026-05-12T08:00:00Z"}',
            home,
        ),
        ("has no UTC offset", b"P1", event("p-10", "P1", "2026-05-12T08:00:00", "ready"), home),
    ]
    valid: list[tuple[bytes | None, bytes | None, int]] = [
        (b"P1", event("p-1", "P1", "2026-05-12T08:00:00Z", "login"), home),
        (
            None,
            event("p-2", "P1", "2026-05-12T08:05:00Z", "not_ready", reason_code="BREAK"),
            other,
        ),  # re-keyed
        (b"P1", event("p-3", "P1", "2026-05-12T08:10:00Z", "ready"), home),
    ]
    assert setup.cli("topics", "create").returncode == 0
    offsets = asyncio.run(
        produce_all(kafka_broker, topic, [(k, v, p) for _, k, v, p in poison] + valid)
    )

    with worker(setup, "--policy", str(shared_examples / "policy.yaml")):
        outputs = asyncio.run(read_outputs(kafka_broker, setup.topics, at_least=len(poison) + 2))

    letters = outputs["deadletters"]
    assert len(letters) == len(poison), letters
    for (needle, _key, value, partition), offset in zip(poison, offsets, strict=False):
        (letter,) = [d for d in letters if d["partition"] == partition and d["offset"] == offset]
        assert letter["reason"] == "invalid"
        assert needle in letter["error"], (needle, letter["error"])
        assert letter["source_topic"] == topic
        assert len(letter["raw"].encode()) <= 64 * 1024
        if value is not None and len(value) < 64 * 1024:
            assert letter["raw"] == value.decode()
    # The valid events around them, one of them with no key, were all applied.
    segments = outputs["segments"]
    assert [(s["state"], s["reason_code"]) for s in segments] == [
        ("ready", None),
        ("not_ready", "BREAK"),
    ]
    assert segments[1]["start_event_id"] == "p-2"
