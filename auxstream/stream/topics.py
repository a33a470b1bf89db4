"""The topic declaration (``topologies/topics.yaml``), and making the broker match it.

``declared(settings)`` resolves the file against the settings (names, partition count);
``create_topics`` creates what is missing and ``check_topics`` lists every difference
between the broker and the declaration. Both talk to Kafka through aiokafka's admin client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from auxstream.kafka_security import connect_failure
from auxstream.stream.settings import Settings

TOPOLOGY = Path(__file__).resolve().parents[2] / "topologies" / "topics.yaml"
ROLES = ("input", "repartition", "changelog", "policy", "output")


class BrokerUnavailable(Exception):
    """Kafka did not answer; the message names the address tried."""


class TopologyError(Exception):
    """The declaration file is missing or malformed."""


@dataclass(frozen=True)
class TopicSpec:
    """One declared topic, resolved against the settings."""

    name: str
    role: str
    partitions: int
    replication: int
    key: str
    value: str
    config: dict[str, str] = field(default_factory=dict)
    """Kafka topic configuration, cleanup.policy and retention.ms included."""


def declared(settings: Settings, path: Path = TOPOLOGY) -> list[TopicSpec]:
    """Every topic of the declaration, with the names and partition count of ``settings``."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        entries = doc["topics"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise TopologyError(f"{path}: cannot read the topic declaration: {exc}") from None
    specs = []
    for entry in entries:
        try:
            specs.append(_spec(entry, settings))
        except (KeyError, TypeError, ValueError) as exc:
            raise TopologyError(f"{path}: topic {entry.get('name', '?')!r}: {exc}") from None
    return specs


def _spec(entry: dict[str, Any], settings: Settings) -> TopicSpec:
    setting = entry.get("setting")
    name = (
        getattr(settings, setting) if setting else str(entry["name"]).format(app_id=settings.app_id)
    )
    if entry["role"] not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    partitions = (
        settings.partitions if entry["partitions"] == "workers" else int(entry["partitions"])
    )
    config = {
        "cleanup.policy": str(entry["cleanup_policy"]),
        "retention.ms": str(entry["retention_ms"]),
        **{str(k): str(v) for k, v in (entry.get("config") or {}).items()},
    }
    return TopicSpec(
        name,
        entry["role"],
        partitions,
        settings.replication,
        str(entry["key"]),
        str(entry["value"]),
        config,
    )


@contextlib.asynccontextmanager
async def admin(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    """An admin client, or BrokerUnavailable naming the address tried."""
    security = settings.kafka_security
    client = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        request_timeout_ms=10_000,
        **security.client_options(),
    )
    try:
        await client.start()
    except (KafkaConnectionError, KafkaError, OSError) as exc:
        await _close_quietly(client)
        raise BrokerUnavailable(
            await connect_failure(settings.bootstrap_servers, security, exc)
        ) from None
    try:
        yield client
    finally:
        await _close_quietly(client)


async def _close_quietly(client: AIOKafkaAdminClient) -> None:
    with contextlib.suppress(Exception):
        await client.close()


async def create_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create the declared topics the broker lacks; returns the names created."""
    specs = declared(settings) if specs is None else specs
    async with admin(settings) as client:
        existing = set(await client.list_topics())
        created = []
        for spec in specs:
            if spec.name in existing:
                continue
            try:
                response = await client.create_topics(
                    [
                        NewTopic(
                            spec.name,
                            spec.partitions,
                            spec.replication,
                            topic_configs=dict(spec.config),
                        )
                    ]
                )
            except TopicAlreadyExistsError:
                continue  # another worker made it a moment ago
            for error in response.topic_errors:
                name, code, message = error[0], error[1], (error[2] if len(error) > 2 else "")
                if code == TopicAlreadyExistsError.errno:
                    break
                if code:
                    raise TopologyError(
                        f"creating {name} failed: Kafka error {code} {message or ''}".rstrip()
                    )
            else:
                created.append(spec.name)
        await _wait_listed(client, [spec.name for spec in specs])
        return created


async def _wait_listed(
    client: AIOKafkaAdminClient, names: list[str], timeout_s: float = 15.0
) -> None:
    """The broker lists a new topic a moment after the controller made it: wait for that."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        missing = set(names) - set(await client.list_topics())
        if not missing:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TopologyError(
                f"created but not yet listed by the broker after {timeout_s:.0f} s: "
                + ", ".join(sorted(missing))
            )
        await asyncio.sleep(0.1)


async def check_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Every difference between the broker and the declaration, one line each."""
    specs = declared(settings) if specs is None else specs
    problems = []
    async with admin(settings) as client:
        existing = set(await client.list_topics())
        present = [s for s in specs if s.name in existing]
        problems += [f"{s.name}: missing ({s.role} topic)" for s in specs if s.name not in existing]
        if not present:
            return problems
        described = {t["topic"]: t for t in await client.describe_topics([s.name for s in present])}
        configs = await _configs(client, [s.name for s in present])
        for spec in present:
            count = len(described.get(spec.name, {}).get("partitions", []))
            if count != spec.partitions:
                problems.append(f"{spec.name}: {count} partitions, declared {spec.partitions}")
            actual = configs.get(spec.name, {})
            for key, want in spec.config.items():
                if actual.get(key) != want:
                    problems.append(f"{spec.name}: {key}={actual.get(key)}, declared {want}")
    return problems


async def partition_count(settings: Settings, topic: str) -> int | None:
    """Partitions of ``topic`` on the broker, None when it does not exist."""
    async with admin(settings) as client:
        if topic not in set(await client.list_topics()):
            return None
        described = await client.describe_topics([topic])
        return len(described[0].get("partitions", []))


async def _configs(client: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    out: dict[str, dict[str, str]] = {}
    for response in await client.describe_configs(resources):
        for _code, _message, _type, name, entries in response.resources:
            out[name] = {entry[0]: entry[1] for entry in entries}
    return out
