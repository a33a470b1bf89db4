"""Intervals aligned to local midnight, local days across midnight and DST, rolling durations."""

from __future__ import annotations

from typing import Any

import pytest

from auxstream.domain.timefmt import format_ts, parse_ts
from tests.unit.engine_support import ev, policy, replay


def _event(kind: str, ts: str, code: str | None = None, agent: str = "A1") -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": f"{agent}-{kind}-{ts}",
        "agent_id": agent,
        "ts": ts,
        "type": kind,
    }
    if code:
        event["reason_code"] = code
    return event


def _check_sums(interval: dict[str, Any]) -> None:
    ms = lambda s: round(s * 1000)  # noqa: E731
    assert ms(interval["logged_in_s"]) == ms(interval["ready_s"]) + ms(
        interval["on_contact_s"]
    ) + ms(interval["not_ready_s"])
    assert ms(interval["not_ready_s"]) == sum(ms(v) for v in interval["not_ready_by_code"].values())


def test_segment_crossing_boundaries_is_split_and_sums_are_exact() -> None:
    run = replay(
        [
            ev("login", 0),
            ev("not_ready", 800.123, code="BREAK"),
            ev("ready", 1000.5),
            ev("contact_start", 1799.999),
            ev("contact_end", 1900),
            ev("ready", 1950),
            ev("logout", 2700),
        ]
    )
    assert [i["interval_start"][11:16] for i in run.intervals] == ["08:00", "08:15", "08:30"]
    first, second, third = run.intervals
    assert first["not_ready_by_code"] == {"BREAK": 99.877} and first["ready_s"] == 800.123
    assert second["not_ready_by_code"] == {"BREAK": 100.5} and second["on_contact_s"] == 0.001
    assert third["on_contact_s"] == 100 and third["not_ready_by_code"] == {"ACW": 50}
    for interval in run.intervals:
        _check_sums(interval)
        assert interval["logged_in_s"] == 900 and interval["revision"] == 0


def test_interval_ending_after_the_final_watermark_is_not_emitted() -> None:
    run = replay([ev("login", 100), ev("logout", 400)])
    assert run.intervals == []


def test_partial_interval_after_logout_is_emitted_with_logged_in_time_only() -> None:
    run = replay([ev("login", 100), ev("logout", 400), ev("login", 5000, agent="B")])
    (only,) = [i for i in run.intervals if i["agent_id"] == "A1"]
    assert only["logged_in_s"] == 300 and only["interval_end"].endswith("08:15:00.000Z")


def test_thirty_minute_intervals_in_kathmandu_align_to_local_midnight() -> None:
    # Asia/Kathmandu is +05:45: local half hours fall at UTC :15 and :45.
    pol = policy(timezone="Asia/Kathmandu", interval_minutes=30)
    run = replay(
        [
            _event("login", "2026-05-12T08:00:00Z"),
            _event("logout", "2026-05-12T09:00:00Z"),
            _event("login", "2026-05-12T09:15:00Z", agent="B"),
        ],
        pol,
    )
    run.records["intervals"] = [i for i in run.intervals if i["agent_id"] == "A1"]
    assert [(i["interval_start"], i["logged_in_s"]) for i in run.intervals] == [
        ("2026-05-12T07:45:00.000Z", 900),
        ("2026-05-12T08:15:00.000Z", 1800),
        ("2026-05-12T08:45:00.000Z", 900),
    ]


def test_intervals_across_dst_spring_forward_in_london() -> None:
    # 2026-03-29 01:00 UTC: London jumps from 01:00 GMT to 02:00 BST.
    run = replay(
        [
            _event("login", "2026-03-29T00:40:00Z"),
            _event("logout", "2026-03-29T01:20:00Z"),
            _event("login", "2026-03-29T01:30:00Z", agent="B"),
        ]
    )
    run.records["intervals"] = [i for i in run.intervals if i["agent_id"] == "A1"]
    assert [(i["interval_start"], i["logged_in_s"]) for i in run.intervals] == [
        ("2026-03-29T00:30:00.000Z", 300),
        ("2026-03-29T00:45:00.000Z", 900),
        ("2026-03-29T01:00:00.000Z", 900),
        ("2026-03-29T01:15:00.000Z", 300),
    ]


def test_local_day_runs_midnight_to_midnight_and_splits_a_break_across_it() -> None:
    # British Summer Time: local midnight is 23:00 UTC. A break 22:50-23:10 UTC.
    run = replay(
        [
            _event("login", "2026-05-12T22:00:00Z"),
            _event("not_ready", "2026-05-12T22:50:00Z", "LUNCH"),
            _event("ready", "2026-05-12T23:10:00Z"),
            _event("not_ready", "2026-05-12T23:20:00Z", "LUNCH"),
            _event("ready", "2026-05-12T23:25:00Z"),
            _event("logout", "2026-05-12T23:30:00Z"),
        ]
    )
    first, second = run.durations
    assert (first["day"], first["today_s"], first["today_count"]) == ("2026-05-13", 600, 1)
    assert first["last_hour_s"] == 1200
    assert (second["day"], second["today_s"], second["today_count"]) == ("2026-05-13", 900, 2)


def test_daily_limit_uses_local_day_on_a_dst_change_day() -> None:
    # 2026-10-25 is 25 hours long in London; the day starts 2026-10-24T23:00Z.
    pol = policy()
    events = [_event("login", "2026-10-24T23:00:00Z")]
    starts = ["2026-10-24T23:10:00Z", "2026-10-25T06:00:00Z", "2026-10-25T12:00:00Z"]
    for start in starts:
        events += [
            _event("not_ready", start, "BREAK"),
            _event("ready", format_ts(parse_ts(start) + 700_000)),
        ]
    events.append(_event("logout", "2026-10-25T22:00:00Z"))
    run = replay(events, pol)
    (daily,) = [d for d in run.detections if d["rule"] == "daily_limit"]
    assert daily["window_start"] == "2026-10-24T23:00:00.000Z"
    assert daily["ts"] == "2026-10-25T12:06:40.000Z"
    assert {d["day"] for d in run.durations} == {"2026-10-25"}


def test_last_hour_counts_only_the_hour_before() -> None:
    run = replay(
        [
            ev("login", 0),
            ev("not_ready", 0, code="PERSONAL"),
            ev("ready", 300),
            ev("not_ready", 3500, code="PERSONAL"),
            ev("ready", 3600),
            ev("logout", 3700),
        ]
    )
    assert [(d["today_s"], d["last_hour_s"]) for d in run.durations] == [
        (300, 300),
        (400, 100 + 300),
    ]
    later = replay(
        [
            ev("login", 0),
            ev("not_ready", 0, code="PERSONAL"),
            ev("ready", 300),
            ev("not_ready", 3800, code="PERSONAL"),
            ev("ready", 3900),
            ev("logout", 4000),
        ]
    )
    assert later.durations[-1]["last_hour_s"] == 100 + 0


def test_last_hour_cuts_a_stretch_that_began_before_the_hour_and_adds_many() -> None:
    """The running total: a stretch straddling the hour's start counts from there, and a
    code used over and over counts each stretch of the hour once."""
    straddling = replay(
        [
            ev("login", 0),
            ev("not_ready", 0, code="PERSONAL"),
            ev("ready", 600),
            ev("not_ready", 3900, code="PERSONAL"),
            ev("ready", 4000),
            ev("logout", 4100),
        ]
    )
    assert straddling.durations[-1]["last_hour_s"] == (600 - 400) + 100
    events = [ev("login", 0)]
    for n in range(40):  # 40 stretches of 30 s, one every 150 s: 24 end in the last hour
        events += [ev("not_ready", n * 150, code="PERSONAL"), ev("ready", n * 150 + 30)]
    many = replay([*events, ev("logout", 6100)])
    end = 39 * 150 + 30
    within = [n for n in range(40) if n * 150 + 30 > end - 3600]
    cut = sum(min(30, n * 150 + 30 - (end - 3600)) for n in within)
    assert many.durations[-1]["last_hour_s"] == cut
    assert [d["today_count"] for d in many.durations] == list(range(1, 41))


@pytest.mark.parametrize("interval_minutes", [15, 30])
def test_idle_agent_intervals_close_by_watermark(interval_minutes: int) -> None:
    pol = policy(interval_minutes=interval_minutes)
    run = replay(
        [ev("login", 0), ev("login", 3 * 3600, agent="B"), ev("logout", 3 * 3600 + 1, agent="B")],
        pol,
    )
    mine = [i for i in run.intervals if i["agent_id"] == "A1"]
    assert len(mine) == 3 * 60 // interval_minutes
    assert all(i["ready_s"] == interval_minutes * 60 and i["revision"] == 0 for i in mine)
