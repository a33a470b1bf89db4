"""The input record: one agent event as the ACD sends it (contract §1).

The processor validates events by hand on the hot path (``auxstream.domain.events``); this
model states the same rules for producers, and a test checks the two agree on the samples.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from auxstream.wire.types import (
    CODE_REQUIRED,
    INPUT_TS_PATTERN,
    AgentId,
    EventId,
    EventType,
    when,
)


class AgentEventRecord(BaseModel):
    """One agent state change as the ACD reports it (contract §1), one per message or line.

    Unknown extra fields are ignored. An event more than 24 h after the newest event time
    seen is also refused, which no schema of a single message can express.
    """

    model_config = ConfigDict(
        strict=True,
        extra="ignore",
        frozen=True,
        use_attribute_docstrings=True,
        json_schema_extra={
            "additionalProperties": True,
            **when("type", "not_ready", CODE_REQUIRED),
        },
    )

    event_id: EventId
    """Unique per source system; a repeated id for the same agent is counted as a duplicate."""
    agent_id: AgentId
    """The agent whose state changed, as the ACD identifies them; also the Kafka message key."""
    ts: Annotated[str, Field(pattern=INPUT_TS_PATTERN)]
    """When the ACD saw the change (RFC 3339 with Z or +hh:mm; a time with no offset is refused)."""
    type: EventType
    """What happened: login, logout, ready, not_ready, contact_start or contact_end."""
    reason_code: str | None = None
    """The not-ready (AUX) code the agent chose; required for not_ready, optional on login."""
    team: str | None = None
    """Team, department or campaign; copied onto every output record about this agent."""
    site: str | None = None
    """The site or centre the agent works from; informational."""
    source: str | None = None
    """Which ACD or adapter sent the event; informational."""
    seq: Annotated[int, Field(ge=0)] | None = None
    """The ACD's per-agent sequence number; orders events that share the same ts."""

    @model_validator(mode="after")
    def _not_ready_has_code(self) -> Self:
        if self.type == "not_ready" and not self.reason_code:
            raise ValueError("a not_ready event needs a reason_code")
        return self
