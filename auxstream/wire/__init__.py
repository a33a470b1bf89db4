"""Wire records as pydantic models: what travels on Kafka and in replay files, documented.

Separate from the domain types (``auxstream.domain``): the core speaks epoch milliseconds,
the wire speaks the contract's JSON. Every field carries a one-line docstring that becomes
its description in ``schemas/`` (``python -m auxstream.schemas``).
"""

from auxstream.wire.event import AgentEventRecord
from auxstream.wire.outputs import (
    CheckInRecord,
    DeadLetterRecord,
    DetectionRecord,
    DurationRecord,
    IntervalRecord,
    SegmentRecord,
)
from auxstream.wire.summary import (
    DetectionCounts,
    EventCounts,
    EventTime,
    RecordCounts,
    ReplaySummary,
)

__all__ = [
    "AgentEventRecord",
    "CheckInRecord",
    "DeadLetterRecord",
    "DetectionCounts",
    "DetectionRecord",
    "DurationRecord",
    "EventCounts",
    "EventTime",
    "IntervalRecord",
    "RecordCounts",
    "ReplaySummary",
    "SegmentRecord",
]
