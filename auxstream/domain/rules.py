"""Detections: the limit rules, the three window rules and stuck agents.

Every detection has a deterministic id (the same input gives the same id, whichever of
replay or the stream found it and however it was timed) and a timestamp that is the
moment in event time the rule was met, not when anything noticed.
"""

from __future__ import annotations

import hashlib
from typing import Final

from auxstream.domain.calendar import Calendar
from auxstream.domain.outputs import Detection
from auxstream.domain.policy import Policy
from auxstream.domain.state import AgentState
from auxstream.domain.wording import code_name, duration_text

OCCURRENCE_LIMIT: Final = "occurrence_limit"
DAILY_LIMIT: Final = "daily_limit"
RAPID_SWITCHING: Final = "rapid_switching"
AUX_AFTER_CONTACT: Final = "aux_after_contact"
SHORT_AUX: Final = "short_aux"
STUCK_STATE: Final = "stuck_state"
RULES: Final = (
    OCCURRENCE_LIMIT,
    DAILY_LIMIT,
    RAPID_SWITCHING,
    AUX_AFTER_CONTACT,
    SHORT_AUX,
    STUCK_STATE,
)

SEVERITY: Final = {
    OCCURRENCE_LIMIT: "warning",
    DAILY_LIMIT: "warning",
    RAPID_SWITCHING: "info",
    AUX_AFTER_CONTACT: "info",
    SHORT_AUX: "info",
    STUCK_STATE: "warning",
}


def detection_id(rule: str, agent_id: str, *parts: object) -> str:
    key = "\x1f".join([rule, agent_id, *map(str, parts)]).encode()
    return hashlib.blake2b(key, digest_size=12).hexdigest()


def _label(st: AgentState, policy: Policy, code: str | None) -> str:
    entry = policy.code_for(st.team, code) if code else None
    return code_name(code, entry.label if entry else None)


def occurrence_limit(st: AgentState, policy: Policy, cal: Calendar, limit_ms: int) -> Detection:
    crossing = st.since + limit_ms
    name = _label(st, policy, st.reason_code)
    return Detection(
        detection_id(OCCURRENCE_LIMIT, st.agent_id, st.since, st.since_event_id),
        OCCURRENCE_LIMIT,
        st.agent_id,
        st.team,
        crossing,
        SEVERITY[OCCURRENCE_LIMIT],
        st.reason_code,
        limit_ms / 1000,
        limit_ms / 1000,
        st.since,
        crossing,
        [st.since_event_id] if st.since_event_id else [],
        f"{st.agent_id} has been in {name} for more than {duration_text(limit_ms)} in one stretch, "
        f"since {cal.local_clock(st.since)}.",
        policy.version,
    )


def daily_limit(
    st: AgentState, policy: Policy, cal: Calendar, day: int, crossing: int, limit_ms: int
) -> Detection:
    code = st.reason_code
    name = _label(st, policy, code)
    return Detection(
        detection_id(DAILY_LIMIT, st.agent_id, code, day),
        DAILY_LIMIT,
        st.agent_id,
        st.team,
        crossing,
        SEVERITY[DAILY_LIMIT],
        code,
        limit_ms / 1000,
        limit_ms / 1000,
        cal.day_start(day),
        crossing,
        [st.since_event_id] if st.since_event_id else [],
        f"{st.agent_id}'s time in {name} on {cal.day_text(day)} passed the daily "
        f"{duration_text(limit_ms)} at {cal.local_clock(crossing)}.",
        policy.version,
    )


def stuck_state(
    st: AgentState, policy: Policy, cal: Calendar, last: int, after_ms: int
) -> Detection:
    crossing = last + after_ms
    where = st.state if st.reason_code is None else f"{st.state} ({st.reason_code})"
    return Detection(
        detection_id(STUCK_STATE, st.agent_id, last, st.last_event_id),
        STUCK_STATE,
        st.agent_id,
        st.team,
        crossing,
        SEVERITY[STUCK_STATE],
        st.reason_code,
        after_ms / 1000,
        after_ms / 1000,
        last,
        crossing,
        [st.last_event_id] if st.last_event_id else [],
        f"{st.agent_id} has had no state change for {duration_text(after_ms)}, "
        f"since {cal.local_clock(last)} in {where}; the ACD may have missed a logout.",
        policy.version,
    )


def _window(
    evidence: list[tuple[int, str]], now: int, window_ms: int, item: tuple[int, str]
) -> None:
    evidence.append(item)
    cutoff = now - window_ms
    while evidence and evidence[0][0] < cutoff:
        evidence.pop(0)


def _window_detection(
    rule: str,
    st: AgentState,
    policy: Policy,
    cal: Calendar,
    evidence: list[tuple[int, str]],
    min_count: int,
    window_ms: int,
    what: str,
) -> Detection:
    first, last = evidence[0][0], evidence[-1][0]
    ids = [event_id for _, event_id in evidence]
    return Detection(
        detection_id(rule, st.agent_id, *ids),
        rule,
        st.agent_id,
        st.team,
        last,
        SEVERITY[rule],
        st.reason_code,
        float(len(evidence)),
        float(min_count),
        first,
        last,
        ids,
        f"{st.agent_id} {what} {len(evidence)} times within {duration_text(window_ms)} "
        f"({cal.local_clock(first)} to {cal.local_clock(last)}).",
        policy.version,
    )


def on_chosen_code(
    st: AgentState, policy: Policy, cal: Calendar, ts: int, event_id: str
) -> list[Detection]:
    """The agent chose a not-ready code: evidence for rapid_switching and aux_after_contact."""
    found: list[Detection] = []
    rs = policy.rules.rapid_switching
    if rs is not None:
        window_ms = int(rs.window_s * 1000)
        _window(st.switches, ts, window_ms, (ts, event_id))
        if len(st.switches) >= rs.min_switches:
            found.append(
                _window_detection(
                    RAPID_SWITCHING,
                    st,
                    policy,
                    cal,
                    st.switches,
                    rs.min_switches,
                    window_ms,
                    "changed into or between not-ready codes",
                )
            )
            st.switches = []
    aac = policy.rules.aux_after_contact
    if st.after_contact_pending:
        st.after_contact_pending = False
        if aac is not None:
            window_ms = int(aac.window_s * 1000)
            _window(st.after_contact, ts, window_ms, (ts, event_id))
            if len(st.after_contact) >= aac.min_count:
                found.append(
                    _window_detection(
                        AUX_AFTER_CONTACT,
                        st,
                        policy,
                        cal,
                        st.after_contact,
                        aac.min_count,
                        window_ms,
                        "went from a contact into a not-ready code without becoming ready",
                    )
                )
                st.after_contact = []
    return found


def on_short_stretch(
    st: AgentState, policy: Policy, cal: Calendar, end: int, duration_ms: int, start_event_id: str
) -> list[Detection]:
    """A chosen not-ready stretch closed: evidence for short_aux when it was short."""
    rule = policy.rules.short_aux
    if rule is None or duration_ms >= rule.max_s * 1000:
        return []
    window_ms = int(rule.window_s * 1000)
    _window(st.short_stretches, end, window_ms, (end, start_event_id))
    if len(st.short_stretches) < rule.min_count:
        return []
    found = _window_detection(
        SHORT_AUX,
        st,
        policy,
        cal,
        st.short_stretches,
        rule.min_count,
        window_ms,
        f"had a not-ready stretch shorter than {duration_text(rule.max_s * 1000)}",
    )
    st.short_stretches = []
    return [found]
