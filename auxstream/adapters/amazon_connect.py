"""Amazon Connect agent event stream (one Kinesis record, JSON) -> canonical events.

Field names as in the AWS "Agent event streams data model": ``EventId``, ``EventType``
(LOGIN, LOGOUT, STATE_CHANGE, HEART_BEAT), ``EventTimestamp``, ``AgentARN``,
``CurrentAgentSnapshot`` / ``PreviousAgentSnapshot`` with ``AgentStatus.Name`` /
``StartTimestamp``, ``Configuration.AgentHierarchyGroups`` and ``Contacts[]`` (``ContactId``,
``State``, ``StateStartTimestamp``).

Connect sends whole snapshots, not changes, so one record is diffed against its own
``PreviousAgentSnapshot``:

* a contact that reaches CONNECTED -> ``contact_start`` at its ``StateStartTimestamp``;
* a contact that reaches ENDED (after-contact work: Connect has no ACW event) -> ``contact_end``,
  which the engine turns into the policy's ``after_contact_code``;
* a contact that disappears (the agent cleared it) ends after-contact work: the agent is back
  in their status, so the status is emitted at ``EventTimestamp``;
* an ``AgentStatus`` change -> the mapped event at the status's ``StartTimestamp`` (held back
  while a contact is connected, and emitted when the contact is cleared).

HEART_BEAT and a STATE_CHANGE that only changes configuration produce nothing. Event ids are
``EventId`` plus a suffix for the part of the record (``:status``, ``:<ContactId>:start``...),
so a re-delivered record gives the same ids and is de-duplicated. The agent id is the last
path segment of ``AgentARN`` (the agent's user id in the instance); an ARN without ``/`` is
used whole.
"""

from __future__ import annotations

from typing import Any

import orjson

from auxstream.adapters.base import (
    CONTACT_END,
    CONTACT_START,
    LOGIN,
    LOGOUT,
    NOT_READY,
    READY,
    AdapterError,
    StateMap,
    Target,
    canonical,
    iso_ts,
    state_event,
    text,
)

SOURCE = "amazon-connect"
DEFAULTS = {
    "Available": Target(READY),
    "Offline": Target(LOGOUT),
}
"""Connect's two built-in statuses; every custom status is a not-ready code unless mapped."""

_ON_CONTACT = frozenset({"CONNECTED", "CONNECTED_ONHOLD"})
_LEVELS = ("Level5", "Level4", "Level3", "Level2", "Level1")


def agent_id_of(arn: str) -> str:
    """``arn:aws:connect:...:instance/<instance id>/agent/<agent id>`` -> ``<agent id>``."""
    return arn.rsplit("/", 1)[-1] or arn


class AmazonConnectAdapter:
    """Converts one agent event stream record; ``states`` maps status names."""

    source = SOURCE

    def __init__(self, states: StateMap | None = None) -> None:
        self.states = states or StateMap(DEFAULTS)

    def convert(self, record: bytes) -> list[dict[str, Any]]:
        try:
            obj = orjson.loads(record)
        except orjson.JSONDecodeError as exc:
            raise AdapterError(f"not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise AdapterError("an agent event stream record must be a JSON object")
        return self.convert_record(obj)

    def convert_record(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        kind = text(obj, "EventType", "agent event")
        if kind == "HEART_BEAT":
            return []
        if kind not in ("LOGIN", "LOGOUT", "STATE_CHANGE"):
            raise AdapterError(f"unknown EventType {kind!r}")
        event_id = text(obj, "EventId", kind)
        agent_id = agent_id_of(text(obj, "AgentARN", kind))
        at = iso_ts(obj.get("EventTimestamp"), "EventTimestamp")
        current = _snapshot(obj, "CurrentAgentSnapshot", required=kind != "LOGOUT")
        team = _team(current)
        common: dict[str, Any] = {"agent_id": agent_id, "source": SOURCE, "team": team}
        if kind == "LOGOUT":
            return [canonical(event_id=event_id, ts=at, type=LOGOUT, **common)]
        status = _status(current, "CurrentAgentSnapshot")
        if kind == "LOGIN":
            target = self.states.lookup(status[0])
            if target.type in (READY, NOT_READY):
                reason = (target.reason_code or status[0]) if target.type == NOT_READY else None
                return [
                    canonical(event_id=event_id, ts=at, type=LOGIN, reason_code=reason, **common)
                ]
            return []  # logged in to the CCP but Offline: not logged in for the ACD
        previous = _snapshot(obj, "PreviousAgentSnapshot", required=False)
        return self._state_change(event_id, at, current, previous, common)

    def _state_change(
        self,
        event_id: str,
        at: str,
        current: dict[str, Any],
        previous: dict[str, Any],
        common: dict[str, Any],
    ) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        now, before = _contacts(current), _contacts(previous)
        cleared = False
        for contact_id, (state, since) in now.items():
            old = before.get(contact_id, (None, None))[0]
            if state in _ON_CONTACT and old not in _ON_CONTACT:
                events.append(
                    canonical(
                        event_id=f"{event_id}:{contact_id}:start",
                        ts=since,
                        type=CONTACT_START,
                        **common,
                    )
                )
            elif state == "ENDED" and old != "ENDED":
                if old not in _ON_CONTACT:  # connected and ended between two records
                    events.append(
                        canonical(
                            event_id=f"{event_id}:{contact_id}:start",
                            ts=since,
                            type=CONTACT_START,
                            **common,
                        )
                    )
                events.append(
                    canonical(
                        event_id=f"{event_id}:{contact_id}:end",
                        ts=since,
                        type=CONTACT_END,
                        **common,
                    )
                )
        for contact_id, (old, _since) in before.items():
            if contact_id not in now:
                if old in _ON_CONTACT:  # ended and cleared between two records
                    events.append(
                        canonical(
                            event_id=f"{event_id}:{contact_id}:end",
                            ts=at,
                            type=CONTACT_END,
                            **common,
                        )
                    )
                cleared = True
        if any(state in _ON_CONTACT for state, _ in now.values()):
            return events  # a status chosen during a contact applies once the contact is cleared
        name, started = _status(current, "CurrentAgentSnapshot")
        old_status = (
            _status(previous, "PreviousAgentSnapshot") if previous.get("AgentStatus") else None
        )
        changed = old_status is None or old_status != (name, started)
        if changed or cleared:
            target = self.states.lookup(name)
            ts = max(started, at) if cleared and not changed else started
            events.extend(state_event(target, name, event_id=f"{event_id}:status", ts=ts, **common))
        return events


def _snapshot(obj: dict[str, Any], name: str, *, required: bool) -> dict[str, Any]:
    snapshot = obj.get(name)
    if snapshot is None and not required:
        return {}
    if not isinstance(snapshot, dict):
        raise AdapterError(f"{name} is missing or not an object")
    return snapshot


def _status(snapshot: dict[str, Any], where: str) -> tuple[str, str]:
    status = snapshot.get("AgentStatus")
    if not isinstance(status, dict):
        raise AdapterError(f"{where}.AgentStatus is missing or not an object")
    name = text(status, "Name", f"{where}.AgentStatus")
    return name, iso_ts(status.get("StartTimestamp"), f"{where}.AgentStatus.StartTimestamp")


def _contacts(snapshot: dict[str, Any]) -> dict[str, tuple[str, str]]:
    contacts = snapshot.get("Contacts") or []
    if not isinstance(contacts, list):
        raise AdapterError("Contacts is not a list")
    found: dict[str, tuple[str, str]] = {}
    for contact in contacts:
        if not isinstance(contact, dict):
            raise AdapterError("a Contacts entry is not an object")
        contact_id = text(contact, "ContactId", "contact")
        state = text(contact, "State", f"contact {contact_id}")
        found[contact_id] = (
            state,
            iso_ts(contact.get("StateStartTimestamp"), "StateStartTimestamp"),
        )
    return found


def _team(snapshot: dict[str, Any]) -> str | None:
    """The deepest agent hierarchy level's name: the agent's team in most Connect set-ups."""
    groups = (snapshot.get("Configuration") or {}).get("AgentHierarchyGroups") or {}
    if not isinstance(groups, dict):
        return None
    for level in _LEVELS:
        group = groups.get(level)
        if isinstance(group, dict) and isinstance(group.get("Name"), str):
            return str(group["Name"])
    return None
