"""Simulated events and their canonical JSON lines (contract §1).

Events are built as small slotted objects and formatted once, when delivered, by a
per-agent ``LineFormat`` with cached timestamp prefixes: formatting is the hot path of a
million-event run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

import orjson


def dumps(obj: dict[str, Any]) -> bytes:
    """Compact JSON (orjson): no spaces, keys in insertion order."""
    return orjson.dumps(obj)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=64)
def _day(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")


@lru_cache(maxsize=4096)
def _minute(minute: int) -> str:
    day, rest = divmod(minute, 1440)
    return f"{_day(day)}T{rest // 60:02d}:{rest % 60:02d}:"


def wire_ts(ts: int, offset: bool = True) -> str:
    """RFC 3339 in UTC with a ``Z`` offset, as an ACD would send (``offset=False`` breaks it)."""
    minute, second = divmod(ts, 60)
    return f"{_minute(minute)}{second:02d}{'Z' if offset else ''}"


def output_ts(ts: int) -> str:
    """The contract's output timestamp form (§3): UTC, milliseconds, ``Z``; used in manifests."""
    return f"{wire_ts(ts, offset=False)}.000Z"


class SimEvent:
    """One agent state change as the simulator produces it, before delivery."""

    __slots__ = ("event_id", "reason_code", "seq", "ts", "type")

    def __init__(self, event_id: str, ts: int, type_: str, reason_code: str | None, seq: int):
        self.event_id = event_id
        """Deterministic ``sim-<seed>-<agent>-<seq>``."""
        self.ts = ts
        """Event time in whole seconds since the epoch."""
        self.type = type_
        """One of the contract's six event types."""
        self.reason_code = reason_code
        """Set for ``not_ready`` only."""
        self.seq = seq
        """Per-agent sequence number from 0, in event-time order."""


@lru_cache(maxsize=1024)
def json_str(text: str) -> str:
    """``text`` as a JSON string literal (quoted and escaped), cached: codes repeat."""
    return orjson.dumps(text).decode()


class LineFormat:
    """Formats one agent's events as canonical JSON lines (no trailing newline).

    Writes the same bytes as ``dumps`` of the event object would, but escapes the agent's
    constant fields once instead of building a dict per event. orjson also keeps a 4 KiB
    buffer behind every small result, which a batch of tens of thousands of lines would hold.
    """

    def __init__(self, agent_id: str, team: str, source: str) -> None:
        self._agent = json_str(agent_id)
        self._tail = f',"team":{json_str(team)},"source":{json_str(source)},"seq":'

    def line(self, event: SimEvent) -> bytes:
        """The event's JSON object; event ids and types are plain ASCII, so need no escaping."""
        code = event.reason_code
        reason = "" if code is None else f',"reason_code":{json_str(code)}'
        return (
            f'{{"event_id":"{event.event_id}","agent_id":{self._agent},"ts":"{wire_ts(event.ts)}",'
            f'"type":"{event.type}"{reason}{self._tail}{event.seq}}}'
        ).encode()


class Delivery(NamedTuple):
    """One line in an agent's delivery order; tuples sort by (key, agent_index, sub)."""

    key: int
    """Delivery position in time: the event time, or later for a late event."""
    agent_index: int
    """Breaks ties between agents deterministically."""
    sub: int
    """Per-agent counter; keeps the agent's own delivery order and makes keys unique."""
    line: bytes
    """The JSON line, without newline."""
    event_id: str
    agent_id: str
    ts: int
    """Event time of the line (seconds)."""
    fault: str | None
    """``swap`` or ``late`` when this line is part of a delivery fault, else None."""


class Message(NamedTuple):
    """One delivered line, ready for a file or a Kafka producer."""

    key: bytes | None
    """The Kafka message key: the agent id, None when the line has no agent."""
    value: bytes
    """The line as the consumer receives it (no trailing newline)."""
    ts: int
    """Event time in seconds since the epoch, for pacing a producer at a rate."""
