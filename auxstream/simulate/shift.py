"""One agent's shift as a lazy, time-ordered stream of events.

A shift is a loop of contacts (ready gap, talk, after-contact work, ready) interrupted by
planned activities: breaks, lunch, training, personal time, and the behaviour profiles. The
generator keeps only the agent's current time and its remaining plan, so a whole centre can
be merged by time with memory bounded by the number of agents.

Normal agents are kept clear of every detection the contract's example policy defines:
stretches stay between 30 s and 93% of a code's limit, daily totals stay under the daily
limit, and an agent-chosen code is only entered after at least 30 s of being ready and at
least 5 minutes after the previous one ended.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from auxstream.simulate.manifest import Manifest
from auxstream.simulate.policy import SimPolicy
from auxstream.simulate.wire import SimEvent

LOGIN, LOGOUT, READY, NOT_READY = "login", "logout", "ready", "not_ready"
CONTACT_START, CONTACT_END = "contact_start", "contact_end"

AUX_SPACING_S = 300
"""Normal agents wait this long after one agent-chosen stretch before the next."""
QUEUED_CALL_SHARE = 0.1
"""Share of contacts offered one second after the agent became ready (a call was waiting)."""


@dataclass(frozen=True)
class AgentPlan:
    """Who the agent is and when the shift runs (decided before any event is generated)."""

    index: int
    agent_id: str
    team: str
    profile: str | None
    """The behaviour profile assigned to this agent, None for a normal agent."""
    login_ts: int
    end_ts: int
    """No new contact or activity starts if it could not finish before this time."""


class ShiftWriter:
    """Emits one agent's events in time order and holds the agent's clock and draws."""

    def __init__(
        self, plan: AgentPlan, policy: SimPolicy, rng: random.Random, seed: int, manifest: Manifest
    ) -> None:
        self.plan = plan
        self.policy = policy
        self.rng = rng
        self.manifest = manifest
        self.t = plan.login_ts
        """The agent's clock: event time of the next event, in seconds."""
        self.seq = 0
        self.aux_free_at = plan.login_ts
        """Earliest time at which a normal agent may choose a not-ready code again."""
        self.last: SimEvent | None = None
        self._prefix = f"sim-{seed}-{plan.agent_id}-"

    def emit(self, type_: str, reason_code: str | None = None) -> SimEvent:
        """A new event at the agent's current time; check-ins are recorded as they happen."""
        event = SimEvent(self._prefix + str(self.seq), self.t, type_, reason_code, self.seq)
        self.seq += 1
        self.last = event
        manifest = self.manifest
        manifest.events_by_type[type_] += 1
        if self.t > manifest.max_ts:
            manifest.max_ts = self.t
        if reason_code is not None and reason_code == self.policy.check_in_code:
            manifest.add_checkin(
                self.plan.agent_id, self.plan.team, event.event_id, self.t, reason_code
            )
        return event

    def wait(self, seconds: float) -> None:
        """Advance the clock by at least one second, so event times strictly increase."""
        self.t += max(1, int(seconds))

    @property
    def is_ready(self) -> bool:
        """Whether the agent is ready now (so a shift may end or a code may be chosen)."""
        last = self.last
        if last is None:
            return False
        if last.type == CONTACT_END:
            return self.policy.after_contact_code is None
        return last.type in (LOGIN, READY)

    def ready_gap_s(self) -> int:
        """Time ready before the next contact: exponential, or 1 s when a call was queued."""
        if self.rng.random() < QUEUED_CALL_SHARE:
            return 1
        return 2 + int(self.rng.expovariate(1 / 30))

    def talk_s(self, cap: int = 2400) -> int:
        """Handle time: lognormal around five minutes, at least 20 s."""
        return max(20, min(cap, int(self.rng.lognormvariate(5.6, 0.55))))

    def acw_s(self) -> int:
        """After-contact work of 10-120 s, kept strictly under the code's limit."""
        code = self.policy.after_contact_code
        top = 110 if code is None else int(min(110, self.policy.limit(code, 120) - 10))
        return self.rng.randint(10, max(10, top))

    def contact(self, gap: int, talk: int, acw: int) -> Iterator[SimEvent]:
        """Ready gap, one contact, then after-contact work ending in ``ready``."""
        self.wait(gap)
        yield self.emit(CONTACT_START)
        self.wait(talk)
        yield self.emit(CONTACT_END)
        if self.policy.after_contact_code is not None:
            self.wait(acw)
            yield self.emit(READY)

    def aux(self, code: str, duration: int) -> Iterator[SimEvent]:
        """A normal agent-chosen stretch: ready for 30-90 s first, then the code, then ready."""
        self.wait(self.rng.randint(30, 90))
        yield self.emit(NOT_READY, code)
        self.wait(max(duration, int(self.policy.short_max_s) + 10))
        yield self.emit(READY)
        self.aux_free_at = self.t + AUX_SPACING_S

    def fill_until(self, target: int, talk_cap: int = 240) -> Iterator[SimEvent]:
        """Take short contacts while they fit before ``target``, then stay ready until it."""
        while True:
            gap, talk, acw = self.ready_gap_s(), self.talk_s(talk_cap), self.acw_s()
            if self.t + gap + talk + acw + 30 > target:
                break
            yield from self.contact(gap, talk, acw)
        self.t = max(self.t, target)


Routine = Callable[[ShiftWriter], Iterator[SimEvent]]


@dataclass(order=True)
class Activity:
    """Something planned at a time: a normal stretch in a code, or a profile's routine."""

    at: int
    span: int = field(compare=False)
    """Worst-case length; the activity is skipped if it cannot finish within the shift."""
    run: Routine = field(compare=False)
    code: str | None = field(default=None, compare=False)
    profile: str | None = field(default=None, compare=False)
    clearance: int = field(default=0, compare=False)
    """Extra quiet time needed after the previous agent-chosen stretch."""


def run_shift(
    w: ShiftWriter, activities: list[Activity], stop_at: int | None
) -> Iterator[SimEvent]:
    """The agent's events from login to logout (or to ``stop_at`` when the logout is lost)."""
    end = w.plan.end_ts
    pending = sorted(activities)
    yield w.emit(LOGIN)
    while True:
        if stop_at is not None and w.t >= stop_at and w.is_ready:
            return
        if pending and pending[0].at <= w.t and w.t >= w.aux_free_at + pending[0].clearance:
            activity = pending.pop(0)
            if w.t + activity.span <= end:
                yield from activity.run(w)
            elif activity.profile is not None:
                w.manifest.not_injected.append(
                    {"agent_id": w.plan.agent_id, "profile": activity.profile, "why": "no room"}
                )
            continue
        gap, talk, acw = w.ready_gap_s(), w.talk_s(), w.acw_s()
        if w.t + gap + talk + acw + 5 > end:
            break
        yield from w.contact(gap, talk, acw)
    for activity in pending:
        if activity.profile is not None:
            w.manifest.not_injected.append(
                {"agent_id": w.plan.agent_id, "profile": activity.profile, "why": "shift ended"}
            )
    w.wait(w.rng.randint(5, 60))
    yield w.emit(LOGOUT)


def _normal_aux(code: str, duration: int) -> Routine:
    def routine(w: ShiftWriter) -> Iterator[SimEvent]:
        return w.aux(code, duration)

    return routine


def plan_normal(w: ShiftWriter) -> list[Activity]:
    """Breaks, lunch, occasional training and personal time, spaced at least 20 min apart."""
    p, rng, plan = w.policy, w.rng, w.plan
    length = plan.end_ts - plan.login_ts
    brk_limit = p.limit(p.break_code, 900)
    slots: list[tuple[float, str]] = []
    if length >= 5.5 * 3600:
        slots = [(0.22, p.break_code), (0.5, p.lunch_code), (0.78, p.break_code)]
    elif length >= 2 * 3600:
        slots = [(0.5, p.break_code)]
    n_breaks = sum(1 for _, code in slots if code == p.break_code) or 1
    brk_top = min(0.93 * brk_limit, (p.max_daily_s.get(p.break_code, 1e9) - 150) / n_breaks)
    wanted: list[tuple[int, int, str]] = []  # (at, duration, code), in priority order
    for frac, code in slots:
        at = plan.login_ts + int(frac * length) + rng.randint(-600, 600)
        if code == p.break_code:
            duration = rng.randint(int(min(0.67 * brk_limit, brk_top)), int(brk_top))
        else:
            top = min(3300.0, 0.92 * p.limit(code, 3600))
            duration = rng.randint(int(min(1800, top * 0.6)), int(top))
        wanted.append((at, duration, code))
    if rng.random() < 0.12 and length >= 3 * 3600:
        top = min(3600.0, 0.9 * p.limit(p.training_code, 3600))
        at = plan.login_ts + int(rng.uniform(0.1, 0.85) * length)
        wanted.append((at, rng.randint(int(top / 2), int(top)), p.training_code))
    for _ in range(rng.choice((0, 0, 1, 1, 2))):
        top = int(min(300.0, 0.9 * p.limit(p.personal_code, 600)))
        at = plan.login_ts + int(rng.uniform(0.05, 0.95) * length)
        wanted.append((at, rng.randint(min(60, top), top), p.personal_code))
    accepted: list[Activity] = []
    for at, duration, code in wanted:
        if all(abs(at - a.at) >= 1200 for a in accepted):
            accepted.append(Activity(at, duration + 200, _normal_aux(code, duration), code=code))
    return accepted
