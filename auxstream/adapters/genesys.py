"""Genesys Cloud user notifications -> canonical events.

A notification is ``{"topicName": "v2.users.{id}.<topic>", "version", "eventBody", "metadata"}``
(also accepted wrapped in an Amazon EventBridge envelope, under ``detail``). Three topics:

* ``routingStatus``: ``eventBody.routingStatus.status`` / ``startTime``. IDLE is ready,
  INTERACTING and COMMUNICATING are a contact, NOT_RESPONDING a not-ready code; OFF_QUEUE
  gives nothing (the presence says why the agent is off queue).
* ``presence``: ``eventBody.presenceDefinition.id`` / ``systemPresence`` and ``modifiedDate``.
  Offline is logout; On Queue gives nothing (the routing status that comes with it says
  ready or interacting); any other presence is not ready. The reason code is the mapping of
  the presence definition's id (a secondary presence such as "Coaching" under Busy), else of
  the system presence, else the system presence itself (BREAK, MEAL, ...).
* ``activity``: both in one body (``routingStatus``, ``presence``): routing status while on
  queue, the presence otherwise.

Genesys notifications carry no event id, so the id is derived from what identifies the
change: ``<user id>:<topic>:<status>:<start time>``; a re-delivered notification gives the
same id. Genesys reports after-call work inside INTERACTING, so contacts include wrap-up.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from auxstream.adapters.base import (
    CONTACT_START,
    IGNORE,
    LOGOUT,
    NOT_READY,
    READY,
    AdapterError,
    StateMap,
    Target,
    iso_ts,
    state_event,
)

SOURCE = "genesys"
DEFAULTS = {
    "IDLE": Target(READY),
    "INTERACTING": Target(CONTACT_START),
    "COMMUNICATING": Target(CONTACT_START),
    "NOT_RESPONDING": Target(NOT_READY, "NOT_RESPONDING"),
    "OFF_QUEUE": Target(IGNORE),
    "OFFLINE": Target(LOGOUT),
    "ON_QUEUE": Target(IGNORE),
}
_TOPIC = re.compile(r"^v2\.users\.([^.]+)\.(activity|routingStatus|presence)$")


def _system(name: str) -> str:
    """``On Queue`` / ``ON_QUEUE`` / ``on queue`` -> ``ON_QUEUE`` (Genesys spells it both ways)."""
    return name.strip().upper().replace(" ", "_")


class GenesysAdapter:
    """Converts one notification; ``states`` maps routing statuses, presences and presence ids."""

    source = SOURCE

    def __init__(self, states: StateMap | None = None) -> None:
        self.states = states or StateMap(DEFAULTS)

    def convert(self, record: bytes) -> list[dict[str, Any]]:
        try:
            obj = orjson.loads(record)
        except orjson.JSONDecodeError as exc:
            raise AdapterError(f"not JSON: {exc}") from None
        if isinstance(obj, dict) and isinstance(obj.get("detail"), dict) and "topicName" not in obj:
            obj = obj["detail"]  # EventBridge envelope
        if not isinstance(obj, dict):
            raise AdapterError("a notification must be a JSON object")
        topic = obj.get("topicName")
        if topic == "channel.metadata":
            return []  # the notification channel's own heartbeat
        match = _TOPIC.match(topic) if isinstance(topic, str) else None
        if match is None:
            raise AdapterError(
                f"unsupported topicName {topic!r} "
                "(expected v2.users.{id}.activity, .routingStatus or .presence)"
            )
        user, kind = match.groups()
        body = obj.get("eventBody")
        if not isinstance(body, dict):
            raise AdapterError(f"{topic}: eventBody is missing or not an object")
        if kind == "routingStatus":
            return self._routing(user, body.get("routingStatus"))
        if kind == "presence":
            return self._presence(user, body)
        presence = body.get("presence")
        if isinstance(presence, dict) and _system(_presence_names(presence)[1]) == "ON_QUEUE":
            return self._routing(user, body.get("routingStatus"), "activity")
        if isinstance(presence, dict):
            return self._presence(user, presence, "activity")
        return self._routing(user, body.get("routingStatus"), "activity")

    def _routing(
        self, user: str, routing: object, topic: str = "routingStatus"
    ) -> list[dict[str, Any]]:
        if not isinstance(routing, dict) or not isinstance(routing.get("status"), str):
            raise AdapterError(f"v2.users.{user}.{topic}: no routingStatus.status")
        status = routing["status"]
        ts = iso_ts(routing.get("startTime"), "routingStatus.startTime")
        event_id = f"{user}:{topic}:{status}:{ts}"
        return state_event(
            self.states.lookup(status),
            status,
            event_id=event_id,
            agent_id=user,
            ts=ts,
            source=SOURCE,
            team=None,
        )

    def _presence(
        self, user: str, presence: dict[str, Any], topic: str = "presence"
    ) -> list[dict[str, Any]]:
        definition_id, system = _presence_names(presence)
        ts = iso_ts(presence.get("modifiedDate"), "presence.modifiedDate")
        target = self.states.get(definition_id) if definition_id else None
        if target is None:
            target = self.states.get(system) or self.states.get(_system(system))
        name = _system(system)
        if target is None:  # counted as unmapped under both names it could be mapped by
            target = self.states.lookup(f"{name} ({definition_id})" if definition_id else name)
            target = Target(target.type, name)  # ...and known by its system presence
        event_id = f"{user}:{topic}:{definition_id or name}:{ts}"
        return state_event(
            target, name, event_id=event_id, agent_id=user, ts=ts, source=SOURCE, team=None
        )


def _presence_names(presence: dict[str, Any]) -> tuple[str, str]:
    definition = presence.get("presenceDefinition")
    if not isinstance(definition, dict) or not isinstance(definition.get("systemPresence"), str):
        raise AdapterError("no presenceDefinition.systemPresence")
    definition_id = definition.get("id")
    return (definition_id if isinstance(definition_id, str) else ""), definition["systemPresence"]
