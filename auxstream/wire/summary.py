"""summary.json of ``auxstream replay``: counts a person checks after a replay."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from auxstream.wire.types import OUTPUT_CONFIG, Count, ReasonCode, Seconds, Timestamp


class EventCounts(BaseModel):
    """How the input events ended; every non-blank line ends as exactly one of these."""

    model_config = OUTPUT_CONFIG

    applied: Count
    """Events that changed an agent's state."""
    noop: Count
    """Valid, in-order events that left state and code as they were (closed nothing)."""
    duplicate: Count
    """Events whose event_id was already seen for the agent; not applied."""
    late: Count
    """Events older than what was already applied for the agent; dead letters."""
    invalid: Count
    """Lines that were not a valid agent event; dead letters."""
    total: Count
    """All of the above."""


class RecordCounts(BaseModel):
    """How many records were written to each output file."""

    model_config = OUTPUT_CONFIG

    segments: Count
    """Lines in segments.jsonl."""
    intervals: Count
    """Lines in intervals.jsonl."""
    durations: Count
    """Lines in durations.jsonl."""
    detections: Count
    """Lines in detections.jsonl."""
    checkins: Count
    """Lines in checkins.jsonl."""
    deadletters: Count
    """Lines in deadletters.jsonl."""


class DetectionCounts(BaseModel):
    """How many detections each rule raised."""

    model_config = OUTPUT_CONFIG

    occurrence_limit: Count
    """One stretch in a code longer than the code's limit."""
    daily_limit: Count
    """An agent's daily total in a code past the code's daily limit."""
    rapid_switching: Count
    """Many agent-chosen code changes in a short window."""
    aux_after_contact: Count
    """Repeatedly going from a contact into another code without being ready."""
    short_aux: Count
    """Many very short agent-chosen not-ready stretches."""
    stuck_state: Count
    """Logged-in agents with no event for a long time."""


class EventTime(BaseModel):
    """The span of event time the input covered."""

    model_config = OUTPUT_CONFIG

    first: Timestamp | None
    """The earliest valid event time seen (UTC); null when there was none."""
    last: Timestamp | None
    """The newest valid event time seen (UTC); null when there was none."""


class ReplaySummary(BaseModel):
    """summary.json of ``auxstream replay``: what went in, how it ended, and what came out."""

    model_config = OUTPUT_CONFIG

    input: str
    """The input file as named on the command line (- for standard input)."""
    policy_version: Annotated[str, Field(min_length=1)]
    """Which policy the replay ran under."""
    lines: Count
    """Input lines read, blank ones included."""
    blank_lines: Count
    """Empty lines, skipped."""
    agents: Count
    """Distinct agents seen."""
    events: EventCounts
    """Input events by outcome."""
    implicit_logins: Count
    """Agents logged in because an event other than login arrived while logged out."""
    unknown_codes: dict[ReasonCode, Count]
    """Codes used in events but missing from the policy, with how often they were used."""
    records: RecordCounts
    """Output records by file."""
    detections: DetectionCounts
    """Detections by rule."""
    event_time: EventTime
    """The span of event time covered."""
    elapsed_s: Seconds
    """Wall-clock seconds the replay took."""
    events_per_s: Count | None
    """Input lines per wall-clock second; null when too fast to measure."""
