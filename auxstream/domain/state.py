"""Everything the core remembers about one agent between events.

One ``AgentState`` per agent is the whole unit of state: the Faust table stores one per
key and replay keeps one per agent in a dict, so memory grows with agents, not events.
Times are epoch milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Final

from auxstream.domain.events import AgentEvent
from auxstream.domain.seen import EventIds, new_event_ids

LOGGED_OUT: Final = "logged_out"
READY: Final = "ready"
NOT_READY: Final = "not_ready"
ON_CONTACT: Final = "on_contact"
STATES: Final = (LOGGED_OUT, READY, NOT_READY, ON_CONTACT)
NO_TIME: Final = -(1 << 60)
"""An event time before any: no event applied yet (a machine integer, unlike None)."""


@dataclass(slots=True)
class CodeTime:
    """One agent's closed time in one not-ready code: what its duration records report.

    One object per code, not tables keyed by day and code: a stretch closing (most
    events) then finds everything it updates with one lookup, and the totals are machine
    integers in the compiled core rather than boxed ones in lists. Two local days are
    kept, the code's newest and the one before it: a day's total is read only for the day
    the open stretch began or later, and an agent's stretches close in event-time order,
    so older days are never read again.
    """

    day: int = 0
    """The newest local day (days since 1970-01-01) with time in this code."""
    day_ms: int = 0
    day_count: int = 0
    """Stretches that ended on ``day``."""
    prior_day: int = 0
    prior_ms: int = 0
    prior_count: int = 0
    hour: list[int] = field(default_factory=list)
    """The stretches ending within the last hour, oldest first, flat: start, end, start,
    end... (a pair of integers, not a tuple, per stretch: one object fewer each)."""
    hour_ms: int = 0
    """The summed length of the ``hour`` stretches, kept as they come and go."""

    def ms_on(self, day: int) -> int:
        """Closed milliseconds on local ``day`` (0 for a day not kept)."""
        if day == self.day:
            return self.day_ms
        if day == self.prior_day:
            return self.prior_ms
        return 0

    def add(self, day: int, ms: int) -> None:
        """Count ``ms`` on local ``day``, the newest day so far or the one before it."""
        if day == self.day:
            self.day_ms += ms
        elif day > self.day:
            self.prior_day, self.prior_ms, self.prior_count = self.day, self.day_ms, self.day_count
            self.day, self.day_ms, self.day_count = day, ms, 0
        elif day == self.prior_day:
            self.prior_ms += ms
        # else a day older than both: never read again (see the class docstring).

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """The constructor and its arguments: the same pickle compiled or pure."""
        return (
            CodeTime,
            (
                self.day,
                self.day_ms,
                self.day_count,
                self.prior_day,
                self.prior_ms,
                self.prior_count,
                self.hour,
                self.hour_ms,
            ),
        )


@dataclass(slots=True)
class AgentState:
    """One agent's position in the state model plus the memory the rules need.

    The fields read with every event come first and the rarely read ones last: the
    compiled class lays them out in this order, and an event then touches fewer cache
    lines of a state that is usually no longer cached (1.7% less CPU in replay).
    """

    agent_id: str
    team: str | None = None
    """The newest team the agent's events named."""
    state: str = LOGGED_OUT
    reason_code: str | None = None
    since: int = 0
    """When the current stretch began (the event that opened it)."""
    since_event_id: str | None = None
    chosen: bool = False
    """The current not-ready stretch was chosen by the agent (evidence for window rules)."""

    # Ordering and de-duplication.
    committed: int = NO_TIME
    """Event time up to which the agent's own applied events fix its state (``NO_TIME``
    before the first: a machine integer, where None made a boxed one with every event).
    Stored as None then, as before."""
    last_ts: int = NO_TIME
    """(ts, order) of the newest applied event, as two machine integers (``order`` is its
    seq, -1 without one): anything older is late. ``NO_TIME`` before the first. Stored as
    the one ``last_key`` tuple (or None) they were before; kept apart here, because a
    tuple replaced with every event was an allocation and a free each."""
    last_order: int = -1

    last_event_id: str | None = None
    advanced_to: int = NO_TIME
    """How far the watermark has carried the agent past ``committed`` (provisional);
    ``NO_TIME`` when not past it (stored as None then)."""
    # Not the core's: where a driver's timer queue holds this agent (-1: nowhere), kept
    # here to spare the driver a lookup per event (replay's Replayer). Never stored.
    scheduled: int = field(default=-1, compare=False)
    held: list[AgentEvent] = field(default_factory=list)
    """Events accepted but waiting out the grace window, in event-time order."""
    seen: EventIds = field(default_factory=new_event_ids)
    """event_ids of accepted events in the order they were accepted, kept for at least
    24 h of event time: the pruning drops the oldest together (``seen.py``). Probed with
    almost every event; with thousands of agents most of a core's memory."""
    seen_pruned_at: int = 0

    # The reporting interval being accumulated up to ``committed``.
    iv_start: int = NO_TIME
    """Start of the interval being accumulated; ``NO_TIME`` while logged out between
    intervals (stored as None then)."""
    iv_ready: int = 0
    iv_contact: int = 0
    iv_not_ready: int = 0
    iv_codes: dict[str, int] = field(default_factory=dict)
    provisional: dict[int, int] = field(default_factory=dict)
    """interval_start -> revision of intervals the watermark closed past ``committed``."""

    by_code: dict[str, CodeTime] = field(default_factory=dict)
    """not-ready code -> its closed stretches' time (per local day and in the last hour)."""

    # Rule memory.
    occurrence_fired: bool = False
    stuck_fired: bool = False
    after_contact_pending: bool = False
    daily_fired: set[tuple[int, str]] = field(default_factory=set)
    switches: list[tuple[int, str]] = field(default_factory=list)
    after_contact: list[tuple[int, str]] = field(default_factory=list)
    short_stretches: list[tuple[int, str]] = field(default_factory=list)

    seen_marks: list[tuple[int, int]] = field(default_factory=list, compare=False)
    """One (ids accepted before it, the newest event time among them) per hourly pruning:
    once that time is older than the horizon the whole prefix can go."""

    @property
    def logged_in(self) -> bool:
        return self.state != LOGGED_OUT

    def __reduce__(self) -> tuple[Any, tuple[str], dict[str, Any]]:
        """Pickle as the constructor plus a field dict: the same bytes whether the class is
        compiled by mypyc or not, so stored agent states move between compiled and pure
        workers (the stream keeps them in a changelog). ``seen`` goes as ``seen_order``:
        one string, the ids joined by NUL, when no id holds a NUL (else their list); a
        day's ids are most of a state, and one string pickles about four times faster than
        a list of them (37 -> 25 µs a state)."""
        fields = {name: getattr(self, name) for name in _STORED}
        # Unset times are stored as None, as when they were optional integers.
        for name in _TIMES:
            if fields[name] == NO_TIME:
                fields[name] = None
        fields["last_key"] = None if self.last_ts == NO_TIME else (self.last_ts, self.last_order)
        seen = self.seen
        if len(seen):
            joined = seen.joined()
            fields["seen_order"] = joined if joined is not None else seen.ids()
        else:
            fields["seen_order"] = []
        return (AgentState, (self.agent_id,), fields)

    def __setstate__(self, state: Any) -> None:
        # Also reads states pickled before __reduce__ existed: (None, {slot: value}),
        # restored without __init__, so the fields they lack get their defaults first.
        if isinstance(state, tuple):
            state = state[1]
            AgentState.__init__(self, state["agent_id"])
        old_seen = None
        order: list[str] = []
        for name, value in state.items():
            if name == "seen":
                old_seen = value
            elif name == "seen_order":
                order = value.split(_ID_SEPARATOR) if isinstance(value, str) else value
            elif name in _TIMES:
                setattr(self, name, NO_TIME if value is None else value)
            elif name == "last_key":
                self.last_ts, self.last_order = (NO_TIME, -1) if value is None else value
            elif name in _FIELD_SET:
                setattr(self, name, value)
            # else a field of an older layout (seen_floor, days, recent): converted below.
        if isinstance(old_seen, dict):
            # An older layout kept event_id -> ts: the same ids, oldest first, one mark.
            ordered = sorted(old_seen.items(), key=lambda item: item[1])
            order = [event_id for event_id, _ in ordered]
            self.seen_marks = [(len(ordered), ordered[-1][1])] if ordered else []
        self.seen = new_event_ids(order)
        if "days" in state:
            # Format 2 and older: totals by day then code, and the last hour's stretches.
            self.by_code = _code_times(state["days"], state.get("recent", {}))


def _code_times(
    days: dict[int, dict[str, list[int]]], recent: dict[str, list[tuple[int, int]]]
) -> dict[str, CodeTime]:
    """The per-code form of an older state's ``days`` and ``recent`` tables."""
    by_code: dict[str, CodeTime] = {}
    for day in sorted(days):
        for code, (ms, count) in days[day].items():
            tally = by_code.get(code)
            if tally is None:
                tally = by_code[code] = CodeTime(day)
            tally.add(day, ms)
            tally.day_count += count
    for code, stretches in recent.items():
        tally = by_code.get(code)
        if tally is None:
            tally = by_code[code] = CodeTime()
        tally.hour = [moment for stretch in stretches for moment in stretch]
        tally.hour_ms = sum(end - start for start, end in stretches)
    return by_code


_ID_SEPARATOR: Final = "\x00"
_TIMES: Final = ("committed", "advanced_to", "iv_start")
"""Times kept as machine integers with ``NO_TIME`` for none, stored as None for none."""
_FIELDS: Final = tuple(f.name for f in fields(AgentState))
_FIELD_SET: Final = frozenset(_FIELDS)
_STORED: Final = tuple(
    name for name in _FIELDS if name not in ("seen", "scheduled", "last_ts", "last_order")
)
