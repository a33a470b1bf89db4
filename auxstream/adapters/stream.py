"""Faust agents that turn raw vendor topics (``acd.raw.<vendor>``) into canonical events.

One agent per configured vendor reads its raw topic, converts each record with the vendor's
adapter and sends every canonical event to the input topic keyed by agent id, where the
worker's own agent applies it as any other event. A record the adapter refuses becomes a
dead letter (``invalid``, the adapter's reason, the raw text, topic, partition and offset).

Configured vendors are those named in the policy file's ``adapters:`` section (``csv`` is a
file format, never a topic); ``AUXSTREAM_RAW_TOPIC_PREFIX`` (default ``acd.raw.``) is shared
with ``auxstream ingest http``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from auxstream import records
from auxstream.adapters import VENDORS, Adapter, AdapterError, Target, make_adapter, policy_targets
from auxstream.domain.outputs import INVALID, DeadLetter
from auxstream.stream.counts import Counts

log = logging.getLogger("auxstream.adapters")

STREAM_VENDORS = tuple(v for v in VENDORS if v != "csv")
"""Vendors whose records arrive on a topic."""

Outbound = tuple[str, bytes | None, bytes]
"""(``input`` or ``deadletters``, key, value)."""


def adapt_message(
    adapter: Adapter,
    value: bytes | None,
    key: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    counts: Counts | None = None,
) -> list[Outbound]:
    """One raw message -> what to send (pure: the agent below only sends it).

    A refused record is counted in ``counts`` (the worker's metrics) as an invalid input of
    unknown type and a dead letter, exactly as an invalid canonical event is: it never
    reaches the input topic, so nothing else would count it.
    """
    try:
        events = adapter.convert(value or b"")
    except AdapterError as exc:
        letter = DeadLetter(
            INVALID, f"{adapter.source}: {exc}", records.raw_text(value), topic, partition, offset
        )
        if counts is not None:
            counts.event("unknown", INVALID)
            counts.dead_letter(INVALID)
        return [("deadletters", key, records.dumps(records.dead_letter(letter)))]
    return [("input", str(event["agent_id"]).encode(), orjson.dumps(event)) for event in events]


def configured_vendors(settings: Any) -> dict[str, dict[str, Target]]:
    """Vendor -> its policy mapping, for the vendors named in the policy's ``adapters:``."""
    if settings.policy is None:
        return {}
    from auxstream.policy.loader import load_policy_file

    policy_file = load_policy_file(settings.policy)
    return {v: policy_targets(policy_file, v) for v in policy_file.adapters if v in STREAM_VENDORS}


def register_vendor_agents(
    app: Any,
    settings: Any,
    vendors: Mapping[str, Mapping[str, Target]] | Sequence[str] | None = None,
    raw_topic_prefix: str | None = None,
    counts: Counts | None = None,
) -> dict[str, Any]:
    """Add one agent per vendor to the Faust ``app``; returns vendor -> agent.

    ``vendors`` defaults to :func:`configured_vendors`; a plain list of names uses each
    adapter's defaults. ``raw_topic_prefix`` defaults to the ``AUXSTREAM_RAW_TOPIC_PREFIX`` setting.
    ``counts`` are the worker's counters, so refused vendor records show in its metrics.
    """
    if vendors is None:
        vendors = configured_vendors(settings)
    mappings: dict[str, Mapping[str, Target]] = (
        dict(vendors) if isinstance(vendors, Mapping) else {v: {} for v in vendors}
    )
    if not mappings:
        return {}
    if raw_topic_prefix is None:
        from auxstream.ingest.settings import IngestSettings

        raw_topic_prefix = IngestSettings().raw_topic_prefix
    unknown = sorted(set(mappings) - set(STREAM_VENDORS))
    if unknown:
        raise ValueError(
            f"no stream adapter for {', '.join(unknown)}; expected {', '.join(STREAM_VENDORS)}"
        )
    targets = {
        "input": app.topic(settings.input_topic, key_serializer="raw", value_serializer="raw"),
        "deadletters": app.topic(
            settings.deadletters_topic, key_serializer="raw", value_serializer="raw"
        ),
    }
    return {
        vendor: _register(
            app,
            vendor,
            make_adapter(vendor, mapping),
            f"{raw_topic_prefix}{vendor}",
            targets,
            counts,
        )
        for vendor, mapping in mappings.items()
    }


def _register(
    app: Any,
    vendor: str,
    adapter: Adapter,
    raw_topic: str,
    targets: dict[str, Any],
    counts: Counts | None,
) -> Any:
    source = app.topic(raw_topic, key_serializer="raw", value_serializer="raw")

    unmapped = adapter.states.unmapped

    async def adapt(stream: Any) -> None:
        """Raw vendor records: convert, send each canonical event (or the dead letter)."""
        async for event in stream.events():
            message = event.message
            known = len(unmapped)
            for kind, key, value in adapt_message(
                adapter,
                event.value,
                event.key,
                message.topic,
                message.partition,
                message.offset,
                counts,
            ):
                if kind == "deadletters":
                    log.warning("%s: refused %s[%d]@%d (dead letter)", vendor, message.topic,
                                message.partition, message.offset)  # fmt: skip
                await targets[kind].send(key=key, value=value)
            if len(unmapped) > known:  # a status name seen for the first time
                log.warning("%s: %r is not in the policy's adapters mapping; kept as its own code",
                            vendor, list(unmapped)[-1])  # fmt: skip

    adapt.__name__ = f"adapt_{vendor.replace('-', '_')}"
    return app.agent(source, name=f"adapt-{vendor}")(adapt)
