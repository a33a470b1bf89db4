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
from typing import Final

from auxstream.domain import rules, timeline
from auxstream.domain.calendar import Calendar, calendar_for
from auxstream.domain.events import CONTACT_END, CONTACT_START, LOGIN, LOGOUT, NOT_READY, AgentEvent
from auxstream.domain.outputs import (
    APPLIED,
    DUPLICATE,
    LATE,
    NOOP,
    CheckIn,
    Duration,
    Outcome,
    Output,
    Segment,
)
from auxstream.domain.policy import CodePolicy, Policy
from auxstream.domain.state import (
    LOGGED_OUT,
    NO_TIME,
    ON_CONTACT,
    READY,
    AgentState,
    CodeTime,
)
from auxstream.domain.state import NOT_READY as NOT_READY_STATE
from auxstream.domain.timefmt import DAY_MS, HOUR_MS
from auxstream.domain.wording import code_name

Step = tuple[AgentState, list[Output]]

__all__ = ["advance", "apply", "new_agent", "next_due", "release"]


class _LastCalendar:
    """The calendar of the policy used last: one identity check per call instead of an
    ``lru_cache`` lookup (policies are frozen, so the same object has the same calendar)."""

    __slots__ = ("cal", "policy")

    def __init__(self) -> None:
        self.policy: Policy | None = None
        self.cal: Calendar | None = None


_LAST: Final = _LastCalendar()


def _calendar(policy: Policy) -> Calendar:
    """``calendar_for`` the policy's zone and interval."""
    last = _LAST
    cal = last.cal
    if cal is None or last.policy is not policy:
        cal = calendar_for(policy.timezone, policy.interval_minutes)
        last.policy = policy
        last.cal = cal
    return cal


def new_agent(agent_id: str) -> AgentState:
    return AgentState(agent_id)


def apply(state: AgentState, event: AgentEvent, policy: Policy) -> Step:
    """Receive one valid event of ``state``'s agent."""
    out: list[Output] = []
    event_id = event.event_id
    seen = state.seen
    if event_id in seen:
        out.append(Outcome(event, DUPLICATE))
        return state, out
    ts = event.ts
    seq = event.seq
    order = -1 if seq is None else seq
    # (ts, order) < (last_ts, last_order), and below (ts, order) >= newest.order_key(),
    # compared field by field: no tuple is built, and compiled code compares machine
    # integers (before any event, last_ts is NO_TIME, before every time).
    last_ts = state.last_ts
    if ts < last_ts or (ts == last_ts and order < state.last_order):
        out.append(Outcome(event, LATE, "late: older than an event already applied for this agent"))
        return state, out
    seen.append(event_id)
    held = state.held
    if not held:
        held.append(event)
    else:
        newest = held[-1]
        newest_ts = newest.ts
        newest_seq = newest.seq
        if newest_ts < ts or (
            newest_ts == ts and (-1 if newest_seq is None else newest_seq) <= order
        ):
            held.append(event)
        else:
            insort(held, event, key=AgentEvent.order_key)
    # Held events are in event-time order, so the newest is the last one.
    cutoff = held[-1].ts - int(policy.grace_s * 1000)
    if held[0].ts <= cutoff:
        cal = _calendar(policy)
        while held and held[0].ts <= cutoff:
            _apply_released(state, held.pop(0), policy, cal, out)
    return state, out


def release(state: AgentState, policy: Policy) -> Step:
    """Apply every held event now (grace expired, or the input ended)."""
    out: list[Output] = []
    cal = _calendar(policy)
    while state.held:
        _apply_released(state, state.held.pop(0), policy, cal, out)
    return state, out


def advance(state: AgentState, watermark: int, policy: Policy) -> Step:
    """Carry the agent to ``watermark``, never past an event it still holds."""
    out: list[Output] = []
    if state.committed == NO_TIME:
        return state, out
    until = watermark
    if state.held and state.held[0].ts < until:
        until = state.held[0].ts
    reached = state.advanced_to if state.advanced_to > state.committed else state.committed
    if until <= reached:
        return state, out
    cal = _calendar(policy)
    timeline.limits_until(state, until, policy, cal, out)
    timeline.provisional_until(state, until, cal, out, revise=False)
    state.advanced_to = until
    return state, out


def next_due(state: AgentState, policy: Policy) -> int | None:
    """The earliest watermark at which ``advance`` would produce something."""
    return timeline.next_due(state, policy, _calendar(policy))


def _target(event: AgentEvent, policy: Policy) -> tuple[str, str | None]:
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


def _apply_released(
    state: AgentState, event: AgentEvent, policy: Policy, cal: Calendar, out: list[Output]
) -> None:
    # The hot path of the core: once per applied event. The common cases are tested
    # inline before calling out (each call is a measurable part of an event's cost).
    ts = event.ts
    committed = state.committed
    if committed == NO_TIME:
        state.committed = ts
    elif ts > committed:
        current = state.state
        # limits_until does nothing for a logged-out agent, and for ready or on-contact
        # only the stuck check: skip the call when that cannot fire.
        if current == NOT_READY_STATE or (
            current != LOGGED_OUT
            and not state.stuck_fired
            and state.last_ts != NO_TIME
            and ts > state.last_ts + int(policy.stuck_after_s * 1000)
        ):
            timeline.limits_until(state, ts, policy, cal, out)
        iv_start = state.iv_start
        if iv_start != NO_TIME and ts < iv_start + cal.interval_ms and not state.provisional:
            # timeline.commit_until's fast path, written out: still inside the open interval.
            ms = ts - committed
            if current == ON_CONTACT:
                state.iv_contact += ms
            elif current == READY:
                state.iv_ready += ms
            elif current == NOT_READY_STATE:
                state.iv_not_ready += ms
                code = state.reason_code or ""
                state.iv_codes[code] = state.iv_codes.get(code, 0) + ms
            state.committed = ts
        else:
            timeline.commit_until(state, ts, cal, out)
    if event.team is not None:
        state.team = event.team
    kind = event.type
    if kind == CONTACT_START:
        new_state, new_code = ON_CONTACT, None
    elif kind == READY:
        new_state, new_code = READY, None
    else:
        new_state, new_code = _target(event, policy)
    implicit = state.state == LOGGED_OUT and kind != LOGIN and kind != LOGOUT
    entry = policy.code_for(state.team, new_code) if new_code is not None else None
    unknown = new_code if new_code is not None and entry is None else None
    seq = event.seq
    state.last_ts = ts
    state.last_order = -1 if seq is None else seq
    event_id = event.event_id
    state.last_event_id = event_id
    state.stuck_fired = False
    changed = new_state != state.state or new_code != state.reason_code
    if changed:
        _close_stretch(state, ts, event_id, policy, cal, out)
        _open_stretch(state, event, new_state, new_code, entry, policy, cal, out)
    out.append(Outcome(event, APPLIED if changed else NOOP, None, implicit, unknown))
    advanced_to = state.advanced_to
    if advanced_to > ts:
        if changed:
            timeline.limits_until(state, advanced_to, policy, cal, out)
            timeline.provisional_until(state, advanced_to, cal, out, revise=True)
    else:
        state.advanced_to = NO_TIME
    if ts - state.seen_pruned_at >= HOUR_MS:
        _forget_old(state, ts, cal)


def _close_stretch(
    state: AgentState, end: int, end_event_id: str, policy: Policy, cal: Calendar, out: list[Output]
) -> None:
    current = state.state
    if current == LOGGED_OUT:
        return
    since = state.since
    duration = end - since
    code = state.reason_code
    if current == ON_CONTACT:
        state.after_contact_pending = True
    elif current == READY and state.after_contact_pending:
        gap = policy.rules.aux_after_contact
        if gap is None or duration >= gap.ready_gap_s * 1000:
            state.after_contact_pending = False
    if duration <= 0:
        return
    out.append(
        Segment(
            state.agent_id,
            state.team,
            current,
            code,
            since,
            end,
            state.since_event_id,
            end_event_id,
        )
    )
    if current != NOT_READY_STATE or code is None:
        return
    tally = state.by_code.get(code)
    if tally is None:
        tally = state.by_code[code] = CodeTime()
    start = since
    while True:
        day = cal.day_of(start)
        piece_end = cal.day_start(day + 1)
        if piece_end > end:
            piece_end = end
        # CodeTime.add, written out for the common case: the same day as the last stretch.
        if day == tally.day:
            tally.day_ms += piece_end - start
        else:
            tally.add(day, piece_end - start)
        if piece_end >= end:
            break
        start = piece_end
    # The last piece ends at ``end``, so its day holds ``end - 1``: the stretch's day.
    tally.day_count += 1
    # The code's time in the last hour: its stretches ending within the hour, the oldest cut
    # at the hour's start. A running total of the kept stretches, not a sum over them at
    # every close: an agent's stretches follow one another, so only the oldest kept one can
    # start before the hour, and a busy code (ACW after every contact) keeps a dozen, each
    # a read of memory no longer cached.
    hour = tally.hour
    hour.append(since)
    hour.append(end)
    kept = tally.hour_ms + duration
    hour_ago = end - HOUR_MS
    while hour[1] <= hour_ago:
        kept -= hour[1] - hour[0]
        del hour[:2]
    tally.hour_ms = kept
    first_start = hour[0]
    last_hour = kept - (hour_ago - first_start if first_start < hour_ago else 0)
    out.append(
        Duration(
            state.agent_id,
            state.team,
            cal.day_text(day),
            code,
            tally.day_ms,
            tally.day_count,
            last_hour,
            end,
        )
    )
    if state.chosen and state.since_event_id is not None:
        out.extend(rules.on_short_stretch(state, policy, cal, end, duration, state.since_event_id))


def _open_stretch(
    state: AgentState,
    event: AgentEvent,
    new_state: str,
    new_code: str | None,
    entry: CodePolicy | None,
    policy: Policy,
    cal: Calendar,
    out: list[Output],
) -> None:
    """Enter the new state; ``entry`` is ``new_code``'s policy for the agent's team."""
    if state.state == LOGGED_OUT and state.iv_start == NO_TIME:
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
    if entry is not None and entry.check_in:
        state.after_contact_pending = False
        label = code_name(new_code, entry.label)
        out.append(
            CheckIn(
                hashlib.blake2b(
                    f"checkin\x1f{state.agent_id}\x1f{event.event_id}".encode(), digest_size=12
                ).hexdigest(),
                state.agent_id,
                state.team,
                new_code,
                event.ts,
                f"{state.agent_id} selected {label} at {cal.local_clock(event.ts)}; "
                "their team leader may want to check in with them.",
            )
        )
        return
    if new_code == policy.after_contact_code:
        return
    state.chosen = True
    out.extend(rules.on_chosen_code(state, policy, cal, event.ts, event.event_id))


def _forget_old(state: AgentState, now: int, cal: Calendar) -> None:
    """Keep memory bounded by agents, not events: drop what no rule can look at again.

    Called at most once an hour of event time per agent.
    """
    state.seen_pruned_at = now
    horizon = now - DAY_MS - HOUR_MS
    # Every id accepted so far is at most ``newest``: applied events are at most ``now`` and
    # held ones at most the newest held. An hourly mark records that bound with the count;
    # a prefix of ids is forgotten once its mark's bound falls behind the horizon, so every
    # id is kept at least 24 h of event time, and no id's time needs storing.
    newest = now
    held = state.held
    if held and held[-1].ts > newest:
        newest = held[-1].ts
    marks = state.seen_marks
    seen = state.seen
    kept = len(seen)
    if not marks or marks[-1][0] != kept:
        marks.append((kept, newest))
    cut = 0
    drop = 0
    for count, bound in marks:
        if bound >= horizon:
            break
        cut = count
        drop += 1
    if drop:
        seen.drop(cut)
        state.seen_marks = [(count - cut, bound) for count, bound in marks[drop:]]
    if state.daily_fired:
        # A daily limit is looked for only from the day the open stretch began, and that
        # day never goes back: earlier days' marks are never read again.
        since_day = cal.day_of(state.since)
        state.daily_fired = {(day, code) for day, code in state.daily_fired if day >= since_day}
