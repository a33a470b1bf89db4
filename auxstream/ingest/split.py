"""A request body -> the raw records to produce, each keyed by its agent id (pure).

One record per Kafka message keeps an agent's records in order on one partition: a Twilio
form callback is one record; a JSON array (Event Streams batches, several notifications in
one POST) is split into its elements. A record the key cannot be found in is still produced,
unkeyed: the stream's adapter decides whether it is an event or a dead letter.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

import orjson

from auxstream.adapters.amazon_connect import agent_id_of

Keyed = tuple[bytes | None, bytes]
_GENESYS_USER = re.compile(r"^v2\.users\.([^.]+)\.")


class BadBody(ValueError):
    """A body that is not what the endpoint takes (answered 400, nothing produced)."""


def twilio_records(body: bytes, content_type: str) -> list[Keyed]:
    if content_type == "application/json":
        return [
            (_key(item, ("data", "payload", "worker_sid")), orjson.dumps(item))
            for item in _json_items(body)
        ]
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise BadBody("the body is not UTF-8 form data") from None
    worker = form.get("WorkerSid")
    return [(worker.encode() if worker else None, body)]


def genesys_records(body: bytes) -> list[Keyed]:
    records = []
    for item in _json_items(body):
        inner = item.get("detail", item) if isinstance(item, dict) else item
        topic = inner.get("topicName") if isinstance(inner, dict) else None
        match = _GENESYS_USER.match(topic) if isinstance(topic, str) else None
        records.append((match.group(1).encode() if match else None, orjson.dumps(item)))
    return records


def connect_records(body: bytes) -> list[Keyed]:
    records = []
    for item in _json_items(body):
        arn = item.get("AgentARN") if isinstance(item, dict) else None
        records.append(
            (
                agent_id_of(arn).encode() if isinstance(arn, str) and arn else None,
                orjson.dumps(item),
            )
        )
    return records


def _json_items(body: bytes) -> list[object]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadBody("the body is not JSON") from None
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items:
        raise BadBody("the body is an empty list")
    return items


def _key(item: object, path: tuple[str, ...]) -> bytes | None:
    for name in path:
        if not isinstance(item, dict):
            return None
        item = item.get(name)
    return item.encode() if isinstance(item, str) and item else None
