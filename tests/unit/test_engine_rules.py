"""Every detection rule at, just under and just over its threshold, plus check-ins."""

from __future__ import annotations

from typing import Any

import pytest

from auxstream.domain.policy import AuxAfterContactRule, RapidSwitchingRule, Rules, ShortAuxRule
from tests.unit.engine_support import at, ev, policy, replay


def _rules(run: Any, rule: str) -> list[dict[str, Any]]:
    return [d for d in run.detections if d["rule"] == rule]


@pytest.mark.parametrize(("length", "fires"), [(899.999, False), (900, False), (900.001, True)])
def test_occurrence_limit_is_strict(length: float, fires: bool) -> None:
    run = replay(
        [
            ev("login", 0),
            ev("not_ready", 100, code="BREAK"),
            ev("ready", 100 + length),
            ev("logout", 2000),
        ]
    )
    found = _rules(run, "occurrence_limit")
    assert bool(found) is fires
    if fires:
        assert found[0]["ts"] == at(1000)
        assert found[0]["threshold"] == 900
        assert found[0]["window_start"] == at(100)
        assert "Break" in found[0]["message"] and "15 min" in found[0]["message"]


def test_occurrence_limit_raised_while_agent_still_in_code() -> None:
    # The agent is still on break when the input ends: the watermark raises the limit.
    run = replay([ev("login", 0), ev("not_ready", 100, code="BREAK"), ev("login", 2000, agent="B")])
    (found,) = _rules(run, "occurrence_limit")
    assert found["ts"] == at(1000)


def test_occurrence_limit_once_per_stretch_and_again_for_next_stretch() -> None:
    run = replay(
        [
            ev("login", 0),
            ev("not_ready", 0, code="PERSONAL"),
            ev("not_ready", 1300, code="BREAK"),
            ev("ready", 1400),
            ev("not_ready", 1500, code="PERSONAL"),
            ev("ready", 2200),
            ev("logout", 2300),
        ]
    )
    assert [d["ts"] for d in _rules(run, "occurrence_limit")] == [at(600), at(2100)]


def test_code_without_limit_never_fires() -> None:
    run = replay(
        [
            ev("login", 0),
            ev("not_ready", 0, code="TRAINING"),
            ev("ready", 20000),
            ev("logout", 20001),
        ]
    )
    assert run.detections == []


@pytest.mark.parametrize(("second", "fires"), [(599.999, False), (600, False), (600.001, True)])
def test_daily_limit_counts_the_day_across_stretches(second: float, fires: bool) -> None:
    # BREAK: 900 s occurrence limit, 1800 s a day. Two stretches of 600 s, then a third.
    events = [ev("login", 0)]
    for start, length in ((0, 600), (1000, 600), (2000, second)):
        events += [ev("not_ready", start, code="BREAK"), ev("ready", start + length)]
    events.append(ev("logout", 4000))
    found = _rules(replay(events), "daily_limit")
    assert bool(found) is fires
    if fires:
        assert found[0]["ts"] == at(2600)
        assert found[0]["threshold"] == 1800


def test_daily_limit_team_override_applies() -> None:
    events = [ev("login", 0, team="collections")]
    for start in (0, 1000, 2000):
        events += [ev("not_ready", start, code="BREAK"), ev("ready", start + 800)]
    events.append(ev("logout", 4000))
    run = replay(events)
    # 2400 s for collections: three stretches of 800 s reach 2400 exactly, within the limit.
    assert _rules(run, "daily_limit") == []
    assert replay([{**e, "team": "north"} for e in events]).rules()[0][0] == "daily_limit"


def test_daily_limit_once_per_day() -> None:
    events = [ev("login", 0)]
    for start in range(0, 6 * 1000, 1000):
        events += [ev("not_ready", start, code="BREAK"), ev("ready", start + 800)]
    events.append(ev("logout", 7000))
    assert len(_rules(replay(events), "daily_limit")) == 1


def _switches(times: list[float], codes: list[str]) -> list[dict[str, Any]]:
    events = [ev("login", 0)]
    events += [ev("not_ready", t, code=c) for t, c in zip(times, codes, strict=True)]
    return [*events, ev("ready", times[-1] + 60), ev("logout", times[-1] + 120)]


@pytest.mark.parametrize(("span", "fires"), [(599, True), (600, True), (601, False)])
def test_rapid_switching_window(span: float, fires: bool) -> None:
    run = replay(_switches([10, 20, 30, 10 + span], ["PERSONAL", "TRAINING", "BREAK", "PERSONAL"]))
    found = _rules(run, "rapid_switching")
    assert bool(found) is fires
    if fires:
        assert found[0]["value"] == 4 and found[0]["ts"] == at(10 + span)
        assert len(found[0]["evidence_event_ids"]) == 4


def test_rapid_switching_three_is_not_enough_and_evidence_is_spent() -> None:
    three = replay(_switches([10, 20, 30], ["PERSONAL", "TRAINING", "BREAK"]))
    assert _rules(three, "rapid_switching") == []
    seven = replay(
        _switches([10, 20, 30, 40, 50, 60, 70], ["PERSONAL", "TRAINING"] * 3 + ["BREAK"])
    )
    assert len(_rules(seven, "rapid_switching")) == 1
    eight = replay(_switches([10, 20, 30, 40, 50, 60, 70, 80], ["PERSONAL", "TRAINING"] * 4))
    assert len(_rules(eight, "rapid_switching")) == 2


def test_after_contact_code_and_check_in_codes_are_not_switching_evidence() -> None:
    events = [ev("login", 0)]
    for i in range(4):
        events += [
            ev("contact_start", i * 100),
            ev("contact_end", i * 100 + 30),
            ev("not_ready", i * 100 + 40, code="TIMEOUT"),
            ev("ready", i * 100 + 80),
        ]
    events.append(ev("logout", 1000))
    run = replay(events)
    assert run.detections == []
    assert len(run.checkins) == 4


def _after_contact(gaps: list[float], ready_for: float | None = None) -> list[dict[str, Any]]:
    events = [ev("login", 0)]
    t = 10.0
    for gap in gaps:
        events += [ev("contact_start", t), ev("contact_end", t + 60)]
        if ready_for is not None:
            events.append(ev("ready", t + 60 + gap))
            events.append(ev("not_ready", t + 60 + gap + ready_for, code="PERSONAL"))
        else:
            events.append(ev("not_ready", t + 60 + gap, code="PERSONAL"))
        events.append(ev("ready", t + 600))
        t += 900
    return [*events, ev("logout", t)]


def test_aux_after_contact_fires_on_third_within_window() -> None:
    run = replay(_after_contact([10, 10, 10]))
    (found,) = _rules(run, "aux_after_contact")
    assert found["value"] == 3 and len(found["evidence_event_ids"]) == 3
    assert found["ts"] == at(10 + 1800 + 70)


def test_aux_after_contact_two_is_not_enough() -> None:
    assert _rules(replay(_after_contact([10, 10])), "aux_after_contact") == []


@pytest.mark.parametrize(("ready_for", "fires"), [(4.999, True), (5, False)])
def test_aux_after_contact_ready_gap_is_respected(ready_for: float, fires: bool) -> None:
    found = _rules(replay(_after_contact([10, 10, 10], ready_for=ready_for)), "aux_after_contact")
    assert bool(found) is fires


def test_aux_after_contact_window() -> None:
    pol = policy(rules=Rules(RapidSwitchingRule(), AuxAfterContactRule(3, 1799, 5), ShortAuxRule()))
    assert _rules(replay(_after_contact([10, 10, 10]), pol), "aux_after_contact") == []


def _short(lengths: list[float], spacing: float = 100) -> list[dict[str, Any]]:
    events = [ev("login", 0)]
    for i, length in enumerate(lengths):
        start = 10 + i * spacing
        events += [ev("not_ready", start, code="PERSONAL"), ev("ready", start + length)]
    return [*events, ev("logout", 10 + len(lengths) * spacing + 10)]


@pytest.mark.parametrize(("length", "fires"), [(29.999, True), (30, False)])
def test_short_aux_threshold_is_strict(length: float, fires: bool) -> None:
    found = _rules(replay(_short([10, 20, length])), "short_aux")
    assert bool(found) is fires
    if fires:
        assert found[0]["ts"] == at(210 + length)


def test_short_aux_window_and_after_contact_code_excluded() -> None:
    assert _rules(replay(_short([10, 10, 10], spacing=901)), "short_aux") == []
    acw = [ev("login", 0)]
    for i in range(3):
        acw += [
            ev("contact_start", i * 100),
            ev("contact_end", i * 100 + 50),
            ev("ready", i * 100 + 55),
        ]
    assert _rules(replay([*acw, ev("logout", 500)]), "short_aux") == []


def test_check_in_emitted_at_once_with_plain_message() -> None:
    run = replay(
        [
            ev("login", 0, team="north"),
            ev("not_ready", 100, code="TIMEOUT"),
            ev("ready", 300),
            ev("logout", 400),
        ]
    )
    (checkin,) = run.checkins
    assert checkin["ts"] == at(100) and checkin["team"] == "north"
    assert "Time Out" in checkin["message"]
    # Check-in codes keep their own limits: 600 s occurrence limit for TIMEOUT.
    longer = replay(
        [ev("login", 0), ev("not_ready", 100, code="TIMEOUT"), ev("ready", 800), ev("logout", 900)]
    )
    assert [d["rule"] for d in longer.detections] == ["occurrence_limit"]


@pytest.mark.parametrize(("silence", "fires"), [(43200, False), (43200.001, True)])
def test_stuck_state_once(silence: float, fires: bool) -> None:
    run = replay(
        [ev("login", 0), ev("login", silence, agent="B"), ev("logout", silence, agent="B")]
    )
    found = _rules(run, "stuck_state")
    assert bool(found) is fires
    if fires:
        assert found[0]["agent_id"] == "A1" and found[0]["ts"] == at(43200)


def test_logged_out_agent_is_never_stuck() -> None:
    run = replay([ev("login", 0), ev("logout", 10), ev("login", 90000, agent="B")])
    assert _rules(run, "stuck_state") == []


def test_detection_ids_are_deterministic() -> None:
    events = _switches([10, 20, 30, 40], ["PERSONAL", "TRAINING", "BREAK", "PERSONAL"])
    first, second = replay(events), replay([dict(e) for e in events])
    assert [d["detection_id"] for d in first.detections] == [
        d["detection_id"] for d in second.detections
    ]


def test_messages_state_what_happened_without_judging() -> None:
    events = _switches([10, 20, 30, 40], ["PERSONAL", "TRAINING", "BREAK", "PERSONAL"])
    events += _after_contact([10, 10, 10]) + _short([10, 10, 10])
    run = replay([{**e, "agent_id": f"X{i % 3}"} for i, e in enumerate(events)])
    judging = ("abuse", "misuse", "lazy", "cheat", "violat", "bad ", "suspicious", "poor")
    for detection in run.detections:
        assert detection["message"].endswith(".")
        assert not any(word in detection["message"].lower() for word in judging)
