"""The six output records (contract §3), as written to Kafka topics and replay files.

``auxstream.records`` produces these on the hot path without pydantic; the models here say
what each field means and are what ``schemas/`` is generated from.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from auxstream.wire.types import (
    CODE_REQUIRED,
    DAY_PATTERN,
    OUTPUT_CONFIG,
    AgentId,
    Count,
    DeadLetterReason,
    EventId,
    ReasonCode,
    Rule,
    Seconds,
    Severity,
    State,
    Timestamp,
    when,
)


class SegmentRecord(BaseModel):
    """One closed stretch of time an agent spent in one logged-in state (and code)."""

    model_config = ConfigDict(
        **OUTPUT_CONFIG,
        json_schema_extra=when(
            "state", "not_ready", CODE_REQUIRED, {"properties": {"reason_code": {"type": "null"}}}
        ),
    )

    agent_id: AgentId
    """The agent the stretch belongs to."""
    team: str | None
    """The agent's team, department or campaign, if the ACD sent one."""
    state: State
    """What the agent was doing: ready, not_ready or on_contact (logged-out time has no segment)."""
    reason_code: ReasonCode | None
    """The not-ready code of the stretch; null for ready and on_contact."""
    start: Timestamp
    """When the stretch began (UTC)."""
    end: Timestamp
    """When the stretch ended (UTC)."""
    duration_s: Seconds
    """Length of the stretch in seconds, to the millisecond."""
    start_event_id: EventId | None
    """The event that began the stretch, to trace it back to the ACD."""
    end_event_id: EventId | None
    """The event that ended the stretch; null when no event of the agent's closed it."""

    @model_validator(mode="after")
    def _code_only_when_not_ready(self) -> Self:
        if (self.state == "not_ready") != (self.reason_code is not None):
            raise ValueError("reason_code is set exactly when state is not_ready")
        return self


class IntervalRecord(BaseModel):
    """An agent's time in one reporting interval (15 or 30 minutes), split by state and code.

    The seconds add up: logged_in_s = ready_s + on_contact_s + not_ready_s, and not_ready_s
    is the sum of not_ready_by_code (checked by the model; JSON Schema cannot add).
    Consumers keep the highest revision per (agent_id, interval_start).
    """

    model_config = OUTPUT_CONFIG

    agent_id: AgentId
    """The agent the interval belongs to."""
    team: str | None
    """The agent's team, department or campaign, if the ACD sent one."""
    interval_start: Timestamp
    """Start of the interval (UTC), aligned to the policy timezone's midnight."""
    interval_end: Timestamp
    """End of the interval (UTC)."""
    revision: Count
    """0 when first written; higher when a late-arriving event of the agent changed it."""
    logged_in_s: Seconds
    """Seconds the agent was logged in during the interval."""
    ready_s: Seconds
    """Seconds the agent was ready (available for contacts)."""
    on_contact_s: Seconds
    """Seconds the agent spent on contacts."""
    not_ready_s: Seconds
    """Seconds the agent was not ready, in any code."""
    not_ready_by_code: dict[ReasonCode, Seconds]
    """Seconds not ready per reason code; codes the agent did not use are left out."""

    @model_validator(mode="after")
    def _seconds_add_up(self) -> Self:
        half_ms = 0.0005
        if abs(self.ready_s + self.on_contact_s + self.not_ready_s - self.logged_in_s) > half_ms:
            raise ValueError("logged_in_s is not ready_s + on_contact_s + not_ready_s")
        if abs(sum(self.not_ready_by_code.values()) - self.not_ready_s) > half_ms:
            raise ValueError("not_ready_s is not the sum of not_ready_by_code")
        return self


class DurationRecord(BaseModel):
    """Rolling totals of one not-ready code for one agent, written when a stretch in it closes."""

    model_config = OUTPUT_CONFIG

    agent_id: AgentId
    """The agent the totals belong to."""
    team: str | None
    """The agent's team, department or campaign, if the ACD sent one."""
    day: Annotated[str, Field(pattern=DAY_PATTERN, json_schema_extra={"format": "date"})]
    """The local date (policy timezone) on which the stretch ended."""
    reason_code: ReasonCode
    """The not-ready code the totals are for."""
    today_s: Seconds
    """Seconds the agent spent in this code on that local day so far."""
    today_count: Annotated[int, Field(ge=1)]
    """How many stretches in this code ended on that local day, this one included."""
    last_hour_s: Seconds
    """Seconds in this code within the hour before as_of."""
    as_of: Timestamp
    """When the stretch ended (UTC): the moment the totals are true."""


class DetectionRecord(BaseModel):
    """A pattern worth a team leader's review; it describes what happened, never a verdict."""

    model_config = OUTPUT_CONFIG

    detection_id: Annotated[str, Field(min_length=1)]
    """Stable id: the same input always gives the same id, so repeats can be de-duplicated."""
    rule: Rule
    """Which policy rule was met."""
    agent_id: AgentId
    """The agent the detection is about."""
    team: str | None
    """The agent's team, department or campaign, if the ACD sent one."""
    ts: Timestamp
    """The event time at which the rule was met, e.g. the exact moment a limit was crossed."""
    severity: Severity
    """How urgently to look: info, warning or critical."""
    reason_code: ReasonCode | None
    """The not-ready code involved, if any (null e.g. for an agent stuck in ready)."""
    value: Annotated[float, Field(ge=0)]
    """What was measured: seconds for limits and stuck agents, a count for the window rules."""
    threshold: Annotated[float, Field(ge=0)]
    """The policy's threshold for the rule, in the same unit as value."""
    window_start: Timestamp
    """Start of the time the evidence covers (UTC)."""
    window_end: Timestamp
    """End of the time the evidence covers (UTC)."""
    evidence_event_ids: list[EventId]
    """The input events that met the rule, to look them up in the ACD."""
    message: Annotated[str, Field(min_length=1)]
    """One plain sentence a team leader can read."""
    policy_version: Annotated[str, Field(min_length=1)]
    """Which policy the detection was made under (an addition to the contract)."""


class CheckInRecord(BaseModel):
    """An agent selected a wellbeing (check-in) code: their team leader may want to reach out."""

    model_config = OUTPUT_CONFIG

    checkin_id: Annotated[str, Field(min_length=1)]
    """Stable id: the same input always gives the same id."""
    agent_id: AgentId
    """The agent who selected the code."""
    team: str | None
    """The agent's team, department or campaign, if the ACD sent one."""
    reason_code: ReasonCode
    """The check-in code selected, e.g. TIMEOUT."""
    ts: Timestamp
    """When the agent selected it (UTC)."""
    message: Annotated[str, Field(min_length=1)]
    """One plain sentence for the team leader."""


class DeadLetterRecord(BaseModel):
    """An input message that was not applied, kept with the reason so nothing is lost."""

    model_config = OUTPUT_CONFIG

    reason: DeadLetterReason
    """invalid (not a valid agent event) or late (older than what was applied for the agent)."""
    error: Annotated[str, Field(min_length=1)]
    """What was wrong, in plain text."""
    raw: Annotated[str, Field(max_length=65536)]
    """The original message as text, cut to 64 KiB."""
    source_topic: str | None
    """The Kafka topic it was read from; null in replay."""
    partition: Count | None
    """The Kafka partition it was read from; null in replay."""
    offset: Count | None
    """The Kafka offset, or the line number in a replay input."""
