"""Wire records: the contract's JSON for every output, converted in this one place.

The core speaks milliseconds and epoch times; the wire speaks UTC text with a ``Z`` and
seconds rounded to the millisecond. Replay files and Kafka topics carry the same bytes.
The pydantic models in :mod:`auxstream.schemas` document the same fields and generate
``schemas/``; this module is the fast path that produces them.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from auxstream.domain.outputs import CheckIn, DeadLetter, Detection, Duration, Interval, Segment
from auxstream.domain.timefmt import TS_TEXT, format_ts, seconds

RAW_LIMIT: Final = 64 * 1024


def segment(rec: Segment) -> dict[str, Any]:
    return {
        "agent_id": rec.agent_id,
        "team": rec.team,
        "state": rec.state,
        "reason_code": rec.reason_code,
        "start": format_ts(rec.start),
        "end": format_ts(rec.end),
        "duration_s": seconds(rec.end - rec.start),
        "start_event_id": rec.start_event_id,
        "end_event_id": rec.end_event_id,
    }


def interval(rec: Interval) -> dict[str, Any]:
    return {
        "agent_id": rec.agent_id,
        "team": rec.team,
        "interval_start": format_ts(rec.interval_start),
        "interval_end": format_ts(rec.interval_end),
        "revision": rec.revision,
        "logged_in_s": seconds(rec.ready_ms + rec.on_contact_ms + rec.not_ready_ms),
        "ready_s": seconds(rec.ready_ms),
        "on_contact_s": seconds(rec.on_contact_ms),
        "not_ready_s": seconds(rec.not_ready_ms),
        "not_ready_by_code": {
            code: seconds(ms) for code, ms in sorted(rec.not_ready_by_code.items())
        },
    }


def duration(rec: Duration) -> dict[str, Any]:
    return {
        "agent_id": rec.agent_id,
        "team": rec.team,
        "day": rec.day,
        "reason_code": rec.reason_code,
        "today_s": seconds(rec.today_ms),
        "today_count": rec.today_count,
        "last_hour_s": seconds(rec.last_hour_ms),
        "as_of": format_ts(rec.as_of),
    }


def detection(rec: Detection) -> dict[str, Any]:
    return {
        "detection_id": rec.detection_id,
        "rule": rec.rule,
        "agent_id": rec.agent_id,
        "team": rec.team,
        "ts": format_ts(rec.ts),
        "severity": rec.severity,
        "reason_code": rec.reason_code,
        "value": rec.value,
        "threshold": rec.threshold,
        "window_start": format_ts(rec.window_start),
        "window_end": format_ts(rec.window_end),
        "evidence_event_ids": rec.evidence_event_ids,
        "message": rec.message,
        "policy_version": rec.policy_version,
    }


def checkin(rec: CheckIn) -> dict[str, Any]:
    return {
        "checkin_id": rec.checkin_id,
        "agent_id": rec.agent_id,
        "team": rec.team,
        "reason_code": rec.reason_code,
        "ts": format_ts(rec.ts),
        "message": rec.message,
    }


def dead_letter(rec: DeadLetter) -> dict[str, Any]:
    return {
        "reason": rec.reason,
        "error": rec.error,
        "raw": rec.raw,
        "source_topic": rec.source_topic,
        "partition": rec.partition,
        "offset": rec.offset,
    }


def raw_text(raw: bytes | str | None) -> str:
    """The original message as text for a dead letter, cut to 64 KiB."""
    if raw is None:
        return ""
    data = raw.encode("utf-8", errors="replace") if isinstance(raw, str) else raw
    return data[:RAW_LIMIT].decode("utf-8", errors="replace")


# Output kind -> (record name, converter); the record name is also the replay file stem.
KINDS: Final[dict[type, tuple[str, Any]]] = {
    Segment: ("segments", segment),
    Interval: ("intervals", interval),
    Duration: ("durations", duration),
    Detection: ("detections", detection),
    CheckIn: ("checkins", checkin),
    DeadLetter: ("deadletters", dead_letter),
}


def dumps(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record)


# ---------------------------------------------------------------- fast lines for replay
#
# The converters above return dicts (the stream, the tests and the schema checks use them).
# Replay writes about 1.5 records per event, so these build the same dict inline, saving a
# function call and most of the timestamp formatting per record (``TS_TEXT`` is format_ts's
# own memo). Each must give exactly ``dumps(converter(rec))``;
# tests/unit/test_records_fast.py checks it. ``ms / 1000`` is ``seconds(ms)``: true division
# of an exact multiple of 1000 is exact. There is no newline: the output file writes one
# after each line as it copies it (concatenating one here copied every line once more).

_dumps: Final = orjson.dumps


def segment_line(rec: Segment) -> bytes:
    start = rec.start
    end = rec.end
    return _dumps({
        "agent_id": rec.agent_id,
        "team": rec.team,
        "state": rec.state,
        "reason_code": rec.reason_code,
        "start": TS_TEXT.get(start) or format_ts(start),
        "end": TS_TEXT.get(end) or format_ts(end),
        "duration_s": (end - start) / 1000,
        "start_event_id": rec.start_event_id,
        "end_event_id": rec.end_event_id,
    })  # fmt: skip


def interval_line(rec: Interval) -> bytes:
    ready = rec.ready_ms
    contact = rec.on_contact_ms
    not_ready = rec.not_ready_ms
    codes = rec.not_ready_by_code
    start = rec.interval_start
    end = rec.interval_end
    return _dumps({
        "agent_id": rec.agent_id,
        "team": rec.team,
        "interval_start": TS_TEXT.get(start) or format_ts(start),
        "interval_end": TS_TEXT.get(end) or format_ts(end),
        "revision": rec.revision,
        "logged_in_s": (ready + contact + not_ready) / 1000,
        "ready_s": ready / 1000,
        "on_contact_s": contact / 1000,
        "not_ready_s": not_ready / 1000,
        "not_ready_by_code": {code: codes[code] / 1000 for code in sorted(codes)} if len(codes) > 1
        else {code: ms / 1000 for code, ms in codes.items()},
    })  # fmt: skip


def duration_line(rec: Duration) -> bytes:
    as_of = rec.as_of
    return _dumps({
        "agent_id": rec.agent_id,
        "team": rec.team,
        "day": rec.day,
        "reason_code": rec.reason_code,
        "today_s": rec.today_ms / 1000,
        "today_count": rec.today_count,
        "last_hour_s": rec.last_hour_ms / 1000,
        "as_of": TS_TEXT.get(as_of) or format_ts(as_of),
    })  # fmt: skip


def detection_line(rec: Detection) -> bytes:
    return _dumps(detection(rec))


def checkin_line(rec: CheckIn) -> bytes:
    return _dumps(checkin(rec))
