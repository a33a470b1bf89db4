"""The published policy: ``auxstream policy publish`` writes it, workers follow it live.

The policy topic is compacted and holds one key, ``current``; its value is JSON with the
policy's YAML text, its version (the content hash ``Policy.version``), when and from which
file it was published. A worker starts with the newest published policy when there is
one (the ``--policy`` file is the fallback for a centre that never published), reads the
topic as a Faust GlobalTable (every worker reads all of it) and switches on the next tick
when the value changes. Each detection carries ``policy_version``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError

from auxstream.domain.policy import Policy
from auxstream.kafka_security import connect_failure
from auxstream.policy import PolicyError, load_policy, policy_from_text
from auxstream.stream.settings import Settings
from auxstream.stream.topics import BrokerUnavailable

POLICY_KEY = b"current"


@dataclass(frozen=True)
class Published:
    """A policy as it travels on the policy topic."""

    policy: Policy
    raw: bytes
    """The message value, as published (compared to notice a change)."""
    published_at: str
    source: str


def encode(path: Path) -> tuple[Policy, bytes]:
    """Validate the file and build the message value; PolicyError if it is unusable."""
    policy = load_policy(path)
    text = path.read_text(encoding="utf-8-sig")
    value = orjson.dumps(
        {
            "version": policy.version,
            "published_at": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "source": path.name,
            "yaml": text,
        }
    )
    return policy, value


def decode(raw: bytes, where: str) -> Published:
    """A published value back into a Policy; PolicyError naming ``where`` if it is unusable."""
    try:
        doc = orjson.loads(raw)
        text, published_at, source = (
            doc["yaml"],
            str(doc.get("published_at")),
            str(doc.get("source")),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise PolicyError(f"{where}: not a published policy: {exc}") from None
    if not isinstance(text, str):
        raise PolicyError(f"{where}: not a published policy: its 'yaml' is not text")
    return Published(policy_from_text(text, f"{where} ({source})"), raw, published_at, source)


async def publish(settings: Settings, path: Path) -> Policy:
    """Validate ``path`` and write it to the policy topic; returns the policy published."""
    policy, value = encode(path)
    security = settings.kafka_security
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        request_timeout_ms=15_000,
        **security.client_options(),
    )
    try:
        await producer.start()
    except (KafkaConnectionError, KafkaError, OSError) as exc:
        with contextlib.suppress(Exception):
            await producer.stop()
        raise BrokerUnavailable(
            await connect_failure(settings.bootstrap_servers, security, exc)
        ) from None
    try:
        await producer.send_and_wait(settings.policy_topic, value, key=POLICY_KEY, partition=0)
    finally:
        await producer.stop()
    return policy


async def read_published(settings: Settings) -> Published | None:
    """The newest published policy, or None if none was ever published (the topic must exist)."""
    security = settings.kafka_security
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=15_000,
        **security.client_options(),
    )
    try:
        await consumer.start()
    except (KafkaConnectionError, KafkaError, OSError) as exc:
        with contextlib.suppress(Exception):
            await consumer.stop()
        raise BrokerUnavailable(
            await connect_failure(settings.bootstrap_servers, security, exc)
        ) from None
    try:
        tp = TopicPartition(settings.policy_topic, 0)
        consumer.assign([tp])
        start = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        if end <= start:
            return None
        consumer.seek(
            tp, start
        )  # explicit: seek_to_beginning can lose a race with the initial reset
        latest: tuple[bytes | None, int] | None = None
        while True:  # compacted: a handful of records; the last one for our key wins
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for message in batch.get(tp, []):
                if message.key == POLICY_KEY:
                    latest = (message.value, message.offset)
            if await consumer.position(tp) >= end:
                break
        if latest is None or latest[0] is None:
            return None
        return decode(latest[0], f"{settings.policy_topic}@{latest[1]}")
    finally:
        await consumer.stop()
