"""The demo's view without Kafka: what the floor makes of events and records, and how it renders."""

from __future__ import annotations

import orjson
import pytest
from rich.console import Console

from auxstream.demo.floor import Floor, FloorPolicy
from auxstream.demo.kafka import sum_metric
from auxstream.demo.render import Status, live_view, plain_line, summary_lines
from auxstream.simulate.kafka import Pacer, Rate

POLICY = FloorPolicy(
    "Europe/London", "ACW", {"ACW": "After-call work", "BREAK": "Break", "LUNCH": "Lunch"}
)


def event(
    agent: str, ts: str, kind: str, seq: int, code: str | None = None, team: str = "north"
) -> bytes:
    obj = {
        "event_id": f"{agent}-{seq}",
        "agent_id": agent,
        "ts": ts,
        "type": kind,
        "team": team,
        "seq": seq,
    }
    if code is not None:
        obj["reason_code"] = code
    return orjson.dumps(obj)


def record(**fields: object) -> bytes:
    return orjson.dumps(fields)


def test_agents_follow_the_contract_state_table() -> None:
    floor = Floor(POLICY)
    floor.sent(event("A1", "2026-05-12T07:00:00Z", "login", 0))
    floor.sent(event("A2", "2026-05-12T07:00:01Z", "login", 0, "TRAINING", team="south"))
    floor.sent(event("A3", "2026-05-12T07:00:02Z", "login", 0))
    floor.sent(event("A3", "2026-05-12T07:01:00Z", "contact_start", 1))
    floor.sent(event("A3", "2026-05-12T07:05:00Z", "contact_end", 2))
    floor.sent(event("A1", "2026-05-12T07:02:00Z", "not_ready", 1, "BREAK"))
    floor.sent(event("A1", "2026-05-12T07:01:00Z", "ready", 9))  # late: older than what A1 has
    floor.sent(b'{"event_id":"x","agent_id":"A9","ts":"2026-05')  # malformed
    floor.sent(event("A4", "2026-05-12T07:00:00Z", "login", 0))
    floor.sent(event("A4", "2026-05-12T07:09:00Z", "logout", 1))

    assert floor.events_sent == 10
    north, south = floor.states_by_team()["north"], floor.states_by_team()["south"]
    assert north["not_ready"] == 2 and north["code:BREAK"] == 1 and north["code:ACW"] == 1
    assert north["logged_out"] == 1 and north["ready"] == 0
    assert south["not_ready"] == 1 and south["code:TRAINING"] == 1


def test_time_by_code_is_the_newest_day_and_each_agent_code_counted_once() -> None:
    floor = Floor(POLICY)
    for agent, day, code, total, n, as_of in [
        ("A1", "2026-05-11", "BREAK", 900.0, 1, "2026-05-11T10:00:00.000Z"),
        ("A1", "2026-05-12", "BREAK", 600.0, 1, "2026-05-12T09:00:00.000Z"),
        ("A1", "2026-05-12", "BREAK", 1500.0, 2, "2026-05-12T11:00:00.000Z"),
        ("A1", "2026-05-12", "BREAK", 1500.0, 2, "2026-05-12T11:00:00.000Z"),  # a repeat
        ("A2", "2026-05-12", "BREAK", 300.0, 1, "2026-05-12T10:00:00.000Z"),
        ("A2", "2026-05-12", "ACW", 45.5, 3, "2026-05-12T10:00:00.000Z"),
        ("A2", "2026-05-12", "ODD", 10.0, 1, "2026-05-12T10:00:00.000Z"),
    ]:
        floor.received(
            "durations",
            record(
                agent_id=agent,
                team="north",
                day=day,
                reason_code=code,
                today_s=total,
                today_count=n,
                last_hour_s=0,
                as_of=as_of,
            ),
        )
    day, rows = floor.time_by_code()
    assert day == "2026-05-12"
    assert rows == [
        ("ACW", 45.5, 3, 1),
        ("BREAK", 1800.0, 3, 2),
        ("ODD", 10.0, 1, 1),
    ]  # policy order first
    assert floor.records["durations"] == 7


def test_detections_and_checkins_are_kept_once_per_id_in_local_time() -> None:
    floor = Floor(POLICY)
    detection = record(
        detection_id="d1",
        rule="occurrence_limit",
        agent_id="A1",
        team="north",
        ts="2026-05-12T09:15:00.000Z",
        message="A1 has been in Break for more than 15 minutes.",
    )
    floor.received("detections", detection)
    floor.received("detections", detection)  # at-least-once: the same id again
    floor.received(
        "detections",
        record(
            detection_id="d2",
            rule="short_aux",
            agent_id="A2",
            team="south",
            ts="2026-05-12T09:20:00.000Z",
            message="...",
        ),
    )
    floor.received(
        "checkins",
        record(
            checkin_id="c1",
            agent_id="A3",
            team="north",
            reason_code="TIMEOUT",
            ts="2026-05-12T09:30:00.000Z",
            message="...",
        ),
    )
    floor.received("deadletters", record(reason="invalid", error="not JSON", raw="{"))
    floor.received("deadletters", record(reason="late", error="late", raw="{}"))

    assert floor.detections_by_rule == {"occurrence_limit": 1, "short_aux": 1}
    assert floor.records["detections"] == 3
    assert [d.local_time for d in floor.detections] == ["10:15:00", "10:20:00"]  # BST
    assert floor.checkins_total == 1 and floor.checkins[0].kind == "TIMEOUT"
    assert floor.dead_letters == {"invalid": 1, "late": 1}


def busy_floor() -> tuple[Floor, Status]:
    floor = Floor(POLICY)
    for i in range(12):
        floor.sent(
            event(f"A{i}", "2026-05-12T07:00:00Z", "login", 0, team=("north", "south")[i % 2])
        )
        floor.sent(event(f"A{i}", "2026-05-12T07:10:00Z", "not_ready", 1, "BREAK"))
        floor.received(
            "detections",
            record(
                detection_id=f"d{i}",
                rule="short_aux",
                agent_id=f"A{i}",
                team="north",
                ts="2026-05-12T09:20:00.000Z",
                message="A long plain sentence. " * 5,
            ),
        )
    status = Status(
        agents=12,
        speed="60x",
        started=0.0,
        now=75.0,
        worker_pid=4242,
        metrics_url="http://127.0.0.1:6066/metrics",
        processed=20,
        first_output_s=4.2,
    )
    status.sent.sent, status.sent.started, status.sent.last_sent, status.sent.newest_ts = (
        24,
        1.0,
        70.0,
        1778580000,
    )
    return floor, status


@pytest.mark.parametrize(("width", "height"), [(80, 24), (100, 30), (140, 45)])
def test_the_live_view_renders_at_common_terminal_sizes(width: int, height: int) -> None:
    floor, status = busy_floor()
    console = Console(width=width, height=height, color_system=None)
    with console.capture() as captured:
        console.print(live_view(floor, status, width, height))
    text = captured.get()
    for needle in (
        "Agents by state",
        "Time by code today",
        "Latest detections (12)",
        "Check-ins (0)",
        "worker pid 4242",
        "http://127.0.0.1:6066/metrics",
        "first output 4.2 s",
    ):
        assert needle in text, needle
    assert max(len(line) for line in text.splitlines()) <= width


def test_without_a_metrics_endpoint_the_view_says_so_rather_than_link() -> None:
    floor, status = busy_floor()
    status.metrics_url, status.web_url = None, "http://127.0.0.1:6066/"

    def shown() -> str:
        console = Console(width=140, color_system=None)
        with console.capture() as captured:
            console.print(live_view(floor, status))
        return captured.get()

    assert "metrics: waiting for the worker's web server http://127.0.0.1:6066/" in shown()
    status.metrics_missing = True  # the server answered /metrics with a 404
    assert "metrics: not yet (web http://127.0.0.1:6066/)" in shown()


def test_processed_is_the_sum_of_the_events_counter() -> None:
    text = (
        "# HELP auxstream_events_total Input messages by event type and outcome.\n"
        "# TYPE auxstream_events_total counter\n"
        'auxstream_events_total{outcome="applied",type="login"} 12.0\n'
        'auxstream_events_total{outcome="invalid",type="unknown"} 3.0\n'
        "auxstream_events_total_created 1.7e+09\n"
        'auxstream_dead_letters_total{reason="invalid"} 3.0\n'
    )
    assert sum_metric(text, "auxstream_events_total") == 15


def test_plain_line_and_summary() -> None:
    floor, status = busy_floor()
    line = plain_line(floor, status)
    assert line.startswith("demo 0:01:15  floor Tue 12 May 11:00  sent 24")
    assert "\x1b" not in line
    status.stopping_at = 60.0
    summary = "\n".join(summary_lines(floor, status, "--duration 60"))
    assert "ran 0:01:00 (60.0 s) until --duration 60; stopping took 15.0 s" in summary
    assert "first output record  4.2 s after start" in summary
    assert "detections by rule   short_aux 12" in summary


def test_rates_and_pacing() -> None:
    assert Rate.parse("max") == Rate(None) and str(Rate.parse("max")) == "max"
    assert Rate.parse("realtime") == Rate(1.0) and str(Rate(1.0)) == "realtime"
    assert Rate.parse("60x") == Rate(60.0) and str(Rate.parse("0.5x")) == "0.5x"
    for bad in ("0x", "fast", "60", "-2x"):
        with pytest.raises(ValueError, match="rate must be"):
            Rate.parse(bad)
    pacer = Pacer(Rate(60.0), origin_ts=1000, started=50.0)
    assert pacer.due(1000) == 50.0 and pacer.due(1120) == 52.0
    assert pacer.due(900) == 50.0  # a late line is due at once
    assert Pacer(Rate(None), 1000, 50.0).due(99_999) == 50.0
