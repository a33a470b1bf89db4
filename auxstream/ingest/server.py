"""The webhook receiver: vendors POST their events, we produce them raw to ``acd.raw.<vendor>``.

Endpoints: ``POST /twilio`` (``X-Twilio-Signature`` checked), ``POST /genesys`` and
``POST /connect`` (optional shared secret in ``X-Auxstream-Secret``), ``GET /health``.
Refused requests (403 bad signature or secret, 413 too large, 400 not the expected body)
produce nothing. An accepted request is answered 200 once Kafka has acknowledged its
records, or 503 when it does not within ``send_timeout_s`` (the vendor retries; a retry is
de-duplicated downstream by the vendor's event id). Error answers are one JSON line, never
a stack trace.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from aiohttp import web

from auxstream.ingest import signature
from auxstream.ingest.settings import IngestSettings
from auxstream.ingest.split import BadBody, Keyed, connect_records, genesys_records, twilio_records
from auxstream.kafka_security import PLAINTEXT, KafkaSecurity

log = logging.getLogger("auxstream.ingest")
SECRET_HEADER = "X-Auxstream-Secret"  # noqa: S105 - a header name, not a secret
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RawProducer(Protocol):
    """Sends records and returns once Kafka has acknowledged all of them."""

    async def send_all(self, topic: str, records: Sequence[Keyed]) -> None: ...


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def _no_tracebacks(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        return _error(exc.status, exc.reason)
    except Exception:
        log.exception("request to %s failed", request.path)
        return _error(500, "internal error")


def create_ingest_app(
    settings: IngestSettings, producer: RawProducer, twilio_token: str | None
) -> web.Application:
    """The aiohttp application; ``twilio_token`` None makes /twilio refuse every request."""
    app = web.Application(client_max_size=settings.max_body, middlewares=[_no_tracebacks])
    topic = settings.raw_topic_prefix

    async def read_body(request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > settings.max_body:
            raise web.HTTPRequestEntityTooLarge(
                max_size=settings.max_body, actual_size=request.content_length
            )
        return (
            await request.read()
        )  # aiohttp refuses past client_max_size (413) without a length too

    async def produce(vendor: str, records: Sequence[Keyed]) -> web.Response:
        try:
            await asyncio.wait_for(
                producer.send_all(f"{topic}{vendor}", records), settings.send_timeout_s
            )
        except TimeoutError:
            log.warning("Kafka did not acknowledge %d %s record(s) in time", len(records), vendor)
            return _error(503, "the event store is unavailable; retry later")
        return web.json_response({"accepted": len(records)})

    def signed_url(request: web.Request) -> str:
        if settings.public_url:
            return settings.public_url.rstrip("/") + request.rel_url.path_qs
        return str(request.url)

    async def twilio(request: web.Request) -> web.Response:
        body = await read_body(request)
        header = request.headers.get("X-Twilio-Signature")
        url = signed_url(request)
        json_body = request.content_type == "application/json"
        check = signature.valid_json_request if json_body else signature.valid_form_request
        if twilio_token is None or not check(twilio_token, url, body, header):
            return _error(403, "missing or invalid X-Twilio-Signature")
        try:
            records = twilio_records(body, request.content_type)
        except BadBody as exc:
            return _error(400, str(exc))
        return await produce("twilio", records)

    def json_endpoint(
        vendor: str, secret: str | None, split: Callable[[bytes], list[Keyed]]
    ) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            body = await read_body(request)
            if secret is not None and not hmac.compare_digest(
                request.headers.get(SECRET_HEADER, "").encode(), secret.encode()
            ):
                return _error(403, f"missing or wrong {SECRET_HEADER}")
            try:
                records = split(body)
            except BadBody as exc:
                return _error(400, str(exc))
            return await produce(vendor, records)

        return handler

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    def secret_of(value: Any) -> str | None:
        return None if value is None else str(value.get_secret_value()) or None

    app.router.add_post("/twilio", twilio)
    app.router.add_post(
        "/genesys", json_endpoint("genesys", secret_of(settings.genesys_secret), genesys_records)
    )
    app.router.add_post(
        "/connect",
        json_endpoint("amazon-connect", secret_of(settings.connect_secret), connect_records),
    )
    app.router.add_get("/health", health)
    return app


class KafkaRawProducer:
    """:class:`RawProducer` over aiokafka (acks=all: a 200 means the records are stored)."""

    def __init__(self, bootstrap_servers: str, security: KafkaSecurity = PLAINTEXT) -> None:
        from aiokafka import AIOKafkaProducer

        self.bootstrap_servers = bootstrap_servers
        self.security = security
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            acks="all",
            linger_ms=5,
            **security.client_options(),
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send_all(self, topic: str, records: Sequence[Keyed]) -> None:
        futures = [await self._producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
