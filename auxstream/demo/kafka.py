"""The demo's own Kafka and HTTP traffic: is the broker there, what the worker publishes,
what its metrics say, and removing the run's topics at the end."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from auxstream.demo.floor import Floor
from auxstream.kafka_security import PLAINTEXT, KafkaSecurity
from auxstream.simulate.kafka import BrokerUnreachable, reachable


@contextlib.asynccontextmanager
async def _admin(
    bootstrap: str, security: KafkaSecurity, timeout_ms: int = 10_000
) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms, **security.client_options()
    )
    async with reachable(bootstrap, admin.start, admin.close, security):
        yield admin


async def check_broker(bootstrap: str, security: KafkaSecurity = PLAINTEXT) -> int:
    """The number of brokers in the cluster; BrokerUnreachable when nothing answers."""
    async with _admin(bootstrap, security) as admin:
        try:
            cluster = await admin.describe_cluster()
        except (KafkaError, OSError) as exc:
            raise BrokerUnreachable(bootstrap, exc) from None
    return len(cluster.get("brokers", [])) or 1


async def delete_topics(
    bootstrap: str, prefix: str, settle_s: float = 5.0, security: KafkaSecurity = PLAINTEXT
) -> tuple[list[str], list[str]]:
    """Delete every topic whose name starts with ``prefix`` (the run's own) and wait until the
    broker no longer lists them; (deleted, still listed or refused with the error code)."""
    async with _admin(bootstrap, security) as admin:
        names = sorted(t for t in await admin.list_topics() if t.startswith(prefix))
        if not names:
            return [], []
        response = await admin.delete_topics(names, timeout_ms=15_000)
        refused = {
            str(topic): int(code)
            for topic, code, *_ in getattr(response, "topic_error_codes", [])
            if code
        }
        deadline = time.monotonic() + settle_s
        left = names
        while left and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            left = [t for t in await admin.list_topics() if t.startswith(prefix)]
    problems = [f"{t} (error {refused[t]})" if t in refused else t for t in left]
    problems += [f"{t} (error {code})" for t, code in refused.items() if t not in left]
    return [t for t in names if t not in refused and t not in left], problems


class OutputReader:
    """Reads the six output topics from their beginning with a consumer group of its own."""

    def __init__(
        self,
        bootstrap: str,
        topics: dict[str, str],
        floor: Floor,
        group: str,
        security: KafkaSecurity = PLAINTEXT,
    ) -> None:
        self.bootstrap = bootstrap
        self.security = security
        self.kind_of = {topic: kind for kind, topic in topics.items()}
        self.floor = floor
        self.group = group
        self.first_record_at: float | None = None
        """Monotonic time the first output record was read."""
        self.last_record_at: float | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Read until ``stop`` is set (then whatever is already fetched is still applied)."""
        consumer = AIOKafkaConsumer(
            *self.kind_of,
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            client_id=f"{self.group}-{uuid.uuid4().hex[:6]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            metadata_max_age_ms=5_000,
            **self.security.client_options(),
        )
        await consumer.start()
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=5_000)
                self._apply(batches)
        finally:
            await consumer.stop()

    def _apply(self, batches: dict[object, list[object]]) -> None:
        received = self.floor.received
        for tp, records in batches.items():
            kind = self.kind_of.get(getattr(tp, "topic", ""))
            if kind is None or not records:
                continue
            now = time.monotonic()
            if self.first_record_at is None:
                self.first_record_at = now
            self.last_record_at = now
            for record in records:
                value = getattr(record, "value", None)
                if value is not None:
                    received(kind, value)


@dataclass(frozen=True)
class Scrape:
    """One look at the worker's ``/metrics``."""

    status: int | None
    """HTTP status; None when nothing answered (the server is not up yet, or has gone)."""
    processed: int | None = None
    """Input messages processed: the sum of ``auxstream_events_total`` (on a 200 only)."""


async def scrape_processed(port: int, timeout_s: float = 1.0) -> Scrape:
    """Ask the worker's HTTP server on ``port`` for ``/metrics``."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), timeout_s
        )
    except (OSError, TimeoutError):
        return Scrape(None)
    try:
        writer.write(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        body = await asyncio.wait_for(reader.read(), timeout_s)
    except (OSError, TimeoutError):
        return Scrape(None)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, _, text = body.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or not status[1].isdigit():
        return Scrape(None)
    if status[1] != b"200":
        return Scrape(int(status[1]))
    return Scrape(200, sum_metric(text.decode(errors="replace"), "auxstream_events_total"))


def sum_metric(exposition: str, name: str) -> int:
    """The sum over all label sets of one metric in Prometheus text format."""
    total = 0.0
    for line in exposition.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
            with contextlib.suppress(ValueError, IndexError):
                total += float(line.rsplit(" ", 1)[1])
    return int(total)
