"""Twilio TaskRouter events -> canonical events.

Two shapes of the same events are accepted:

* the Workspace ``EventCallbackUrl`` webhook: a form-encoded POST body with ``EventType``,
  ``Sid`` (the event's sid), ``Timestamp`` (epoch seconds), ``TimestampMs``, ``WorkerSid``,
  ``WorkerActivityName``, ``WorkerAttributes``...
* Event Streams CloudEvents (JSON, one object or the array a webhook sink posts):
  ``type`` ``com.twilio.taskrouter.worker.activity.update`` with ``data.payload`` holding the
  same fields in snake case (``worker_sid``, ``worker_activity_name``, ``timestamp``, ``sid``).

``worker.activity.update`` -> the mapped activity (``Available`` is ready, ``Offline`` is
logout, every other activity a not-ready code). ``reservation.accepted`` -> contact_start,
``reservation.wrapup`` -> contact_end (after-contact work), ``reservation.completed`` ->
contact_end too (a no-op when wrap-up was already reported; the end of the contact when it
was not). Every other event type is ignored. The event's sid (``Sid``/``EventSid``, or the
CloudEvent's ``id``) is the event id, so a retried callback is de-duplicated. The team is the
worker attribute ``team_name`` (as Flex sets it) when present.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson

from auxstream.adapters.base import (
    CONTACT_END,
    CONTACT_START,
    LOGOUT,
    READY,
    AdapterError,
    StateMap,
    Target,
    canonical,
    iso_ts,
    ms_ts,
    state_event,
)

SOURCE = "twilio"
DEFAULTS = {"Available": Target(READY), "Offline": Target(LOGOUT)}
"""TaskRouter pre-creates Offline, Unavailable and Available; only two have a fixed meaning."""

_CONTACT_EVENTS = {
    "reservation.accepted": CONTACT_START,
    "reservation.wrapup": CONTACT_END,
    "reservation.completed": CONTACT_END,
}
_CLOUDEVENT_PREFIX = "com.twilio.taskrouter."


class TwilioAdapter:
    """Converts one TaskRouter callback body (form or JSON) into canonical events."""

    source = SOURCE

    def __init__(self, states: StateMap | None = None) -> None:
        self.states = states or StateMap(DEFAULTS)

    def convert(self, record: bytes) -> list[dict[str, Any]]:
        body = record.strip()
        if body[:1] in (b"{", b"["):
            return self._cloudevents(body)
        try:
            form = dict(
                parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
            )
        except (UnicodeDecodeError, ValueError):
            raise AdapterError("neither JSON nor a form-encoded TaskRouter callback") from None
        return self.convert_fields(_form_fields(form))

    def _cloudevents(self, body: bytes) -> list[dict[str, Any]]:
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise AdapterError(f"not JSON: {exc}") from None
        items = obj if isinstance(obj, list) else [obj]
        events: list[dict[str, Any]] = []
        for item in items:
            events.extend(self.convert_fields(_cloudevent_fields(item)))
        return events

    def convert_fields(self, fields: dict[str, Any]) -> list[dict[str, Any]]:
        """Shape-independent fields: event_type, event_id, ts, worker, activity, team."""
        kind = fields["event_type"]
        if kind != "worker.activity.update" and kind not in _CONTACT_EVENTS:
            return []
        event_id, worker, ts = fields["event_id"], fields["worker"], fields["ts"]
        if not event_id:
            raise AdapterError(f"{kind}: no event sid (Sid/EventSid)")
        if not worker:
            raise AdapterError(f"{kind}: no WorkerSid")
        common = {
            "event_id": event_id,
            "agent_id": worker,
            "ts": ts,
            "source": SOURCE,
            "team": fields["team"],
        }
        if kind in _CONTACT_EVENTS:
            return [canonical(type=_CONTACT_EVENTS[kind], **common)]
        activity = fields["activity"]
        if not activity:
            raise AdapterError("worker.activity.update: no WorkerActivityName")
        return state_event(self.states.lookup(activity), activity, **common)


def _form_fields(form: dict[str, str]) -> dict[str, Any]:
    kind = form.get("EventType")
    if not kind:
        raise AdapterError("TaskRouter callback without EventType")
    if form.get("TimestampMs"):
        ts = ms_ts(form["TimestampMs"], "TimestampMs")
    elif form.get("Timestamp", "").isdigit():
        ts = ms_ts(int(form["Timestamp"]) * 1000, "Timestamp")
    else:
        raise AdapterError(f"{kind}: no Timestamp or TimestampMs")
    return {
        "event_type": kind,
        "event_id": form.get("Sid") or form.get("EventSid"),
        "ts": ts,
        "worker": form.get("WorkerSid"),
        "activity": form.get("WorkerActivityName"),
        "team": _team(form.get("WorkerAttributes")),
    }


def _cloudevent_fields(item: object) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise AdapterError("a CloudEvent must be a JSON object")
    kind = item.get("type")
    if not isinstance(kind, str) or not kind.startswith(_CLOUDEVENT_PREFIX):
        raise AdapterError(f"not a TaskRouter CloudEvent (type {kind!r})")
    data = item.get("data")
    payload = data.get("payload") if isinstance(data, dict) else None
    if not isinstance(payload, dict):
        raise AdapterError(f"{kind}: no data.payload object")
    if isinstance(payload.get("timestamp_ms"), int):
        ts = ms_ts(payload["timestamp_ms"], "timestamp_ms")
    else:
        ts = iso_ts(payload.get("timestamp"), "data.payload.timestamp")
    return {
        "event_type": kind.removeprefix(_CLOUDEVENT_PREFIX),
        "event_id": payload.get("sid") or item.get("id"),
        "ts": ts,
        "worker": payload.get("worker_sid"),
        "activity": payload.get("worker_activity_name"),
        "team": _team(payload.get("worker_attributes")),
    }


def _team(attributes: object) -> str | None:
    """``team_name`` from the worker's attributes (a JSON string in both shapes)."""
    if not isinstance(attributes, str) or not attributes.startswith("{"):
        return None
    try:
        parsed = orjson.loads(attributes)
    except orjson.JSONDecodeError:
        return None
    team = parsed.get("team_name") if isinstance(parsed, dict) else None
    return team if isinstance(team, str) and team else None
