"""Everything the core remembers about one agent between events.

One ``AgentState`` per agent is the whole unit of state: the Faust table stores one per
key and replay keeps one per agent in a dict, so memory grows with agents, not events.
Times are epoch milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Final

from auxstream.domain.events import AgentEvent

LOGGED_OUT: Final = "logged_out"
READY: Final = "ready"
NOT_READY: Final = "not_ready"
ON_CONTACT: Final = "on_contact"
STATES: Final = (LOGGED_OUT, READY, NOT_READY, ON_CONTACT)


@dataclass(slots=True)
class AgentState:
    """One agent's position in the state model plus the memory the rules need."""

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
    committed: int | None = None
    """Event time up to which the agent's own applied events fix its state."""
    last_key: tuple[int, int] | None = None
    """(ts, seq) of the newest applied event: anything older is late."""
    last_event_id: str | None = None
    advanced_to: int | None = None
    """How far the watermark has carried the agent past ``committed`` (provisional)."""
    held: list[AgentEvent] = field(default_factory=list)
    """Events accepted but waiting out the grace window, in event-time order."""
    seen: dict[str, int] = field(default_factory=dict)
    """event_id -> ts of accepted events, kept for at least 24 h of event time."""
    seen_pruned_at: int = 0
    seen_floor: int | None = field(default=None, compare=False)
    """No ``seen`` time is older than this (the oldest at the last pruning, or None when not
    known): spares the hourly pruning its scan while nothing can be old enough. A cache,
    left out of comparisons."""

    # The reporting interval being accumulated up to ``committed``.
    iv_start: int | None = None
    iv_ready: int = 0
    iv_contact: int = 0
    iv_not_ready: int = 0
    iv_codes: dict[str, int] = field(default_factory=dict)
    provisional: dict[int, int] = field(default_factory=dict)
    """interval_start -> revision of intervals the watermark closed past ``committed``."""

    # Per local day and code: [milliseconds, stretches ended]; the last two days only.
    days: dict[int, dict[str, list[int]]] = field(default_factory=dict)
    recent: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    """code -> closed stretches (start, end) ending within the last hour."""

    # Rule memory.
    occurrence_fired: bool = False
    daily_fired: set[tuple[int, str]] = field(default_factory=set)
    stuck_fired: bool = False
    switches: list[tuple[int, str]] = field(default_factory=list)
    after_contact_pending: bool = False
    after_contact: list[tuple[int, str]] = field(default_factory=list)
    short_stretches: list[tuple[int, str]] = field(default_factory=list)

    @property
    def logged_in(self) -> bool:
        return self.state != LOGGED_OUT

    def __reduce__(self) -> tuple[Any, tuple[str], dict[str, Any]]:
        """Pickle as the constructor plus a field dict: the same bytes whether the class is
        compiled by mypyc or not, so stored agent states move between compiled and pure
        workers (the stream keeps them in a changelog)."""
        return (AgentState, (self.agent_id,), {name: getattr(self, name) for name in _FIELDS})

    def __setstate__(self, state: Any) -> None:
        # Also reads states pickled before __reduce__ existed: (None, {slot: value}),
        # restored without __init__, so the fields they lack get their defaults first.
        if isinstance(state, tuple):
            state = state[1]
            AgentState.__init__(self, state["agent_id"])
        for name, value in state.items():
            setattr(self, name, value)


_FIELDS: Final = tuple(f.name for f in fields(AgentState))
