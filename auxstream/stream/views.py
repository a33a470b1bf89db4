"""What the HTTP API says about one agent or one team: plain dicts from the core's state.

No Faust and no clock here: the API (:mod:`auxstream.stream.api`) passes the agents it owns
and ``as_of``, the newest moment the worker knows about (its watermark, else the agent's
own newest event). Times are the contract's UTC text, durations seconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from auxstream.domain.calendar import calendar_for
from auxstream.domain.policy import Policy
from auxstream.domain.state import LOGGED_OUT, NOT_READY, AgentState
from auxstream.domain.timefmt import format_ts, seconds

MAX_ID_LENGTH = 128
"""Contract §1: agent ids (and team names) are 1-128 characters."""


def agent_time(state: AgentState) -> int:
    """The newest moment the agent's own events (or the watermark) carried it to."""
    return max(state.committed, state.advanced_to, state.since)


def today_by_code(state: AgentState, policy: Policy, as_of: int) -> tuple[str, dict[str, float]]:
    """(local day of ``as_of``, seconds per not-ready code that day, open stretch included)."""
    cal = calendar_for(policy.timezone, policy.interval_minutes)
    day = cal.day_of(as_of)
    totals = {code: tally.ms_on(day) for code, tally in state.by_code.items()}
    if state.state == NOT_READY and state.reason_code is not None:
        # ``by_code`` holds closed stretches only: add the open one's part of the day.
        start = max(state.since, cal.day_start(day))
        if as_of > start:
            totals[state.reason_code] = totals.get(state.reason_code, 0) + (as_of - start)
    return cal.day_text(day), {code: seconds(ms) for code, ms in sorted(totals.items()) if ms > 0}


def open_detections(state: AgentState, policy: Policy, as_of: int) -> list[dict[str, Any]]:
    """Breaches that still hold now: a stretch over its limit the agent is still in, a daily
    limit passed today, a stuck agent still silent. (Window rules are moments, not states.)"""
    out: list[dict[str, Any]] = []
    code = state.reason_code
    if state.state == NOT_READY and code is not None and state.occurrence_fired:
        entry = policy.code_for(state.team, code)
        out.append(
            {
                "rule": "occurrence_limit",
                "reason_code": code,
                "since": format_ts(state.since),
                "threshold_s": entry.max_occurrence_s if entry else None,
            }
        )
    day = calendar_for(policy.timezone, policy.interval_minutes).day_of(as_of)
    for fired_day, fired_code in sorted(state.daily_fired):
        if fired_day == day:
            entry = policy.code_for(state.team, fired_code)
            out.append(
                {
                    "rule": "daily_limit",
                    "reason_code": fired_code,
                    "threshold_s": entry.max_daily_s if entry else None,
                }
            )
    if state.stuck_fired and state.state != LOGGED_OUT:
        out.append({"rule": "stuck_state", "reason_code": code, "since": format_ts(state.since)})
    return out


def agent_view(state: AgentState, policy: Policy, as_of: int | None) -> dict[str, Any]:
    """GET /agents/{agent_id}: where the agent is, since when, today's time by code."""
    moment = max(as_of or 0, agent_time(state))
    day, today = today_by_code(state, policy, moment)
    return {
        "agent_id": state.agent_id,
        "team": state.team,
        "state": state.state,
        "reason_code": state.reason_code,
        "since": format_ts(state.since) if state.since else None,
        "as_of": format_ts(moment),
        "day": day,
        "today_s_by_code": today,
        "open_detections": open_detections(state, policy, moment),
        "held_events": len(state.held),
        "policy_version": policy.version,
    }


def team_view(
    states: Iterable[AgentState], team: str, policy: Policy, as_of: int | None
) -> dict[str, Any]:
    """GET /teams/{team} over one worker's agents; :func:`merge_team_views` adds up workers."""
    by_state: Counter[str] = Counter()
    by_code: Counter[str] = Counter()
    today: Counter[str] = Counter()
    agents = 0
    day: str | None = None
    for state in states:
        if state.team != team:
            continue
        agents += 1
        by_state[state.state] += 1
        if state.state == NOT_READY and state.reason_code is not None:
            by_code[state.reason_code] += 1
        moment = max(as_of or 0, agent_time(state))
        agent_day, codes = today_by_code(state, policy, moment)
        day = max(day or agent_day, agent_day)
        if agent_day == day:
            today.update(codes)
    return {
        "team": team,
        "agents": agents,
        "agents_by_state": dict(sorted(by_state.items())),
        "not_ready_by_code": dict(sorted(by_code.items())),
        "day": day,
        "today_s_by_code": {code: round(s, 3) for code, s in sorted(today.items())},
    }


def merge_team_views(team: str, views: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Add up the team views of every worker (each reports only the agents it owns)."""
    views = list(views)
    days = [v["day"] for v in views if v.get("day")]
    day = max(days) if days else None
    merged: dict[str, Any] = {
        "team": team,
        "agents": 0,
        "agents_by_state": Counter(),
        "not_ready_by_code": Counter(),
        "day": day,
        "today_s_by_code": Counter(),
    }
    for view in views:
        merged["agents"] += int(view.get("agents", 0))
        merged["agents_by_state"].update(view.get("agents_by_state", {}))
        merged["not_ready_by_code"].update(view.get("not_ready_by_code", {}))
        if view.get("day") == day:
            merged["today_s_by_code"].update(view.get("today_s_by_code", {}))
    for key in ("agents_by_state", "not_ready_by_code"):
        merged[key] = dict(sorted(merged[key].items()))
    merged["today_s_by_code"] = {
        code: round(s, 3) for code, s in sorted(merged["today_s_by_code"].items())
    }
    return merged


def check_id(value: str) -> str | None:
    """Why ``value`` cannot be an agent id or team name (contract §1), or None."""
    if not value or len(value) > MAX_ID_LENGTH:
        return f"must be 1-{MAX_ID_LENGTH} characters"
    if any(ord(c) < 32 for c in value):
        return "must not contain control characters"
    return None
