"""What the demo's view knows about the floor: plain state fed by two streams, no I/O.

``Floor.sent`` sees every agent event the demo produces (so agents' states are what the
ACD reports, at once); ``Floor.received`` sees every output record the worker publishes
(time by code, detections, check-ins and the record counts come from there). Records can
repeat (at-least-once): detections and check-ins are kept once per id, durations by
(agent, code) at their newest ``as_of``.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

RECORD_KINDS = ("segments", "intervals", "durations", "detections", "checkins", "deadletters")
"""Output record kinds, in the contract's order (contract §3)."""

LOGGED_OUT, READY, ON_CONTACT, NOT_READY = "logged_out", "ready", "on_contact", "not_ready"


@dataclass(frozen=True)
class FloorPolicy:
    """The few policy facts the view needs."""

    timezone: str = "UTC"
    """Local times and "today" follow this zone."""
    after_contact_code: str | None = None
    """The not-ready code ``contact_end`` leads to (None: ready)."""
    labels: dict[str, str] = field(default_factory=dict)
    """Code -> label, in the policy's order."""


@dataclass(slots=True)
class AgentNow:
    """One agent as its latest applied event left it."""

    team: str
    state: str
    code: str | None
    at: tuple[str, int]
    """(ts text, seq) of the event applied last; older events are not applied (late)."""


@dataclass(frozen=True)
class Shown:
    """A detection or check-in as the view lists it."""

    local_time: str
    """HH:MM:SS in the policy's zone."""
    kind: str
    """Rule of a detection; the reason code of a check-in."""
    agent_id: str
    team: str
    message: str


class Floor:
    """The view's state; ``sent`` and ``received`` change it, everything else reads it."""

    def __init__(self, policy: FloorPolicy, keep: int = 50) -> None:
        self.policy = policy
        self.zone = ZoneInfo(policy.timezone)
        self.agents: dict[str, AgentNow] = {}
        self.events_sent = 0
        self.records: Counter[str] = Counter()
        """Kind -> records received (repeats included)."""
        self.detections_by_rule: Counter[str] = Counter()
        """Rule -> distinct detections."""
        self.checkins_total = 0
        """Distinct check-ins."""
        self.dead_letters: Counter[str] = Counter()
        """Reason (invalid, late) -> dead letters."""
        self.detections: deque[Shown] = deque(maxlen=keep)
        self.checkins: deque[Shown] = deque(maxlen=keep)
        self._ids: set[str] = set()
        self._durations: dict[tuple[str, str], tuple[str, str, float, int]] = {}
        """(agent, code) -> (as_of, day, today_s, today_count) of the newest durations record."""

    # ------------------------------------------------------------------ input events
    def sent(self, value: bytes) -> None:
        """An agent event the demo produced; the few malformed ones are left out."""
        self.events_sent += 1
        try:
            event = orjson.loads(value)
            agent_id, ts, kind = event["agent_id"], event["ts"], event["type"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        code = event.get("reason_code")
        at = (str(ts), int(event.get("seq") or 0))
        now = self.agents.get(agent_id)
        if now is not None and at < now.at:
            return  # late: the worker will not apply it either
        state, code = self._next_state(kind, code)
        if state is None or (kind == NOT_READY and code is None):
            return
        team = event.get("team") or (now.team if now is not None else "-")
        self.agents[agent_id] = AgentNow(str(team), state, code, at)

    def _next_state(self, kind: str, code: Any) -> tuple[str | None, str | None]:
        """The contract's state table (§2)."""
        if kind == "login":
            return (NOT_READY, str(code)) if code else (READY, None)
        if kind == "logout":
            return LOGGED_OUT, None
        if kind == "ready":
            return READY, None
        if kind == NOT_READY:
            return NOT_READY, str(code) if code else None
        if kind == "contact_start":
            return ON_CONTACT, None
        if kind == "contact_end":
            acw = self.policy.after_contact_code
            return (NOT_READY, acw) if acw else (READY, None)
        return None, None

    # ------------------------------------------------------------------ output records
    def received(self, kind: str, value: bytes) -> None:
        """One output record of ``kind`` (a name of RECORD_KINDS)."""
        self.records[kind] += 1
        try:
            record = orjson.loads(value)
        except orjson.JSONDecodeError:
            return
        if not isinstance(record, dict):
            return
        if kind == "durations":
            self._duration(record)
        elif kind == "detections":
            self._detection(record)
        elif kind == "checkins":
            self._checkin(record)
        elif kind == "deadletters":
            self.dead_letters[str(record.get("reason"))] += 1

    def _duration(self, r: dict[str, Any]) -> None:
        key = (str(r.get("agent_id")), str(r.get("reason_code")))
        as_of = str(r.get("as_of"))
        old = self._durations.get(key)
        if old is None or as_of >= old[0]:
            self._durations[key] = (
                as_of,
                str(r.get("day")),
                float(r.get("today_s") or 0),
                int(r.get("today_count") or 0),
            )

    def _detection(self, r: dict[str, Any]) -> None:
        if not self._first("detection", r.get("detection_id")):
            return
        rule = str(r.get("rule"))
        self.detections_by_rule[rule] += 1
        self.detections.append(self._shown(r, rule))

    def _checkin(self, r: dict[str, Any]) -> None:
        if self._first("checkin", r.get("checkin_id")):
            self.checkins_total += 1
            self.checkins.append(self._shown(r, str(r.get("reason_code"))))

    def _first(self, kind: str, record_id: Any) -> bool:
        """True the first time an id is seen (records may repeat after a worker restart)."""
        if record_id is None:
            return True
        text = f"{kind}:{record_id}"
        if text in self._ids:
            return False
        self._ids.add(text)
        return True

    def _shown(self, r: dict[str, Any], kind: str) -> Shown:
        return Shown(
            self.local_time(r.get("ts")),
            kind,
            str(r.get("agent_id")),
            str(r.get("team") or "-"),
            str(r.get("message") or ""),
        )

    # ------------------------------------------------------------------ questions
    def local_time(self, ts: Any, fmt: str = "%H:%M:%S") -> str:
        """An RFC 3339 text (or epoch seconds) as local time in the policy's zone."""
        try:
            when = (
                datetime.fromtimestamp(ts, self.zone)
                if isinstance(ts, int | float)
                else (datetime.fromisoformat(str(ts)).astimezone(self.zone))
            )
        except (ValueError, OverflowError, OSError):
            return "?"
        return when.strftime(fmt)

    def states_by_team(self) -> dict[str, Counter[str]]:
        """Team -> agents per state (``ready``, ``on_contact``, ...) and per ``code:<code>``."""
        teams: dict[str, Counter[str]] = {}
        for agent in self.agents.values():
            counts = teams.setdefault(agent.team, Counter())
            counts[agent.state] += 1
            if agent.state == NOT_READY and agent.code is not None:
                counts[f"code:{agent.code}"] += 1
        return dict(sorted(teams.items()))

    def time_by_code(self) -> tuple[str | None, list[tuple[str, float, int, int]]]:
        """(newest local day, [(code, total seconds, stretches, agents)]) from the durations."""
        if not self._durations:
            return None, []
        day = max(d for _, d, _, _ in self._durations.values())
        totals: dict[str, list[float]] = {}
        for (_, code), (_, d, seconds, count) in self._durations.items():
            if d == day:
                row = totals.setdefault(code, [0.0, 0, 0])
                row[0] += seconds
                row[1] += count
                row[2] += 1
        order = {code: i for i, code in enumerate(self.policy.labels)}
        rows = sorted(totals.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
        return day, [(code, s, int(n), int(a)) for code, (s, n, a) in rows]
