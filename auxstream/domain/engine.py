"""The core's public transitions: ``apply``, ``release`` and ``advance``.

``apply(state, event, policy)`` takes one received event: it is a duplicate, late, or
accepted and held for the grace window; holding it may release older events, which are
then applied in event-time order. ``release`` applies everything still held (grace
expired on the wall clock, or the input ended). ``advance(state, watermark, policy)``
carries a silent agent forward: intervals close, limits and stuck agents are raised at
their exact moments. Each returns the (updated) state and the outputs, in order.

The state object is owned by the caller and updated in place for speed; the returned
state is the same object. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import hashlib
from bisect import insort

from auxstream.domain import rules, timeline
from auxstream.domain.calendar import Calendar, calendar_for
from auxstream.domain.events import CONTACT_END, CONTACT_START, LOGIN, LOGOUT, NOT_READY, AgentEvent
from auxstream.domain.outputs import APPLIED, DUPLICATE, LATE, NOOP, CheckIn, Duration, Outcome, Output, Segment
from auxstream.domain.policy import Policy
from auxstream.domain.state import LOGGED_OUT, ON_CONTACT, READY, AgentState
from auxstream.domain.state import NOT_READY as NOT_READY_STATE
from auxstream.domain.timefmt import DAY_MS, HOUR_MS
from auxstream.domain.wording import code_name

Step = tuple[AgentState, list[Output]]

__all__ = ["advance", "apply", "new_agent", "next_due", "release"]


def new_agent(agent_id: str) -> AgentState:
    return AgentState(agent_id)


def apply(state: AgentState, event: AgentEvent, policy: Policy) -> Step:
    """Receive one valid event of ``state``'s agent."""
    out: list[Output] = []
    if event.event_id in state.seen:
        out.append(Outcome(event, DUPLICATE))
        return state, out
    key = event.order_key()
    if state.last_key is not None and key < state.last_key:
        out.append(Outcome(event, LATE, "late: older than an event already applied for this agent"))
        return state, out
    state.seen[event.event_id] = event.ts
    held = state.held
    if not held or held[-1].order_key() <= key:
        held.append(event)
    else:
        insort(held, event, key=AgentEvent.order_key)
    # Held events are in event-time order, so the newest is the last one.
    cutoff = held[-1].ts - int(policy.grace_s * 1000)
    if held[0].ts <= cutoff:
        cal = calendar_for(policy.timezone, policy.interval_minutes)
        while held and held[0].ts <= cutoff:
            _apply_released(state, held.pop(0), policy, cal, out)
    return state, out


def release(state: AgentState, policy: Policy) -> Step:
    """Apply every held event now (grace expired, or the input ended)."""
    out: list[Output] = []
    cal = calendar_for(policy.timezone, policy.interval_minutes)
    while state.held:
        _apply_released(state, state.held.pop(0), policy, cal, out)
    return state, out


def advance(state: AgentState, watermark: int, policy: Policy) -> Step:
    """Carry the agent to ``watermark``, never past an event it still holds."""
    out: list[Output] = []
    if state.committed is None:
        return state, out
    until = watermark
    if state.held and state.held[0].ts < until:
        until = state.held[0].ts
    reached = state.committed if state.advanced_to is None else max(state.advanced_to, state.committed)
    if until <= reached:
        return state, out
    cal = calendar_for(policy.timezone, policy.interval_minutes)
    timeline.limits_until(state, until, policy, cal, out)
    timeline.provisional_until(state, until, cal, out, revise=False)
    state.advanced_to = until
    return state, out


def next_due(state: AgentState, policy: Policy) -> int | None:
    """The earliest watermark at which ``advance`` would produce something."""
    return timeline.next_due(state, policy, calendar_for(policy.timezone, policy.interval_minutes))


def _target(state: AgentState, event: AgentEvent, policy: Policy) -> tuple[str, str | None]:
    kind = event.type
    if kind == LOGIN:
        return (NOT_READY_STATE, event.reason_code) if event.reason_code else (READY, None)
    if kind == LOGOUT:
        return LOGGED_OUT, None
    if kind == NOT_READY:
        return NOT_READY_STATE, event.reason_code
    if kind == CONTACT_START:
        return ON_CONTACT, None
    if kind == CONTACT_END and policy.after_contact_code:
        return NOT_READY_STATE, policy.after_contact_code
    return READY, None


def _apply_released(state: AgentState, event: AgentEvent, policy: Policy, cal: Calendar, out: list[Output]) -> None:
    ts = event.ts
    if state.committed is None:
        state.committed = ts
    elif ts > state.committed:
        timeline.limits_until(state, ts, policy, cal, out)
        timeline.commit_until(state, ts, cal, out)
    if event.team is not None:
        state.team = event.team
    new_state, new_code = _target(state, event, policy)
    implicit = state.state == LOGGED_OUT and event.type not in (LOGIN, LOGOUT)
    unknown = new_code if new_code is not None and policy.code_for(state.team, new_code) is None else None
    state.last_key = event.order_key()
    state.last_event_id = event.event_id
    state.stuck_fired = False
    changed = new_state != state.state or new_code != state.reason_code
    if changed:
        _close_stretch(state, ts, event.event_id, policy, cal, out)
        _open_stretch(state, event, new_state, new_code, policy, cal, out)
    out.append(Outcome(event, APPLIED if changed else NOOP, None, implicit, unknown))
    if state.advanced_to is not None and state.advanced_to > ts:
        if changed:
            timeline.limits_until(state, state.advanced_to, policy, cal, out)
            timeline.provisional_until(state, state.advanced_to, cal, out, revise=True)
    else:
        state.advanced_to = None
    _forget_old(state, ts)


def _close_stretch(
    state: AgentState, end: int, end_event_id: str, policy: Policy, cal: Calendar, out: list[Output]
) -> None:
    if state.state == LOGGED_OUT:
        return
    duration = end - state.since
    code = state.reason_code
    if state.state == ON_CONTACT:
        state.after_contact_pending = True
    elif state.state == READY and state.after_contact_pending:
        gap = policy.rules.aux_after_contact
        if gap is None or duration >= gap.ready_gap_s * 1000:
            state.after_contact_pending = False
    if duration <= 0:
        return
    out.append(Segment(state.agent_id, state.team, state.state, code, state.since, end,
                       state.since_event_id, end_event_id))
    if state.state != NOT_READY_STATE or code is None:
        return
    day = cal.day_of(end - 1)
    start = state.since
    while True:
        piece_day = cal.day_of(start)
        piece_end = min(end, cal.day_start(piece_day + 1))
        totals = state.days.setdefault(piece_day, {}).setdefault(code, [0, 0])
        totals[0] += piece_end - start
        if piece_end >= end:
            break
        start = piece_end
    state.days[day][code][1] += 1
    recent = state.recent.get(code)
    if recent is None:
        recent = state.recent[code] = []
    recent.append((state.since, end))
    hour_ago = end - HOUR_MS
    while recent[0][1] <= hour_ago:
        del recent[0]
    last_hour = 0
    for s, e in recent:
        last_hour += e - (s if s > hour_ago else hour_ago)
    today = state.days[day][code]
    out.append(Duration(state.agent_id, state.team, cal.day_text(day), code, today[0], today[1], last_hour, end))
    if state.chosen and state.since_event_id is not None:
        out.extend(rules.on_short_stretch(state, policy, cal, end, duration, state.since_event_id))


def _open_stretch(
    state: AgentState, event: AgentEvent, new_state: str, new_code: str | None, policy: Policy, cal: Calendar,
    out: list[Output],
) -> None:
    if state.state == LOGGED_OUT and state.iv_start is None:
        state.iv_start = cal.interval_start(event.ts)
    state.state = new_state
    state.reason_code = new_code
    state.since = event.ts
    state.since_event_id = event.event_id
    state.occurrence_fired = False
    state.chosen = False
    if new_state == LOGGED_OUT:
        state.after_contact_pending = False
        return
    if new_state != NOT_READY_STATE or new_code is None:
        return
    entry = policy.code_for(state.team, new_code)
    if entry is not None and entry.check_in:
        state.after_contact_pending = False
        label = code_name(new_code, entry.label)
        out.append(CheckIn(
            hashlib.blake2b(f"checkin\x1f{state.agent_id}\x1f{event.event_id}".encode(), digest_size=12).hexdigest(),
            state.agent_id, state.team, new_code, event.ts,
            f"{state.agent_id} selected {label} at {cal.local_clock(event.ts)}; "
            "their team leader may want to check in with them.",
        ))
        return
    if new_code == policy.after_contact_code:
        return
    state.chosen = True
    out.extend(rules.on_chosen_code(state, policy, cal, event.ts, event.event_id))


def _forget_old(state: AgentState, now: int) -> None:
    """Keep memory bounded by agents, not events: drop what no rule can look at again."""
    if now - state.seen_pruned_at < HOUR_MS:
        return
    state.seen_pruned_at = now
    horizon = now - DAY_MS - HOUR_MS
    state.seen = {event_id: ts for event_id, ts in state.seen.items() if ts >= horizon}
    if len(state.days) > 2:
        keep = sorted(state.days)[-2:]
        state.days = {day: state.days[day] for day in keep}
        state.daily_fired = {(day, code) for day, code in state.daily_fired if day >= keep[0]}
