"""Replay's fast line builders write exactly the bytes of the dict converters plus a newline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from auxstream import records
from auxstream.domain.outputs import CheckIn, Detection, Duration, Interval, Segment
from auxstream.domain.timefmt import format_ts

from .test_schemas import checkins, detections, durations, intervals, segments

# Whole seconds and odd milliseconds, negative durations and times before 1970 included.
wide_ms = st.integers(-(10**12), 4 * 10**12)


@given(segments(), wide_ms, wide_ms)
def test_segment_line(rec: Segment, start: int, end: int) -> None:
    assert records.segment_line(rec) == records.dumps(records.segment(rec))
    rec.start, rec.end = start, end
    assert records.segment_line(rec) == records.dumps(records.segment(rec))


@given(intervals())
def test_interval_line(rec: Interval) -> None:
    assert records.interval_line(rec) == records.dumps(records.interval(rec))


@given(durations, wide_ms)
def test_duration_line(rec: Duration, ms: int) -> None:
    assert records.duration_line(rec) == records.dumps(records.duration(rec))
    rec.today_ms = rec.last_hour_ms = ms
    assert records.duration_line(rec) == records.dumps(records.duration(rec))


@given(detections)
def test_detection_line(rec: Detection) -> None:
    assert records.detection_line(rec) == records.dumps(records.detection(rec))


@given(checkins)
def test_checkin_line(rec: CheckIn) -> None:
    assert records.checkin_line(rec) == records.dumps(records.checkin(rec))


@given(st.integers(-62_135_596_800_000, 253_402_300_799_999))
def test_format_ts_is_strftime(ms: int) -> None:
    """format_ts works out the time of day itself; it must equal datetime's text."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    expected = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    assert format_ts(ms) == expected
