"""``auxstream ingest http``: run the webhook receiver (see :mod:`auxstream.ingest.server`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="receive vendor events over HTTP and produce them to Kafka",
        description="Receivers that bring vendors' own events into Kafka (acd.raw.<vendor>).",
    )
    kinds = parser.add_subparsers(dest="ingest_kind", metavar="KIND", required=True)
    http = kinds.add_parser(
        "http",
        help="webhook receiver: POST /twilio, /genesys, /connect; GET /health",
        description=(
            "A webhook receiver for vendors that push over HTTP. POST /twilio checks "
            "X-Twilio-Signature with the auth token (AUXSTREAM_TWILIO_AUTH_TOKEN, or a file "
            "named by AUXSTREAM_TWILIO_AUTH_TOKEN_FILE); /genesys and /connect check "
            "X-Auxstream-Secret when AUXSTREAM_GENESYS_SECRET / AUXSTREAM_CONNECT_SECRET is set. "
            "Accepted records go to acd.raw.<vendor>, keyed by agent id."
        ),
    )
    http.add_argument("--host", dest="ingest_host", help="listen address (default 127.0.0.1)")
    http.add_argument("--port", dest="ingest_port", type=int, help="listen port (default 8085)")
    http.add_argument("--broker", help="Kafka bootstrap servers (default kafka://127.0.0.1:9092)")
    http.add_argument(
        "--max-body", dest="max_body", type=int, help="largest body in bytes (default 65536)"
    )
    http.add_argument(
        "--public-url", dest="public_url", help="the URL vendors call, when behind a proxy"
    )
    http.set_defaults(func=run_http)


def run_http(args: argparse.Namespace) -> int:
    from auxstream.ingest.settings import IngestSettings, IngestSettingsError

    overrides = {
        name: getattr(args, name)
        for name in ("ingest_host", "ingest_port", "broker", "max_body", "public_url")
    }
    try:
        settings = IngestSettings.from_overrides(overrides)
        token = settings.twilio_token()
    except IngestSettingsError as exc:
        print(f"auxstream ingest http: {exc}", file=sys.stderr)
        return 2
    if token is None:
        print("auxstream ingest http: no Twilio auth token (AUXSTREAM_TWILIO_AUTH_TOKEN): "
              "POST /twilio will refuse every request", file=sys.stderr)  # fmt: skip
    return asyncio.run(serve(settings, token))


async def serve(settings: Any, token: str | None) -> int:
    from aiohttp import web

    from auxstream.ingest.server import KafkaRawProducer, create_ingest_app
    from auxstream.kafka_security import connect_failure

    producer = KafkaRawProducer(settings.bootstrap_servers, settings.kafka_security)
    try:
        await producer.start()
    except Exception as exc:  # aiokafka raises several kinds; all mean "no broker"
        with contextlib.suppress(Exception):
            await producer.stop()
        where = settings.bootstrap_servers
        generic = f"cannot reach the Kafka broker at {where} ({type(exc).__name__}: {exc})"
        why = await connect_failure(where, settings.kafka_security, exc, generic)
        print(f"auxstream ingest http: {why}", file=sys.stderr)
        return 2
    runner = web.AppRunner(create_ingest_app(settings, producer, token), access_log=None)
    await runner.setup()
    try:
        address = f"{settings.ingest_host}:{settings.ingest_port}"
        site = web.TCPSite(runner, settings.ingest_host, settings.ingest_port)
        try:
            await site.start()
        except OSError as exc:
            print(
                f"auxstream ingest http: cannot listen on {address}: {exc.strerror}",
                file=sys.stderr,
            )
            return 2
        topics = f"{settings.raw_topic_prefix}<vendor>"
        print(f"auxstream ingest http: listening on http://{address}, producing to {topics} "
              f"at {settings.bootstrap_servers}", file=sys.stderr)  # fmt: skip
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
        await producer.stop()
    return 0
