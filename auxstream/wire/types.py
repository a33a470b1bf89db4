"""Shared field types of the wire records: ids, timestamps, seconds, counts and enums.

The patterns are written with ``[0-9]`` rather than ``\\d`` so that JSON Schema validators
and pydantic (whose ``\\d`` matches any Unicode digit) accept exactly the same text.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

_DATE = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
_TIME = "[0-9]{2}:[0-9]{2}:[0-9]{2}"
# Input timestamps: RFC 3339 with an offset, in the forms the hot-path parser also accepts.
INPUT_TS_PATTERN = "^" + _DATE + "[T ]" + _TIME + r"(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
# Output timestamps: always UTC, always milliseconds, so they sort as text.
OUTPUT_TS_PATTERN = "^" + _DATE + "T" + _TIME + r"\.[0-9]{3}Z$"
DAY_PATTERN = "^" + _DATE + "$"

EventId = Annotated[str, Field(min_length=1, max_length=128)]
AgentId = Annotated[str, Field(min_length=1, max_length=128)]
ReasonCode = Annotated[str, Field(min_length=1)]
Timestamp = Annotated[
    str, Field(pattern=OUTPUT_TS_PATTERN, json_schema_extra={"format": "date-time"})
]
Seconds = Annotated[float, Field(ge=0)]
Count = Annotated[int, Field(ge=0)]

EventType = Literal["login", "logout", "ready", "not_ready", "contact_start", "contact_end"]
State = Literal["ready", "not_ready", "on_contact"]
Rule = Literal[
    "occurrence_limit",
    "daily_limit",
    "rapid_switching",
    "aux_after_contact",
    "short_aux",
    "stuck_state",
]
Severity = Literal["info", "warning", "critical"]
DeadLetterReason = Literal["invalid", "late"]

# Strict: a "12" is not a number and a 1 is not text, as in JSON Schema.
OUTPUT_CONFIG = ConfigDict(strict=True, extra="forbid", frozen=True, use_attribute_docstrings=True)


def when(
    field: str, value: str, then: dict[str, Any], otherwise: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A JSON Schema ``if/then(/else)`` on one enum field: rules that tie two fields together."""
    rule: dict[str, Any] = {
        "if": {"properties": {field: {"const": value}}, "required": [field]},
        "then": then,
    }
    if otherwise is not None:
        rule["else"] = otherwise
    return rule


CODE_REQUIRED = {
    "properties": {"reason_code": {"type": "string", "minLength": 1}},
    "required": ["reason_code"],
}
