"""What every vendor adapter shares: the refusal, the state mapping and the canonical event.

An adapter is pure: ``convert(record) -> list[canonical event dict]`` or :class:`AdapterError`.
No clock, no I/O. The canonical dicts are contract §1 events; they still go through
``event_from_dict`` in the engine, so an adapter never has to be the last line of defence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auxstream.domain.events import (
    CONTACT_END,
    CONTACT_START,
    EVENT_TYPES,
    LOGIN,
    LOGOUT,
    MAX_ID_LEN,
    NOT_READY,
    READY,
)
from auxstream.domain.timefmt import TimestampError, format_ts, parse_ts

IGNORE = "ignore"
"""A mapping target that produces no event (e.g. a ringing state)."""
TARGET_TYPES = frozenset(EVENT_TYPES | {IGNORE})

__all__ = [
    "CONTACT_END",
    "CONTACT_START",
    "IGNORE",
    "LOGIN",
    "LOGOUT",
    "NOT_READY",
    "READY",
    "AdapterError",
    "StateMap",
    "Target",
    "canonical",
    "iso_ts",
    "ms_ts",
]


class AdapterError(ValueError):
    """A vendor record the adapter refuses; the message is the dead letter's error."""


@dataclass(frozen=True, slots=True)
class Target:
    """What one vendor status name becomes."""

    type: str
    """A canonical event type, or ``ignore``."""
    reason_code: str | None = None
    """The reason code of a not_ready (or login) event; None keeps the vendor's name."""


class StateMap:
    """Vendor status name -> :class:`Target`: the policy's ``adapters:`` over built-in defaults.

    Built-in defaults cover only what a state *means* to the ACD (available, offline, on a
    contact). A name found in neither is kept as its own not-ready reason code and counted in
    :attr:`unmapped`, so a new custom status shows up in the summary instead of vanishing.
    """

    def __init__(
        self, defaults: Mapping[str, Target], overrides: Mapping[str, Target] | None = None
    ) -> None:
        self._table = {**defaults, **(overrides or {})}
        self.unmapped: Counter[str] = Counter()

    def get(self, name: str) -> Target | None:
        """The mapped target, or None (without counting) when the name is not mapped."""
        return self._table.get(name)

    def lookup(self, name: str) -> Target:
        """The target for ``name``; an unmapped name becomes not_ready in its own code (counted)."""
        found = self._table.get(name)
        if found is not None:
            return found
        self.unmapped[name] += 1
        return Target(NOT_READY, name)


def text(obj: Mapping[str, Any], name: str, what: str) -> str:
    """A required non-empty string field of a vendor record."""
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise AdapterError(f"{what}: missing or empty {name}")
    return value


def iso_ts(value: object, name: str) -> str:
    """A vendor's ISO 8601 timestamp with offset, as the canonical UTC text."""
    if not isinstance(value, str):
        raise AdapterError(f"missing or non-text timestamp {name}")
    try:
        return format_ts(parse_ts(value))
    except TimestampError as exc:
        raise AdapterError(f"{name}: {exc}") from None


def ms_ts(value: object, name: str) -> str:
    """Epoch milliseconds (a number or its digits) as the canonical UTC text."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise AdapterError(f"{name} is not epoch milliseconds: {value!r}")
    return format_ts(value)


def canonical(
    *,
    event_id: str,
    agent_id: str,
    ts: str,
    type: str,
    source: str,
    reason_code: str | None = None,
    team: str | None = None,
) -> dict[str, Any]:
    """One contract §1 event; ids longer than the contract allows are refused, not cut."""
    if not 0 < len(event_id) <= MAX_ID_LEN:
        raise AdapterError(f"event id {event_id[:40]!r}... is longer than {MAX_ID_LEN} characters")
    if not 0 < len(agent_id) <= MAX_ID_LEN:
        raise AdapterError(f"agent id {agent_id[:40]!r}... is longer than {MAX_ID_LEN} characters")
    event: dict[str, Any] = {
        "event_id": event_id,
        "agent_id": agent_id,
        "ts": ts,
        "type": type,
        "source": source,
    }
    if reason_code is not None and type in (NOT_READY, LOGIN):
        event["reason_code"] = reason_code
    if team:
        event["team"] = team
    return event


def state_event(
    target: Target,
    name: str,
    *,
    event_id: str,
    agent_id: str,
    ts: str,
    source: str,
    team: str | None,
) -> list[dict[str, Any]]:
    """The event a mapped status gives: none for ``ignore``; not_ready keeps the name as code."""
    if target.type == IGNORE:
        return []
    reason = target.reason_code
    if target.type == NOT_READY and reason is None:
        reason = name
    return [
        canonical(
            event_id=event_id,
            agent_id=agent_id,
            ts=ts,
            type=target.type,
            source=source,
            reason_code=reason,
            team=team,
        )
    ]
