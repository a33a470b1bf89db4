"""Behaviour profiles: short routines that make one contract rule fire, and record why.

Each routine is planned at a time well inside the shift, clears normal activities within
30 minutes of it, and records a Behaviour (rule, evidence event ids, expected time) in the
manifest once its last event has been generated. Durations are derived from the policy's
thresholds so a detector with those thresholds must fire, and fire once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from auxstream.simulate.manifest import Behaviour
from auxstream.simulate.policy import SimPolicy
from auxstream.simulate.shift import (
    CONTACT_END,
    CONTACT_START,
    NOT_READY,
    READY,
    Activity,
    Routine,
    ShiftWriter,
)
from auxstream.simulate.wire import SimEvent

CLEAR_AROUND_S = 1800
"""Normal activities this close to a profile routine are dropped, so evidence stays clean."""
PROFILE_CLEARANCE_S = 900
"""Quiet time before and after a routine: no other agent-chosen code in between."""


def _record(
    w: ShiftWriter,
    profile: str,
    rule: str | None,
    evidence: list[SimEvent],
    details: dict[str, Any],
    *,
    reason_code: str | None = None,
    expected_ts: int | None = None,
    window: tuple[int, int] | None = None,
) -> None:
    """Add the behaviour to the manifest; by default it is met at the last evidence event."""
    first, last = evidence[0].ts, evidence[-1].ts
    w.manifest.behaviours.append(
        Behaviour(
            profile=profile,
            agent_id=w.plan.agent_id,
            team=w.plan.team,
            rule=rule,
            reason_code=reason_code,
            evidence_event_ids=[e.event_id for e in evidence],
            window_start=window[0] if window else first,
            window_end=window[1] if window else last,
            expected_ts=last if expected_ts is None else expected_ts,
            details=details,
        )
    )


def _after_contact(w: ShiftWriter, lo: int, hi: int) -> None:
    """Time between contact_end and the next code: ACW, or under the ready gap without ACW."""
    if w.policy.after_contact_code is not None:
        w.wait(w.rng.randint(lo, hi))
    else:
        w.wait(w.rng.randint(1, max(1, int(w.policy.aac_ready_gap_s) - 2)))


def aux_jumping(w: ShiftWriter) -> Iterator[SimEvent]:
    """rapid_switching: ``min_switches`` agent-chosen code changes, 40-90 s apart."""
    p = w.policy
    cycle = (p.personal_code, p.training_code, p.break_code)
    codes = [cycle[i % 3] for i in range(p.min_switches)]
    hi = max(40, min(90, int(p.switch_window_s * 0.8 / max(1, p.min_switches - 1))))
    lo = min(hi, int(p.short_max_s) + 10)
    evidence: list[SimEvent] = []
    w.wait(w.rng.randint(30, 90))
    for code in codes:
        evidence.append(w.emit(NOT_READY, code))
        yield evidence[-1]
        w.wait(w.rng.randint(lo, hi))
    yield w.emit(READY)
    w.aux_free_at = w.t + PROFILE_CLEARANCE_S
    details = {"codes": codes, "min_switches": p.min_switches, "window_s": p.switch_window_s}
    _record(w, "aux_jumping", "rapid_switching", evidence, details)


def aux_after_contact(w: ShiftWriter) -> Iterator[SimEvent]:
    """aux_after_contact: ``min_count`` contacts each followed (after ACW) by PERSONAL."""
    p = w.policy
    evidence: list[SimEvent] = []
    contact_ends: list[str] = []
    for _ in range(p.aac_min_count):
        w.wait(w.rng.randint(10, 90))
        yield w.emit(CONTACT_START)
        w.wait(w.rng.randint(120, 400))
        end = w.emit(CONTACT_END)
        contact_ends.append(end.event_id)
        yield end
        _after_contact(w, 10, 60)
        evidence.append(w.emit(NOT_READY, p.personal_code))
        yield evidence[-1]
        w.wait(w.rng.randint(120, 300))
        yield w.emit(READY)
    w.aux_free_at = w.t + PROFILE_CLEARANCE_S
    details = {
        "contact_end_event_ids": contact_ends,
        "min_count": p.aac_min_count,
        "window_s": p.aac_window_s,
    }
    _record(w, "aux_after_contact", "aux_after_contact", evidence, details)


def short_aux(w: ShiftWriter) -> Iterator[SimEvent]:
    """short_aux: ``min_count`` PERSONAL stretches of 5-20 s, 5.5-10 minutes apart.

    Met when the last short stretch closes (its ``ready``), the first moment it is known short.
    """
    p = w.policy
    spacing_hi = min(600, int(p.short_window_s * 0.85 / max(1, p.short_min_count - 1)))
    top = max(5, min(20, int(p.short_max_s) - 5))
    evidence: list[SimEvent] = []
    stretches: list[dict[str, Any]] = []
    for i in range(p.short_min_count):
        if i:
            target = evidence[-1].ts + w.rng.randint(min(360, spacing_hi), spacing_hi) - 60
            yield from w.fill_until(target)
        w.wait(w.rng.randint(30, 60))
        start = w.emit(NOT_READY, p.personal_code)
        evidence.append(start)
        yield start
        w.wait(w.rng.randint(5, top))
        end = w.emit(READY)
        yield end
        stretch = {"start_event_id": start.event_id, "end_event_id": end.event_id}
        stretches.append({**stretch, "duration_s": end.ts - start.ts})
    w.aux_free_at = w.t + PROFILE_CLEARANCE_S
    details = {
        "stretches": stretches,
        "min_count": p.short_min_count,
        "max_s": p.short_max_s,
        "window_s": p.short_window_s,
    }
    window = (evidence[0].ts, w.t)
    _record(w, "short_aux", "short_aux", evidence, details, expected_ts=w.t, window=window)


def _break_limit(p: SimPolicy) -> int:
    return int(p.limit(p.break_code, 900))


def long_break(w: ShiftWriter) -> Iterator[SimEvent]:
    """occurrence_limit: one break 5-10 minutes over its limit (20-25 min for 15 min).

    Met at the crossing, ``max_occurrence_s`` after the break started, while still on it.
    """
    p = w.policy
    limit = _break_limit(p)
    duration = w.rng.randint(limit + 300, limit + 600)
    duration = max(limit + 60, min(duration, int(p.max_daily_s.get(p.break_code, 1e9)) - 60))
    w.wait(w.rng.randint(30, 90))
    start = w.emit(NOT_READY, p.break_code)
    yield start
    w.wait(duration)
    end = w.emit(READY)
    yield end
    w.aux_free_at = w.t + PROFILE_CLEARANCE_S
    details = {"duration_s": duration, "max_occurrence_s": limit, "end_event_id": end.event_id}
    _record(
        w,
        "long_break",
        "occurrence_limit",
        [start],
        details,
        reason_code=p.break_code,
        expected_ts=start.ts + limit,
        window=(start.ts, end.ts),
    )


def time_out_after_long_contact(w: ShiftWriter) -> Iterator[SimEvent]:
    """A 16-25 min contact, then the check-in code for 2-5 min: a check-in, no detection."""
    p = w.policy
    code = p.check_in_code or p.personal_code
    w.wait(w.rng.randint(10, 60))
    contact = w.emit(CONTACT_START)
    yield contact
    talk = w.rng.randint(16 * 60, 25 * 60)
    w.wait(talk)
    yield w.emit(CONTACT_END)
    _after_contact(w, 10, 60)
    timeout = w.emit(NOT_READY, code)
    yield timeout
    w.wait(w.rng.randint(120, int(min(300.0, 0.8 * p.limit(code, 600)))))
    end = w.emit(READY)
    yield end
    w.aux_free_at = w.t + PROFILE_CLEARANCE_S
    details = {
        "expects": "checkin",
        "checkin_event_id": timeout.event_id,
        "contact_start_event_id": contact.event_id,
        "contact_s": talk,
        "timeout_s": end.ts - timeout.ts,
        "end_event_id": end.event_id,
    }
    _record(
        w,
        "time_out_after_long_contact",
        None,
        [timeout],
        details,
        reason_code=code,
        window=(contact.ts, end.ts),
    )


ROUTINES: dict[str, tuple[Routine, Callable[[SimPolicy], int]]] = {
    "aux_jumping": (aux_jumping, lambda p: 900),
    "aux_after_contact": (aux_after_contact, lambda p: 1000 * p.aac_min_count),
    "short_aux": (short_aux, lambda p: 700 * p.short_min_count),
    "long_break": (long_break, lambda p: _break_limit(p) + 800),
    "time_out_after_long_contact": (time_out_after_long_contact, lambda p: 2100),
}
"""Profile name -> (routine, worst-case span in seconds under a policy)."""


def plan_profile(w: ShiftWriter, profile: str, activities: list[Activity]) -> list[Activity]:
    """Place the profile's routine in the shift and clear normal activities around it."""
    routine, span_of = ROUTINES[profile]
    span, plan = span_of(w.policy), w.plan
    earliest, latest = plan.login_ts + 2400, plan.end_ts - span - 1200
    if latest < earliest:
        w.manifest.not_injected.append(
            {"agent_id": plan.agent_id, "profile": profile, "why": "shift too short"}
        )
        return activities
    at = w.rng.randint(earliest, latest)
    kept = [a for a in activities if abs(a.at - at) >= CLEAR_AROUND_S]
    if profile == "long_break":
        kept = [a for a in kept if a.code != w.policy.break_code]
    kept.append(Activity(at, span, routine, profile=profile, clearance=PROFILE_CLEARANCE_S))
    return kept


def lost_logout_stop(w: ShiftWriter) -> int:
    """When a lost-logout agent's events stop: 40-70% into the shift, once ready."""
    length = w.plan.end_ts - w.plan.login_ts
    return w.plan.login_ts + int(length * w.rng.uniform(0.4, 0.7))


def record_lost_logout(w: ShiftWriter) -> None:
    """The agent's last event stands; stuck_state is due ``stuck_after_s`` after it."""
    last = w.last
    if last is None:  # pragma: no cover - a shift always starts with a login
        return
    stuck_after = int(w.policy.stuck_after_s)
    details: dict[str, Any] = {"stuck_after_s": stuck_after, "raised_within_run": False}
    _record(
        w,
        "lost_logout",
        "stuck_state",
        [last],
        details,
        expected_ts=last.ts + stuck_after,
        window=(w.plan.login_ts, last.ts),
    )
