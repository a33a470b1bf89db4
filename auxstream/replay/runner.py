"""Drive the core over a sequence of input lines exactly as the stream would.

The watermark is the newest event time seen minus the grace window; at the end of the
input every held event is released and the watermark becomes the newest event time.
Agents are advanced only when something is due for them (a heap keyed by
``next_due``), so one event costs the same with 50 agents or 50,000.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final

import orjson

from auxstream import records
from auxstream.domain import engine, timeline
from auxstream.domain.calendar import calendar_for
from auxstream.domain.events import InvalidEvent, event_from_dict
from auxstream.domain.outputs import (
    APPLIED,
    INVALID,
    LATE,
    CheckIn,
    DeadLetter,
    Detection,
    Duration,
    Interval,
    Outcome,
    Output,
    Segment,
)
from auxstream.domain.policy import Policy
from auxstream.domain.state import AgentState
from auxstream.records import (
    checkin_line,
    detection_line,
    duration_line,
    interval_line,
    segment_line,
)

# kind name -> called with (sort key, JSON line)
Emit = Callable[[str, tuple[object, ...], bytes], None]
# called with one record of a kind: its first sort key (an event time in milliseconds), the
# rest of its sort key (the agent id, or a tuple of the agent id and one more key) and its
# JSON without a newline
Add = Callable[[int, Any, bytes], None]
RECORD_NAMES: Final = ("segments", "intervals", "durations", "detections", "checkins")
_NO_FIRST: Final = 1 << 60
_NO_LAST: Final = -(1 << 60)
"""The event-time range before any event: above and below every epoch millisecond."""


@dataclass
class ReplayStats:
    """What happened to the input and what came out; becomes summary.json."""

    lines: int = 0
    blank_lines: int = 0
    """Empty lines carry no message: counted and skipped, keeping line numbers right."""
    outcomes: Counter[str] = field(default_factory=Counter)
    records: Counter[str] = field(default_factory=Counter)
    detections: Counter[str] = field(default_factory=Counter)
    implicit_logins: int = 0
    unknown_codes: Counter[str] = field(default_factory=Counter)
    used_codes: Counter[str] = field(default_factory=Counter)
    agents: int = 0
    first_ts: int | None = None
    last_ts: int | None = None


def _json_error(line: bytes, exc: orjson.JSONDecodeError) -> orjson.JSONDecodeError:
    """The error for ``line`` without its newline: lines may be fed with or without it, and
    orjson's message (its position) can depend on the trailing whitespace."""
    if not line.endswith(b"\n"):
        return exc
    try:
        orjson.loads(line[:-1])
    except orjson.JSONDecodeError as bare:
        return bare
    return exc  # pragma: no cover - whitespace cannot make valid JSON invalid


def _unflatten(emit: Emit, name: str, first: float, rest: Any, line: bytes) -> None:
    key = (float(first), *rest) if isinstance(rest, tuple) else (float(first), rest)
    emit(name, key, line + b"\n")


class Replayer:
    """Feeds lines to the core and hands every output to ``emit`` as a wire JSON line
    (ending in a newline).

    ``sinks`` (record name -> ``add(first_key, rest_of_key, line)``) may replace ``emit``
    on the hot path: one direct call per record, with no key tuple, instead of a dispatch
    on the name.
    """

    def __init__(self, policy: Policy, emit: Emit, sinks: dict[str, Add] | None = None) -> None:
        self.policy = policy
        self.emit = emit
        self.states: dict[str, AgentState] = {}
        self.stats = ReplayStats()
        self._grace_ms = int(policy.grace_s * 1000)
        self._newest: int | None = None
        # (when, agent): the agents' next due moments; an entry whose moment is no longer
        # the agent's ``scheduled`` one is stale and skipped.
        self._due: list[tuple[int, str]] = []
        # engine.next_due without its calendar lookup (called once per line).
        self._cal = calendar_for(policy.timezone, policy.interval_minutes)
        add = (
            sinks
            if sinks is not None
            else {name: partial(_unflatten, emit, name) for name in RECORD_NAMES}
        )
        self._add_segment = add["segments"]
        self._add_interval = add["intervals"]
        self._add_duration = add["durations"]
        self._add_detection = add["detections"]
        self._add_checkin = add["checkins"]
        # Per-record counters as plain ints (a Counter update per record is measurable);
        # folded into ``stats.records`` by ``finish``.
        self._segments = self._intervals = self._durations = 0
        # Outcomes and codes counted in plain dicts (a Counter is a generic mapping to
        # compiled code), folded into ``stats`` by ``finish`` likewise.
        self._outcomes: dict[str, int] = {}
        self._used_codes: dict[str, int] = {}
        # The commonest outcome and the event-time range as machine integers: a boxed
        # count or time replaced per event is an allocation and a free each.
        self._applied = 0
        self._first_ts = _NO_FIRST
        self._last_ts = _NO_LAST

    def feed(self, lines: Iterable[bytes]) -> None:
        feed_line = self.feed_line
        for line in lines:
            feed_line(line)

    def feed_line(self, line: bytes) -> None:
        """One input line, with or without its trailing newline."""
        stats = self.stats
        stats.lines += 1
        offset = stats.lines
        # A line starting with "{" is not blank; only other lines pay for the copy in strip().
        if not line.startswith(b"{") and not line.strip():
            stats.blank_lines += 1
            return
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            self._dead_letter(INVALID, f"not JSON: {_json_error(line, exc)}", line, offset)
            return
        try:
            event = event_from_dict(obj, self._newest)
        except InvalidEvent as exc:
            self._dead_letter(INVALID, str(exc), line, offset)
            return
        state = self.states.get(event.agent_id)
        if state is None:
            state = self.states[event.agent_id] = engine.new_agent(event.agent_id)
        else:
            # The state's copy of the same text: the message's own copy is dropped now,
            # while it is in the cache, rather than when the held event is released.
            event.agent_id = state.agent_id
        _, outputs = engine.apply(state, event, self.policy)
        late = self._route(outputs)
        if late is not None:
            self._dead_letter(LATE, late, line, offset)
        # self._reschedule(state), written out: it runs once per line.
        at = timeline.next_due(state, self.policy, self._cal)
        if at is None:
            state.scheduled = -1
        elif state.scheduled != at:
            state.scheduled = at
            heapq.heappush(self._due, (at, state.agent_id))
        newest = self._newest
        if newest is None or event.ts > newest:
            self._newest = event.ts
            due = self._due
            if due and due[0][0] <= event.ts - self._grace_ms:
                self._advance_due(event.ts - self._grace_ms)

    def finish(self) -> None:
        """End of input: release every held event, then carry everyone to the newest time."""
        for agent_id in sorted(self.states):
            _, outputs = engine.release(self.states[agent_id], self.policy)
            self._route(outputs)
        if self._newest is not None:
            for agent_id in sorted(self.states):
                _, outputs = engine.advance(self.states[agent_id], self._newest, self.policy)
                self._route(outputs)
        self.stats.agents = len(self.states)
        counts = self.stats.records
        for name, count in (
            ("segments", self._segments),
            ("intervals", self._intervals),
            ("durations", self._durations),
        ):
            if count:
                counts[name] += count
        self._segments = self._intervals = self._durations = 0
        if self._applied:
            self.stats.outcomes[APPLIED] += self._applied
            self._applied = 0
        self.stats.outcomes.update(self._outcomes)
        self.stats.used_codes.update(self._used_codes)
        self._outcomes = {}
        self._used_codes = {}
        if self._first_ts <= self._last_ts:
            first, last = self.stats.first_ts, self.stats.last_ts
            self.stats.first_ts = self._first_ts if first is None else min(first, self._first_ts)
            self.stats.last_ts = self._last_ts if last is None else max(last, self._last_ts)
            self._first_ts, self._last_ts = _NO_FIRST, _NO_LAST

    def _advance_due(self, watermark: int) -> None:
        due = self._due
        while due and due[0][0] <= watermark:
            at, agent_id = heapq.heappop(due)
            state = self.states[agent_id]
            if state.scheduled != at:
                continue  # rescheduled since: a later entry stands for it
            state.scheduled = -1
            _, outputs = engine.advance(state, watermark, self.policy)
            self._route(outputs)
            self._reschedule(state)

    def _reschedule(self, state: AgentState) -> None:
        at = timeline.next_due(state, self.policy, self._cal)
        if at is None:
            state.scheduled = -1
        elif state.scheduled != at:
            state.scheduled = at
            heapq.heappush(self._due, (at, state.agent_id))

    def _dead_letter(self, reason: str, error: str, line: bytes, offset: int) -> None:
        if reason == INVALID:
            self.stats.outcomes[INVALID] += 1
        self.stats.records["deadletters"] += 1
        record = DeadLetter(
            reason, error, records.raw_text(line.rstrip(b"\r\n")), None, None, offset
        )
        self.emit("deadletters", (offset,), records.dumps(records.dead_letter(record)) + b"\n")

    def _route(self, outputs: list[Output]) -> str | None:
        """Write each output; return the error if the received event itself was late.

        The first key of every sink entry, an event time, goes as the integer; the files
        keep it as a double, exact for any epoch millisecond below 2**53 (the year 287,000),
        so the order is the integer order and compares as plain doubles (milliseconds are
        too large for Python's sort's single-digit integer fast path).

        Segments and durations sort by (end, agent_id) then the line: an agent closes at most
        one segment (and its duration) at one instant, since a second change at the same
        moment closes a zero-length stretch, which makes no record. So the start and the code
        that the canonical order names after the agent never decide, and are not carried.
        """
        late: str | None = None
        stats = self.stats
        outcomes = self._outcomes
        used_codes = self._used_codes
        for out in outputs:
            # Segments and outcomes are most of the outputs: tested first. isinstance (exact
            # types, no subclasses exist) both dispatches and narrows the type for mypy.
            if isinstance(out, Segment):
                self._add_segment(out.end, out.agent_id, segment_line(out))
                self._segments += 1
            elif isinstance(out, Outcome):
                outcome = out.outcome
                if outcome == APPLIED:
                    self._applied += 1
                else:
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
                    if outcome == LATE:
                        late = out.error
                        continue
                event = out.event
                ts = event.ts
                if ts < self._first_ts:
                    self._first_ts = ts
                if ts > self._last_ts:
                    self._last_ts = ts
                if out.implicit_login:
                    stats.implicit_logins += 1
                if out.unknown_code is not None:
                    stats.unknown_codes[out.unknown_code] += 1
                code = event.reason_code
                if code is not None:
                    used_codes[code] = used_codes.get(code, 0) + 1
            elif isinstance(out, Duration):
                self._add_duration(out.as_of, out.agent_id, duration_line(out))
                self._durations += 1
            elif isinstance(out, Interval):
                self._add_interval(
                    out.interval_start, (out.agent_id, out.revision), interval_line(out)
                )
                self._intervals += 1
            elif isinstance(out, Detection):
                stats.detections[out.rule] += 1
                stats.records["detections"] += 1
                self._add_detection(out.ts, (out.agent_id, out.rule), detection_line(out))
            elif isinstance(out, CheckIn):
                stats.records["checkins"] += 1
                self._add_checkin(out.ts, out.agent_id, checkin_line(out))
        return late
