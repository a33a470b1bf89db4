"""Carrying an agent's current state forward through time.

Two passes share this code. The *committed* pass runs when the agent's own event arrives:
its state up to that event is certain, so closed intervals are final. The *provisional*
pass runs when only the watermark moved: it assumes the agent is still where it was and
closes intervals and raises limits on that assumption. If a later event of the agent
proves the assumption wrong, the intervals it touched are emitted again with a higher
revision (detections are moments and are not withdrawn).
"""

from __future__ import annotations

from auxstream.domain import rules
from auxstream.domain.calendar import Calendar
from auxstream.domain.outputs import Interval, Output
from auxstream.domain.policy import Policy
from auxstream.domain.state import NO_TIME, NOT_READY, ON_CONTACT, READY, AgentState


def _interval(
    st: AgentState,
    start: int,
    end: int,
    revision: int,
    ready: int,
    contact: int,
    not_ready: int,
    codes: dict[str, int],
) -> Interval:
    return Interval(
        st.agent_id, st.team, start, end, revision, ready, contact, not_ready, dict(codes)
    )


def commit_until(st: AgentState, until: int, cal: Calendar, out: list[Output]) -> None:
    """Accrue the current state from ``st.committed`` to ``until`` and close whole intervals."""
    t = st.committed  # callers only pass agents that have applied an event
    step = cal.interval_ms
    iv_start = st.iv_start
    if iv_start != NO_TIME and until < iv_start + step and not st.provisional:
        # Fast path, most events: still inside the open interval, nothing provisional.
        if until > t:
            _add(st, until - t)
        st.committed = until
        return
    if iv_start == NO_TIME and st.state != "logged_out":
        st.iv_start = cal.interval_start(t)
    while st.iv_start != NO_TIME:
        end = st.iv_start + step
        upto = end if end < until else until
        if upto > t:
            _add(st, upto - t)
            t = upto
        if end > until:
            break
        total = st.iv_ready + st.iv_contact + st.iv_not_ready
        revision = st.provisional.pop(st.iv_start, None)
        if total and revision is None:
            out.append(
                _interval(
                    st,
                    st.iv_start,
                    end,
                    0,
                    st.iv_ready,
                    st.iv_contact,
                    st.iv_not_ready,
                    st.iv_codes,
                )
            )
        st.iv_ready = st.iv_contact = st.iv_not_ready = 0
        if st.iv_codes:
            st.iv_codes = {}
        st.iv_start = end if st.state != "logged_out" else NO_TIME
    if st.provisional:
        for start in [s for s in st.provisional if s + step <= until]:
            del st.provisional[start]
    st.committed = until


def _add(st: AgentState, ms: int) -> None:
    state = st.state
    if state == READY:
        st.iv_ready += ms
    elif state == ON_CONTACT:
        st.iv_contact += ms
    elif state == NOT_READY:
        st.iv_not_ready += ms
        code = st.reason_code or ""
        st.iv_codes[code] = st.iv_codes.get(code, 0) + ms


def provisional_until(
    st: AgentState, until: int, cal: Calendar, out: list[Output], revise: bool
) -> None:
    """Close the intervals that end by ``until`` as if the agent stayed where it is.

    With ``revise`` the agent's state just changed at ``st.committed``: intervals the
    watermark closed earlier are emitted again with their revision one higher.
    """
    t = st.committed  # callers only pass agents that have applied an event
    step = cal.interval_ms
    logged_in = st.state != "logged_out"
    start = (
        st.iv_start if st.iv_start != NO_TIME else (cal.interval_start(t) if logged_in else None)
    )
    ready, contact, not_ready = st.iv_ready, st.iv_contact, st.iv_not_ready
    codes = dict(st.iv_codes)
    visited: set[int] = set()
    while start is not None:
        end = start + step
        if end > until:
            break
        if logged_in and end > t:
            ms = end - t
            if st.state == READY:
                ready += ms
            elif st.state == ON_CONTACT:
                contact += ms
            else:
                not_ready += ms
                code = st.reason_code or ""
                codes[code] = codes.get(code, 0) + ms
            t = end
        visited.add(start)
        previous = st.provisional.get(start)
        if previous is None:
            if ready or contact or not_ready:
                out.append(_interval(st, start, end, 0, ready, contact, not_ready, codes))
                st.provisional[start] = 0
        elif revise:
            out.append(_interval(st, start, end, previous + 1, ready, contact, not_ready, codes))
            st.provisional[start] = previous + 1
        ready = contact = not_ready = 0
        codes = {}
        start = end if logged_in else None
    if revise:
        # Intervals the watermark closed while the agent seemed logged in, now known empty.
        for start in sorted(s for s in st.provisional if s not in visited and s + step <= until):
            revision = st.provisional[start] + 1
            st.provisional[start] = revision
            out.append(_interval(st, start, start + step, revision, 0, 0, 0, {}))


def limits_until(
    st: AgentState, until: int, policy: Policy, cal: Calendar, out: list[Output]
) -> None:
    """Raise the limits crossed before ``until`` while the agent stays in its current state.

    Limits compare strictly: a stretch of exactly the limit is within it, so a crossing at
    moment c is raised only once time has passed c.
    """
    if st.state == "logged_out":
        return
    if not st.stuck_fired and st.last_ts != NO_TIME:
        after_ms = int(policy.stuck_after_s * 1000)
        if until > st.last_ts + after_ms:
            st.stuck_fired = True
            out.append(rules.stuck_state(st, policy, cal, st.last_ts, after_ms))
    if st.state != NOT_READY or st.reason_code is None:
        return
    entry = policy.code_for(st.team, st.reason_code)
    if entry is None:
        return
    if entry.max_occurrence_s is not None and not st.occurrence_fired:
        limit_ms = int(entry.max_occurrence_s * 1000)
        if until > st.since + limit_ms:
            st.occurrence_fired = True
            out.append(rules.occurrence_limit(st, policy, cal, limit_ms))
    if entry.max_daily_s is not None:
        limit_ms = int(entry.max_daily_s * 1000)
        for day, crossing in daily_crossings(st, until, cal, limit_ms):
            if until > crossing:
                st.daily_fired.add((day, st.reason_code))
                out.append(rules.daily_limit(st, policy, cal, day, crossing, limit_ms))


def daily_crossings(
    st: AgentState, until: int, cal: Calendar, limit_ms: int
) -> list[tuple[int, int]]:
    """(day, crossing moment) for each local day the open stretch could push over the limit."""
    code = st.reason_code
    assert code is not None  # noqa: S101 - only called while the agent is in a not-ready code
    found = []
    day = cal.day_of(st.since)
    last_day = cal.day_of(until)
    while day <= last_day:
        if (day, code) not in st.daily_fired:
            day_start = cal.day_start(day)
            portion_start = st.since if st.since > day_start else day_start
            tally = st.by_code.get(code)
            base = tally.ms_on(day) if tally is not None else 0
            crossing = portion_start + max(0, limit_ms - base)
            if crossing < cal.day_start(day + 1):
                found.append((day, crossing))
        day += 1
    return found


def next_due(st: AgentState, policy: Policy, cal: Calendar) -> int | None:
    """The earliest watermark at which ``advance`` would emit something, or None.

    Lets a driver advance only the agents that have something due, instead of every
    agent whenever the watermark moves.
    """
    committed = st.committed
    if committed == NO_TIME:
        return None
    advanced = st.advanced_to
    base = committed if advanced < committed else advanced
    due: int | None = None
    # Called after every event: ``interval_start`` and ``min`` are written out inline.
    if st.state != "logged_out":
        step = cal.interval_ms
        due = base - (base + cal.offset_ms(base)) % step + step
        if not st.stuck_fired and st.last_ts != NO_TIME:
            stuck = st.last_ts + int(policy.stuck_after_s * 1000) + 1
            if stuck < due:
                due = stuck
        if st.state == NOT_READY and st.reason_code is not None:
            entry = policy.code_for(st.team, st.reason_code)
            if entry is not None and entry.max_occurrence_s is not None and not st.occurrence_fired:
                due = min(due, st.since + int(entry.max_occurrence_s * 1000) + 1)
            if entry is not None and entry.max_daily_s is not None:
                for _, crossing in daily_crossings(
                    st, base + 2 * 86_400_000, cal, int(entry.max_daily_s * 1000)
                ):
                    due = min(due, crossing + 1)
                    break
    elif (
        st.iv_start != NO_TIME
        and (st.iv_ready or st.iv_contact or st.iv_not_ready)
        and st.iv_start + cal.interval_ms > base
    ):
        # The interval the agent logged out in still has to close, unless it already has.
        due = st.iv_start + cal.interval_ms
    if due is not None and st.held and due > st.held[0].ts:
        return None
    return due
