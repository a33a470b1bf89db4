"""The state model of contract §2: transitions, implicit login, no-ops, ordering, duplicates."""

from __future__ import annotations

import pytest

from auxstream.domain import engine
from auxstream.domain.events import AgentEvent, event_from_dict
from auxstream.domain.outputs import Outcome, Segment
from auxstream.domain.timefmt import parse_ts
from tests.unit.engine_support import ev, policy, replay


@pytest.mark.parametrize(
    ("kind", "code", "state", "reason"),
    [
        ("login", None, "ready", None),
        ("login", "TRAINING", "not_ready", "TRAINING"),
        ("ready", None, "ready", None),
        ("not_ready", "BREAK", "not_ready", "BREAK"),
        ("contact_start", None, "on_contact", None),
        ("contact_end", None, "not_ready", "ACW"),
    ],
)
def test_transition_table(kind: str, code: str | None, state: str, reason: str | None) -> None:
    events = [ev("login", 0, code="LUNCH"), ev(kind, 60, code=code), ev("logout", 120)]
    run = replay(events)
    second = run.segments[-1]
    assert (second["state"], second["reason_code"]) == (state, reason)
    assert second["duration_s"] == 60


def test_contact_end_without_after_contact_code_goes_ready() -> None:
    run = replay(
        [ev("login", 0), ev("contact_start", 10), ev("contact_end", 70), ev("logout", 100)],
        policy(after_contact_code=None),
    )
    assert [(s["state"], s["duration_s"]) for s in run.segments] == [
        ("ready", 10),
        ("on_contact", 60),
        ("ready", 30),
    ]


def test_logout_makes_no_segment_for_logged_out_time() -> None:
    run = replay([ev("login", 0), ev("logout", 100), ev("login", 1000), ev("logout", 1100)])
    assert [s["duration_s"] for s in run.segments] == [100, 100]
    assert all(s["state"] == "ready" for s in run.segments)


def test_implicit_login_is_counted_and_applied() -> None:
    run = replay([ev("not_ready", 0, code="BREAK"), ev("ready", 300), ev("logout", 400)])
    assert run.stats.implicit_logins == 1
    assert [(s["reason_code"], s["duration_s"]) for s in run.segments] == [
        ("BREAK", 300),
        (None, 100),
    ]


def test_event_that_changes_nothing_is_a_noop_and_closes_nothing() -> None:
    run = replay(
        [
            ev("login", 0),
            ev("ready", 50),
            ev("not_ready", 60, code="BREAK"),
            ev("not_ready", 70, code="BREAK"),
            ev("ready", 100),
            ev("logout", 200),
        ]
    )
    assert run.stats.outcomes["noop"] == 2
    assert [s["duration_s"] for s in run.segments] == [60, 40, 100]


def test_unknown_code_is_tracked_under_its_own_name_and_counted() -> None:
    run = replay(
        [ev("login", 0), ev("not_ready", 10, code="MEETING"), ev("ready", 70), ev("logout", 80)]
    )
    assert run.stats.unknown_codes["MEETING"] == 1
    assert run.segments[1]["reason_code"] == "MEETING"
    assert run.durations[0]["reason_code"] == "MEETING"


def test_duplicate_is_counted_not_applied_not_dead_lettered() -> None:
    first = ev("not_ready", 10, code="BREAK")
    run = replay([ev("login", 0), first, dict(first), ev("ready", 70), ev("logout", 80)])
    assert run.stats.outcomes["duplicate"] == 1
    assert run.deadletters == []
    assert len(run.segments) == 3


def test_duplicate_hours_later_is_still_a_duplicate() -> None:
    first = ev("not_ready", 10, code="BREAK")
    run = replay(
        [
            ev("login", 0),
            first,
            ev("ready", 70),
            ev("not_ready", 4 * 3600, code="LUNCH"),
            dict(first),
        ]
    )
    assert run.stats.outcomes["duplicate"] == 1
    assert run.stats.outcomes["late"] == 0


def _three_days_of_half_hours() -> list[dict[str, object]]:
    """An agent logged in for three days, changing state every 30 minutes."""
    kinds = [("not_ready", "BREAK"), ("ready", None)]
    return [ev("login", 0)] + [
        ev(kinds[i % 2][0], i * 1800, code=kinds[i % 2][1]) for i in range(1, 3 * 48)
    ]


def test_an_id_is_remembered_for_24_h_of_event_time() -> None:
    events = _three_days_of_half_hours()
    day_old = events[-48]  # 23.5 h before the newest event
    run = replay([*events, dict(day_old)])
    assert run.stats.outcomes["duplicate"] == 1
    assert run.stats.outcomes["late"] == 0


def test_ids_older_than_the_horizon_are_forgotten() -> None:
    """Memory holds a day of ids, not every id: a redelivery two days old is no longer
    recognised as a duplicate, and is refused as late instead (still a dead letter)."""
    events = _three_days_of_half_hours()
    state = engine.new_agent("A1")
    pol = policy()
    for item in events:
        engine.apply(state, event_from_dict(item), pol)
    # 144 ids accepted; kept: at least the last 24 h (48), at most 24 h + 2 h of margin.
    assert 48 <= len(state.seen) <= 53
    assert len(set(state.seen.ids())) == len(state.seen)
    assert events[-48]["event_id"] in state.seen
    assert events[1]["event_id"] not in state.seen
    run = replay([*events, dict(events[1])])
    assert run.stats.outcomes["duplicate"] == 0
    assert run.stats.outcomes["late"] == 1


def test_swapped_within_grace_is_put_in_place() -> None:
    a, b = ev("not_ready", 60, code="BREAK"), ev("not_ready", 61, code="PERSONAL")
    run = replay([ev("login", 0), b, a, ev("ready", 120), ev("logout", 130)])
    assert run.stats.outcomes["late"] == 0
    assert [(s["reason_code"], s["duration_s"]) for s in run.segments[1:3]] == [
        ("BREAK", 1),
        ("PERSONAL", 59),
    ]


def test_event_older_than_applied_is_late_and_dead_lettered() -> None:
    old = ev("not_ready", 30, code="LUNCH")
    run = replay(
        [
            ev("login", 0),
            ev("not_ready", 60, code="BREAK"),
            ev("ready", 120),
            old,
            ev("logout", 200),
        ]
    )
    assert run.stats.outcomes["late"] == 1
    assert [d["reason"] for d in run.deadletters] == ["late"]
    assert old["event_id"] in run.deadletters[0]["raw"]
    assert run.deadletters[0]["offset"] == 4
    assert all(s["duration_s"] > 0 for s in run.segments)


def test_held_event_waits_for_own_event_at_least_grace_newer() -> None:
    pol = policy()
    state = engine.new_agent("A1")

    def event(eid: str, ts: str, kind: str) -> AgentEvent:
        return AgentEvent(eid, "A1", parse_ts(ts), kind)

    _, out = engine.apply(state, event("1", "2026-05-12T08:00:00Z", "login"), pol)
    assert out == [] and len(state.held) == 1
    _, out = engine.apply(state, event("2", "2026-05-12T08:00:01.999Z", "contact_start"), pol)
    assert out == [] and len(state.held) == 2
    _, out = engine.apply(state, event("3", "2026-05-12T08:00:02Z", "contact_end"), pol)
    assert [o.outcome for o in out if isinstance(o, Outcome)] == ["applied"]
    _, out = engine.release(state, pol)
    segments = [o for o in out if isinstance(o, Segment)]
    assert [(s.state, s.end - s.start) for s in segments] == [("ready", 1999), ("on_contact", 1)]


def test_equal_timestamps_order_by_seq() -> None:
    run = replay(
        [
            ev("login", 0, seq=0),
            ev("ready", 60, seq=2),
            ev("not_ready", 60, code="BREAK", seq=1),
            ev("logout", 120, seq=3),
        ]
    )
    # seq 1 (BREAK) comes before seq 2 (ready) at the same instant: a zero-length BREAK.
    assert [(s["state"], s["duration_s"]) for s in run.segments] == [("ready", 60), ("ready", 60)]
    assert run.stats.outcomes["late"] == 0


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (
            b'{"agent_id": "A", "ts": "2026-05-12T08:00:00Z", "type": "ready"}',
            "missing field 'event_id'",
        ),
        (
            b'{"event_id": "x", "ts": "2026-05-12T08:00:00Z", "type": "ready"}',
            "missing field 'agent_id'",
        ),
        (
            b'{"event_id": "x", "agent_id": "A", "ts": "2026-05-12 08:00:00", "type": "ready"}',
            "no UTC offset",
        ),
        (
            b'{"event_id": "x", "agent_id": "A", "ts": "yesterday", "type": "ready"}',
            "not an RFC 3339",
        ),
        (
            b'{"event_id": "x", "agent_id": "A", "ts": "2026-05-12T08:00:00Z", "type": "nap"}',
            "unknown type",
        ),
        (
            b'{"event_id": "x", "agent_id": "A", "ts": "2026-05-12T08:00:00Z", '
            b'"type": "not_ready"}',
            "no reason_code",
        ),
        (
            b'{"event_id": 7, "agent_id": "A", "ts": "2026-05-12T08:00:00Z", "type": "ready"}',
            "must be a string",
        ),
        (
            b'{"event_id": "x", "agent_id": "A", "ts": "2026-05-12T08:00:00Z", '
            b'"type": "ready", "seq": -1}',
            "seq",
        ),
        (
            b'{"event_id": "", "agent_id": "A", "ts": "2026-05-12T08:00:00Z", "type": "ready"}',
            "1-128",
        ),
    ],
)
def test_invalid_lines_become_dead_letters_and_replay_carries_on(line: bytes, error: str) -> None:
    run = replay([ev("login", 0), line, ev("logout", 60)])
    assert run.stats.outcomes["invalid"] == 1
    (dead,) = run.deadletters
    assert dead["reason"] == "invalid" and error in dead["error"]
    assert dead["raw"] == line.decode()
    assert dead["offset"] == 2
    assert run.segments[0]["duration_s"] == 60


def test_event_more_than_a_day_in_the_future_is_invalid() -> None:
    run = replay([ev("login", 0), ev("ready", 24 * 3600 + 61), ev("logout", 60)])
    assert run.stats.outcomes["invalid"] == 1
    assert "24 h" in run.deadletters[0]["error"]


def test_unknown_extra_fields_are_ignored() -> None:
    run = replay([ev("login", 0, skill="billing"), ev("logout", 60, queue="q1")])
    assert run.stats.outcomes["applied"] == 2
