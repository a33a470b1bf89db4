"""The canonical agent event (contract §1) and its validation.

Validation is hand-written rather than a pydantic model because it runs once per input
message on the hot path; the JSON Schema in ``schemas/`` documents the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from auxstream.domain.timefmt import DAY_MS, TS_PARSED, TimestampError, parse_ts

LOGIN: Final = "login"
LOGOUT: Final = "logout"
READY: Final = "ready"
NOT_READY: Final = "not_ready"
CONTACT_START: Final = "contact_start"
CONTACT_END: Final = "contact_end"
EVENT_TYPES: Final = frozenset({LOGIN, LOGOUT, READY, NOT_READY, CONTACT_START, CONTACT_END})

MAX_ID_LEN: Final = 128
FUTURE_LIMIT_MS: Final = DAY_MS


_OPTIONAL_TEXT: Final = (str, type(None))

# Each type's constant by its text: a received type becomes the very object the core
# compares with, so those comparisons stop at the identity check.
_TYPE_OBJECTS: Final[dict[str, str]] = {kind: kind for kind in EVENT_TYPES}

_TEXTS: Final[dict[str, str]] = {}
"""Short text values (team, source, site, reason code) by themselves: one object per
distinct value, shared by every event that names it, instead of one per message. An event
is held for the grace window and its agent's state keeps its team and code, so a value
that is the same object is cheaper to compare and to drop. Cleared when full."""
_TEXTS_MAX: Final = 10_000
_TEXT_LEN_MAX: Final = 64


def _shared(value: str) -> str:
    """The shared object for ``value`` (itself if the value is long or new)."""
    shared = _TEXTS.get(value)
    if shared is not None:
        return shared
    if len(value) <= _TEXT_LEN_MAX:
        if len(_TEXTS) >= _TEXTS_MAX:
            _TEXTS.clear()
        _TEXTS[value] = value
    return value


class InvalidEvent(ValueError):
    """An input that is not a valid agent event; the message is the dead letter's error."""


@dataclass(slots=True, init=False)
class AgentEvent:
    """One agent state change as the ACD reported it, validated."""

    event_id: str
    """Unique per source; the de-duplication key."""
    agent_id: str
    """The agent whose state changed."""
    ts: int
    """Event time in epoch milliseconds (when the ACD saw the change)."""
    type: str
    """One of EVENT_TYPES."""
    reason_code: str | None = None
    """The not-ready reason code (required for not_ready, optional on login)."""
    team: str | None = None
    """Team, department or campaign; carried onto every output record."""
    site: str | None = None
    source: str | None = None
    seq: int | None = None
    """Optional per-agent sequence number from the ACD: orders events with equal ts."""

    def order_key(self) -> tuple[int, int]:
        return (self.ts, -1 if self.seq is None else self.seq)

    # The defaults only let ``AgentEvent.__new__(AgentEvent)`` work, which unpickling the
    # agent states stored before ``__reduce__`` existed needs when the class is compiled.
    def __init__(
        self,
        event_id: str = "",
        agent_id: str = "",
        ts: int = 0,
        type: str = "",
        reason_code: str | None = None,
        team: str | None = None,
        site: str | None = None,
        source: str | None = None,
        seq: int | None = None,
    ) -> None:
        self.event_id = event_id
        self.agent_id = agent_id
        self.ts = ts
        self.type = type
        self.reason_code = reason_code
        self.team = team
        self.site = site
        self.source = source
        self.seq = seq

    def __reduce__(self) -> tuple[Any, tuple[object, ...]]:
        """Pickle as a constructor call: the same bytes whether the class is compiled by
        mypyc or not, so stored agent states move between compiled and pure workers."""
        return (
            AgentEvent,
            (
                self.event_id,
                self.agent_id,
                self.ts,
                self.type,
                self.reason_code,
                self.team,
                self.site,
                self.source,
                self.seq,
            ),
        )

    def __setstate__(self, state: Any) -> None:
        # Events pickled before __reduce__ existed: (None, {slot: value}).
        if isinstance(state, tuple):
            state = state[1]
        for name, value in state.items():
            setattr(self, name, value)


def _text(obj: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise InvalidEvent(f"missing field {name!r}")
        return None
    if type(value) is not str:
        raise InvalidEvent(f"field {name!r} must be a string, got {type(value).__name__}")
    if required and not 0 < len(value) <= MAX_ID_LEN:
        raise InvalidEvent(f"field {name!r} must be 1-{MAX_ID_LEN} characters")
    return value


def event_from_dict(obj: Any, newest_ts: int | None = None) -> AgentEvent:
    """Validate a decoded JSON value as an agent event.

    ``newest_ts`` is the newest event time seen so far; an event more than 24 h beyond
    it is refused as a clock error on the ACD side rather than allowed to drag time ahead.
    """
    if type(obj) is not dict:
        raise InvalidEvent(f"event must be a JSON object, got {type(obj).__name__}")
    # Each check is tested inline for the valid case; _text is called only to raise its error.
    event_id = obj.get("event_id")
    if type(event_id) is not str or not 0 < len(event_id) <= MAX_ID_LEN:
        _text(obj, "event_id", required=True)
    agent_id = obj.get("agent_id")
    if type(agent_id) is not str or not 0 < len(agent_id) <= MAX_ID_LEN:
        _text(obj, "agent_id", required=True)
    raw_kind = obj.get("type")
    # A list or object is unhashable: only text is looked up.
    kind = _TYPE_OBJECTS.get(raw_kind) if type(raw_kind) is str else None
    if kind is None:
        if raw_kind is None:
            raise InvalidEvent("missing field 'type'")
        raise InvalidEvent(
            f"unknown type {raw_kind!r} (expected one of {', '.join(sorted(EVENT_TYPES))})"
        )
    raw_ts = obj.get("ts")
    if type(raw_ts) is not str:
        raise InvalidEvent(
            "missing field 'ts'" if raw_ts is None else "field 'ts' must be a string"
        )
    ts = TS_PARSED.get(raw_ts)  # parse_ts's memo, looked up inline (once per message)
    if ts is None:
        try:
            ts = parse_ts(raw_ts)
        except TimestampError as exc:
            raise InvalidEvent(str(exc)) from None
    if newest_ts is not None and ts > newest_ts + FUTURE_LIMIT_MS:
        raise InvalidEvent(f"ts {raw_ts} is more than 24 h after the newest event time seen")
    reason_code = obj.get("reason_code")
    if reason_code is not None and type(reason_code) is not str:
        _text(obj, "reason_code", required=False)
    if kind == NOT_READY and not reason_code:
        raise InvalidEvent("not_ready event has no reason_code")
    if reason_code == "":
        reason_code = None
    elif reason_code is not None:
        reason_code = _shared(reason_code)
    seq = obj.get("seq")
    if seq is not None and (type(seq) is not int or seq < 0):
        raise InvalidEvent("field 'seq' must be an integer >= 0 or null")
    assert event_id is not None and agent_id is not None  # noqa: S101 - narrows for mypy; required text is never None
    team = obj.get("team")
    site = obj.get("site")
    source = obj.get("source")
    # Optional text fields: checked one by one only when one of them is not plain text.
    if not (
        type(team) in _OPTIONAL_TEXT
        and type(site) in _OPTIONAL_TEXT
        and type(source) in _OPTIONAL_TEXT
    ):
        _text(obj, "team", required=False)
        _text(obj, "site", required=False)
        _text(obj, "source", required=False)
    if team is not None:
        team = _shared(team)
    if site is not None:
        site = _shared(site)
    if source is not None:
        source = _shared(source)
    return AgentEvent(event_id, agent_id, ts, kind, reason_code, team, site, source, seq)
