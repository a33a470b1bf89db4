# ruff: noqa: E501 - requests and records read best one per line
"""The webhook receiver over real HTTP, producing to the real test broker.

Each test starts the receiver on a free 127.0.0.1 port with its own topic prefix, sends
requests the way the vendor would, and reads the raw topics back: accepted records are
there keyed by agent id; refused requests (403, 413, 400) left nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import aiohttp
import pytest
from aiohttp import web

from auxstream.adapters.stream import STREAM_VENDORS
from auxstream.ingest.server import KafkaRawProducer, create_ingest_app
from auxstream.ingest.settings import IngestSettings
from auxstream.ingest.signature import expected_signature
from tests.integration.kafka_helpers import Record, consume_until, create_topics
from tests.integration.test_stream_support import StreamSetup, read_outputs, worker

VENDORS = Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "vendors"
TWILIO_SEGMENTS = [  # as in tests/unit/test_adapters_replay.py, computed by hand from the fixture
    ("08:00:00", "ready", 310), ("08:05:10", "on_contact", 360), ("08:11:10", "ACW", 90),
    ("08:12:40", "ready", 1040), ("08:30:00", "BREAK", 900), ("08:45:00", "ready", 900),
    ("09:00:00", "Coaching Session", 1200), ("09:20:00", "ready", 2400),
]  # fmt: skip

TOKEN = "12345678901234567890123456789012"  # a test auth token  # noqa: S105
WORKER = "WK" + "c3" * 16


@dataclass
class Receiver:
    base: str
    prefix: str
    bootstrap: str

    def topic(self, vendor: str) -> str:
        return f"{self.prefix}{vendor}"


@pytest.fixture
async def receiver(kafka_broker: str) -> AsyncIterator[Receiver]:
    prefix = f"test.ingest.{uuid.uuid4().hex[:10]}.acd.raw."
    await create_topics(
        kafka_broker, [f"{prefix}{v}" for v in ("twilio", "genesys", "amazon-connect")]
    )
    settings = IngestSettings(broker=kafka_broker, raw_topic_prefix=prefix, max_body=4096,
                              connect_secret="s3cret")  # noqa: S106  # type: ignore[arg-type]  # fmt: skip
    producer = KafkaRawProducer(settings.bootstrap_servers)
    await producer.start()
    runner = web.AppRunner(create_ingest_app(settings, producer, TOKEN))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp exposes no public accessor
    try:
        yield Receiver(f"http://127.0.0.1:{port}", prefix, kafka_broker)
    finally:
        await runner.cleanup()
        await producer.stop()


def _activity(sid: str, activity: str = "Break") -> dict[str, str]:
    return {"EventType": "worker.activity.update", "Sid": sid, "TimestampMs": "1778574600000",
            "WorkerSid": WORKER, "WorkerActivityName": activity, "AccountSid": "AC" + "a1" * 16}  # fmt: skip


async def _post_form(
    session: aiohttp.ClientSession, url: str, form: dict[str, str], sig: str | None
) -> int:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if sig is not None:
        headers["X-Twilio-Signature"] = sig
    async with session.post(url, data=urlencode(form).encode(), headers=headers) as response:
        body = await response.text()
        assert "Traceback" not in body
        return response.status


async def _read_until_marker(receiver: Receiver, vendor: str, marker: bytes) -> list[Record]:
    return await consume_until(receiver.bootstrap, receiver.topic(vendor),
                               lambda records: any(marker in r.value for r in records), timeout_s=30)  # fmt: skip


async def test_twilio_signed_callbacks_are_produced_and_refused_ones_are_not(
    receiver: Receiver,
) -> None:
    url = f"{receiver.base}/twilio"
    async with aiohttp.ClientSession() as session:
        good = _activity("EV" + "01" * 16)
        assert (
            await _post_form(session, url, good, expected_signature(TOKEN, url, good.items()))
            == 200
        )
        forged = _activity("EV" + "02" * 16, "Available")
        assert (
            await _post_form(
                session, url, forged, expected_signature("wrong-token", url, forged.items())
            )
            == 403
        )
        assert await _post_form(session, url, forged, None) == 403
        tampered = dict(good, WorkerActivityName="Available", Sid="EV" + "03" * 16)
        assert (
            await _post_form(session, url, tampered, expected_signature(TOKEN, url, good.items()))
            == 403
        )
        big = dict(_activity("EV" + "04" * 16), WorkerAttributes="x" * 5000)
        assert (
            await _post_form(session, url, big, expected_signature(TOKEN, url, big.items())) == 413
        )
        marker = _activity("EV" + "05" * 16, "Available")
        assert (
            await _post_form(session, url, marker, expected_signature(TOKEN, url, marker.items()))
            == 200
        )
    records = await _read_until_marker(receiver, "twilio", b"EV" + b"05" * 16)
    assert [r.value for r in records] == [urlencode(good).encode(), urlencode(marker).encode()]
    assert {r.key for r in records} == {WORKER.encode()}


async def test_twilio_event_streams_json_with_body_hash(receiver: Receiver) -> None:
    events = [{"type": "com.twilio.taskrouter.worker.activity.update", "id": f"NO{i}",
               "data": {"payload": {"sid": f"EV{i}", "worker_sid": f"WK{i}", "worker_activity_name": "Break",
                                    "timestamp": "2026-05-12T08:30:00.000Z"}}} for i in (1, 2)]  # fmt: skip
    body = json.dumps(events).encode()
    url = f"{receiver.base}/twilio?bodySHA256={hashlib.sha256(body).hexdigest()}"
    headers = {
        "Content-Type": "application/json",
        "X-Twilio-Signature": expected_signature(TOKEN, url),
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body, headers=headers) as response:
            assert response.status == 200
            assert await response.json() == {"accepted": 2}
        altered = body.replace(b"Break", b"Lunch")
        async with session.post(url, data=altered, headers=headers) as response:
            assert response.status == 403
    records = await _read_until_marker(receiver, "twilio", b"EV2")
    assert [(r.key, json.loads(r.value)["id"]) for r in records] == [
        (b"WK1", "NO1"),
        (b"WK2", "NO2"),
    ]


async def test_genesys_and_connect_endpoints(receiver: Receiver) -> None:
    note = {"topicName": "v2.users.u-1.routingStatus", "version": "2",
            "eventBody": {"routingStatus": {"status": "IDLE", "startTime": "2026-05-12T08:00:00.000Z"}}}  # fmt: skip
    arn = "arn:aws:connect:eu-west-2:123456789012:instance/i-1/agent/a-7"
    connect = {
        "AgentARN": arn,
        "EventId": "ev-1",
        "EventType": "LOGOUT",
        "EventTimestamp": "2026-05-12T10:00:00Z",
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{receiver.base}/genesys", json=note) as response:
            assert response.status == 200
        async with session.post(f"{receiver.base}/genesys", data=b"not json") as response:
            assert response.status == 400
        async with session.post(f"{receiver.base}/connect", json=connect) as response:
            assert response.status == 403  # the shared secret is configured
        async with session.post(f"{receiver.base}/connect", json=connect,
                                headers={"X-Auxstream-Secret": "wrong"}) as response:  # fmt: skip
            assert response.status == 403
        async with session.post(f"{receiver.base}/connect", json=[connect],
                                headers={"X-Auxstream-Secret": "s3cret"}) as response:  # fmt: skip
            assert response.status == 200
        async with session.get(f"{receiver.base}/health") as response:
            assert (response.status, await response.json()) == (200, {"status": "ok"})
        async with session.get(f"{receiver.base}/nowhere") as response:
            assert response.status == 404
            assert "Traceback" not in await response.text()
    [genesys] = await _read_until_marker(receiver, "genesys", b"u-1")
    assert (genesys.key, json.loads(genesys.value)) == (b"u-1", note)
    [record] = await _read_until_marker(receiver, "amazon-connect", b"ev-1")
    assert (record.key, json.loads(record.value)) == (b"a-7", connect)


def test_missing_broker_names_the_address_tried() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "auxstream", "ingest", "http", "--broker", "127.0.0.1:1", "--port", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "cannot reach the Kafka broker at 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr


def test_twilio_shift_through_receiver_and_worker(kafka_broker: str, tmp_path: Path) -> None:
    """End to end: Twilio's callbacks POSTed to the receiver, the worker's vendor agent turns
    acd.raw.twilio into canonical events, and the worker's segments are the hand-computed ones."""
    setup = StreamSetup(kafka_broker, tmp_path)
    prefix = f"st.{setup.tag}.raw."
    assert setup.cli("topics", "create").returncode == 0
    asyncio.run(
        create_topics(
            kafka_broker, [f"{prefix}{v}" for v in STREAM_VENDORS], partitions=setup.partitions
        )
    )
    bodies = (VENDORS / "twilio-shift.txt").read_bytes().splitlines()

    async def post_all() -> None:
        settings = IngestSettings(broker=kafka_broker, raw_topic_prefix=prefix)
        producer = KafkaRawProducer(settings.bootstrap_servers)
        await producer.start()
        runner = web.AppRunner(create_ingest_app(settings, producer, TOKEN))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/twilio"  # type: ignore[union-attr]
        try:
            async with aiohttp.ClientSession() as session:
                for body in bodies:
                    if body.startswith(
                        b"{"
                    ):  # an Event Streams CloudEvent: JSON, signed with its hash
                        target = f"{url}?bodySHA256={hashlib.sha256(body).hexdigest()}"
                        sig = expected_signature(TOKEN, target)
                        kind = "application/json"
                    else:  # an EventCallbackUrl callback: a signed form
                        target = url
                        sig = expected_signature(
                            TOKEN, url, parse_qsl(body.decode(), keep_blank_values=True)
                        )
                        kind = "application/x-www-form-urlencoded"
                    headers = {"Content-Type": kind, "X-Twilio-Signature": sig}
                    async with session.post(target, data=body, headers=headers) as response:
                        assert response.status == 200, await response.text()
        finally:
            await runner.cleanup()
            await producer.stop()

    asyncio.run(post_all())
    with worker(setup, "--policy", str(VENDORS / "policy.yaml"), AUXSTREAM_RAW_TOPIC_PREFIX=prefix):
        outputs = asyncio.run(read_outputs(kafka_broker, setup.topics, at_least=10, quiet_s=6.0))
    segments = sorted(outputs["segments"], key=lambda s: s["start"])
    assert [
        (s["start"][11:19], s["reason_code"] or s["state"], s["duration_s"]) for s in segments
    ] == TWILIO_SEGMENTS
    letters = outputs["deadletters"]
    assert sorted(d["error"].split(":")[1].strip() for d in letters) == ["neither JSON nor a form-encoded TaskRouter callback",
                                                                       "worker.activity.update"]  # fmt: skip
    assert {d["source_topic"] for d in letters} == {f"{prefix}twilio"}
