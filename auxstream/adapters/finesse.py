"""Cisco Finesse user notifications (XML) -> canonical events.

The payload is ``<Update><event>put</event><source>/finesse/api/User/{id}</source><data>
<user>...</user></data></Update>`` (Finesse writes ``<user>`` or ``<User>``); from the user
object we read ``loginId``, ``state``, ``stateChangeTime``, ``reasonCodeId``,
``ReasonCode/code``, ``ReasonCode/label`` and ``teamName``.

States: READY is ready, NOT_READY a not-ready code, TALKING and HOLD a contact, WORK and
WORK_READY after-contact work (contact_end), LOGIN login, LOGOUT logout, RESERVED (ringing)
and anything with an empty ``stateChangeTime`` (a configuration change) nothing. The reason
code of NOT_READY is the mapping of its ``ReasonCode/label``, else of ``code``, else the label
itself. Finesse sends no event id: it is ``<loginId>:<state>:<reasonCodeId>:<stateChangeTime>``.

Parsed with the standard library; a DOCTYPE or entity declaration is refused before parsing
(the payload needs neither, and refusing them closes entity-expansion attacks).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from auxstream.adapters.base import (
    CONTACT_END,
    CONTACT_START,
    IGNORE,
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
)

SOURCE = "finesse"
DEFAULTS = {
    "READY": Target(READY),
    "TALKING": Target(CONTACT_START),
    "HOLD": Target(CONTACT_START),
    "WORK": Target(CONTACT_END),
    "WORK_READY": Target(CONTACT_END),
    "LOGIN": Target(LOGIN),
    "LOGOUT": Target(LOGOUT),
    "RESERVED": Target(IGNORE),
    "RESERVED_OUTBOUND": Target(IGNORE),
    "RESERVED_OUTBOUND_PREVIEW": Target(IGNORE),
    "UNKNOWN": Target(IGNORE),
}
MAX_XML_BYTES = 64 * 1024
_FORBIDDEN = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


class FinesseAdapter:
    """Converts one user notification; ``states`` maps states and NOT_READY reason labels."""

    source = SOURCE

    def __init__(self, states: StateMap | None = None) -> None:
        self.states = states or StateMap(DEFAULTS)

    def convert(self, record: bytes) -> list[dict[str, Any]]:
        if len(record) > MAX_XML_BYTES:
            raise AdapterError(f"notification larger than {MAX_XML_BYTES} bytes")
        if _FORBIDDEN.search(record):
            raise AdapterError("XML with a DOCTYPE or ENTITY declaration is refused")
        try:
            root = ET.fromstring(record)  # noqa: S314 - no DTD can reach here (checked above)
        except ET.ParseError as exc:
            raise AdapterError(f"not well-formed XML: {exc}") from None
        user = _user(root)
        if user is None:
            raise AdapterError("not a Finesse user notification (no Update/data/user)")
        if (root.findtext("event") or "put").strip().lower() == "delete":
            return []
        login_id = _child(user, "loginId")
        state = _child(user, "state")
        if not login_id or not state:
            raise AdapterError("user notification without loginId or state")
        changed = _child(user, "stateChangeTime")
        if not changed:
            return []  # a user update that is not a state change
        ts = iso_ts(changed, "stateChangeTime")
        team = _child(user, "teamName") or None
        reason_id = _child(user, "reasonCodeId")
        event_id = f"{login_id}:{state}:{reason_id or '-'}:{ts}"
        common: dict[str, Any] = {
            "event_id": event_id,
            "agent_id": login_id,
            "ts": ts,
            "source": SOURCE,
            "team": team,
        }
        if state == NOT_READY.upper():
            return self._not_ready(user, reason_id, common)
        if state == LOGOUT.upper():
            return [canonical(type=LOGOUT, **common)]
        return state_event(self.states.lookup(state), state, **common)

    def _not_ready(
        self, user: ET.Element, reason_id: str, common: dict[str, Any]
    ) -> list[dict[str, Any]]:
        reason = _find(user, "ReasonCode")
        label = _child(reason, "label") if reason is not None else ""
        code = _child(reason, "code") if reason is not None else ""
        for key in (label, code):
            if key:
                target = self.states.get(key)
                if target is not None:
                    return state_event(target, key, **common)
        name = (
            label
            or code
            or (f"NOT_READY_{reason_id}" if reason_id and reason_id != "-1" else "NOT_READY")
        )
        return state_event(self.states.lookup(name), name, **common)


def _find(node: ET.Element, name: str) -> ET.Element | None:
    for child in node:
        if child.tag.lower() == name.lower():
            return child
    return None


def _child(node: ET.Element, name: str) -> str:
    found = _find(node, name)
    return (found.text or "").strip() if found is not None else ""


def _user(root: ET.Element) -> ET.Element | None:
    if root.tag.lower() == "user":
        return root
    data = _find(root, "data")
    return _find(data, "user") if data is not None else None
