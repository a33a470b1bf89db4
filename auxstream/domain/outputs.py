"""What the core produces: plain values, sent or written by the shell.

Times are epoch milliseconds and durations whole milliseconds; the wire layer
(``auxstream.records``) turns them into the contract's JSON (UTC text, seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from auxstream.domain.events import AgentEvent

APPLIED: Final = "applied"
NOOP: Final = "noop"
DUPLICATE: Final = "duplicate"
LATE: Final = "late"
INVALID: Final = "invalid"


@dataclass(slots=True, init=False)
class Segment:
    """One closed stretch of a logged-in state."""

    agent_id: str
    team: str | None
    state: str
    reason_code: str | None
    start: int
    end: int
    start_event_id: str | None
    end_event_id: str | None

    def __init__(
        self,
        agent_id: str,
        team: str | None,
        state: str,
        reason_code: str | None,
        start: int,
        end: int,
        start_event_id: str | None,
        end_event_id: str | None,
    ) -> None:
        self.agent_id = agent_id
        self.team = team
        self.state = state
        self.reason_code = reason_code
        self.start = start
        self.end = end
        self.start_event_id = start_event_id
        self.end_event_id = end_event_id


@dataclass(slots=True, init=False)
class Interval:
    """An agent's time in one reporting interval, split by state and code."""

    agent_id: str
    team: str | None
    interval_start: int
    interval_end: int
    revision: int
    ready_ms: int
    on_contact_ms: int
    not_ready_ms: int
    not_ready_by_code: dict[str, int]

    def __init__(
        self,
        agent_id: str,
        team: str | None,
        interval_start: int,
        interval_end: int,
        revision: int,
        ready_ms: int,
        on_contact_ms: int,
        not_ready_ms: int,
        not_ready_by_code: dict[str, int],
    ) -> None:
        self.agent_id = agent_id
        self.team = team
        self.interval_start = interval_start
        self.interval_end = interval_end
        self.revision = revision
        self.ready_ms = ready_ms
        self.on_contact_ms = on_contact_ms
        self.not_ready_ms = not_ready_ms
        self.not_ready_by_code = not_ready_by_code


@dataclass(slots=True, init=False)
class Duration:
    """Rolling totals of one code, emitted when a not-ready stretch closes."""

    agent_id: str
    team: str | None
    day: str
    reason_code: str
    today_ms: int
    today_count: int
    last_hour_ms: int
    as_of: int

    def __init__(
        self,
        agent_id: str,
        team: str | None,
        day: str,
        reason_code: str,
        today_ms: int,
        today_count: int,
        last_hour_ms: int,
        as_of: int,
    ) -> None:
        self.agent_id = agent_id
        self.team = team
        self.day = day
        self.reason_code = reason_code
        self.today_ms = today_ms
        self.today_count = today_count
        self.last_hour_ms = last_hour_ms
        self.as_of = as_of


@dataclass(slots=True)
class Detection:
    """A pattern worth a team leader's review; never a verdict on the person."""

    detection_id: str
    rule: str
    agent_id: str
    team: str | None
    ts: int
    severity: str
    reason_code: str | None
    value: float
    threshold: float
    window_start: int
    window_end: int
    evidence_event_ids: list[str]
    message: str
    policy_version: str


@dataclass(slots=True, init=False)
class CheckIn:
    """An agent selected a wellbeing code: a team leader should reach out."""

    checkin_id: str
    agent_id: str
    team: str | None
    reason_code: str
    ts: int
    message: str

    def __init__(
        self,
        checkin_id: str,
        agent_id: str,
        team: str | None,
        reason_code: str,
        ts: int,
        message: str,
    ) -> None:
        self.checkin_id = checkin_id
        self.agent_id = agent_id
        self.team = team
        self.reason_code = reason_code
        self.ts = ts
        self.message = message


@dataclass(slots=True, init=False)
class Outcome:
    """How one input event ended, for counters and summaries.

    ``late`` outcomes also become dead letters: the shell holds the raw message.
    """

    event: AgentEvent
    outcome: str
    error: str | None = None
    implicit_login: bool = False
    unknown_code: str | None = None

    def __init__(
        self,
        event: AgentEvent,
        outcome: str,
        error: str | None = None,
        implicit_login: bool = False,
        unknown_code: str | None = None,
    ) -> None:
        self.event = event
        self.outcome = outcome
        self.error = error
        self.implicit_login = implicit_login
        self.unknown_code = unknown_code


@dataclass(slots=True)
class DeadLetter:
    """An input that was not applied, kept with the reason so nothing is lost."""

    reason: str
    error: str
    raw: str
    source_topic: str | None = None
    partition: int | None = None
    offset: int | None = None


Output = Segment | Interval | Duration | Detection | CheckIn | Outcome
