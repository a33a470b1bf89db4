"""The simulator as a library: a config in, an iterator of delivered lines out.

Each agent's shift is its own lazy generator with its own ``random.Random`` derived from
the seed and the agent id, so agents do not disturb each other's draws, and the centre is
merged by delivery time through a heap of agents (``merge_by_time``): memory grows with the
number of agents, not with the length of the period. Nothing reads a clock or the global
random generator, so a config gives the same bytes every time.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import asdict
from operator import itemgetter
from typing import Any

from auxstream.simulate.config import MIN_AGENTS_FOR_PROFILES, PROFILES, SimulationConfig
from auxstream.simulate.delivery import agent_deliveries, deliver
from auxstream.simulate.manifest import Manifest
from auxstream.simulate.profiles import lost_logout_stop, plan_profile, record_lost_logout
from auxstream.simulate.shift import LOGOUT, AgentPlan, ShiftWriter, plan_normal, run_shift
from auxstream.simulate.wire import Delivery, Message, SimEvent, output_ts

MERGE_WINDOW_S = 1800
"""Agents are drained half an hour at a time when merging (see ``merge_by_time``)."""
_AGENT = itemgetter(1)
_KEY = itemgetter(0)
SHIFT_HOURS = (4.0, 6.0, 7.5, 8.0, 8.5, 9.0)
SHIFT_WEIGHTS = (1, 1, 2, 4, 2, 1)
MAX_STAGGER_S = 3600
"""Logins spread over the first hour (or the first quarter of a shorter period); in periods
over ten hours, over the whole period less the shift, like a centre open around the clock."""


def agent_id(index: int) -> str:
    """``A00001`` for index 0."""
    return f"A{index + 1:05d}"


def assign_profiles(config: SimulationConfig) -> dict[int, str]:
    """Agent index -> profile, drawn once from ``random.Random(seed)``; distinct agents."""
    n = config.agents
    per = round(n * config.profile_fraction)
    if n >= MIN_AGENTS_FOR_PROFILES:
        per = max(1, per)
    names = [
        p for p in PROFILES if p != "time_out_after_long_contact" or config.policy.check_in_code
    ]
    per = min(per, n // len(names))
    order = list(range(n))
    random.Random(config.seed).shuffle(order)
    return {order[i * per + j]: name for i, name in enumerate(names) for j in range(per)}


def merge_by_time(
    streams: list[Iterator[Delivery]], window_s: int = MERGE_WINDOW_S
) -> Iterator[Delivery]:
    """Merge the agents' deliveries by (key, agent_index, sub), exactly like ``heapq.merge``.

    A heap holds each agent's next delivery; all agents due within the next ``window_s`` are
    drained in agent order and the batch is sorted by key (stable, so ties keep agent and
    ``sub`` order). Draining one agent's generator several events at a time is about twice as
    fast as switching between thousands of generators on every event; memory stays bounded
    by agents times events per window.
    """
    heads: list[tuple[int, int, Delivery]] = []
    for index, stream in enumerate(streams):
        first = next(stream, None)
        if first is not None:
            heads.append((first.key, index, first))
    heapq.heapify(heads)
    while heads:
        end = heads[0][0] + window_s
        due: list[tuple[int, int, Delivery]] = []
        while heads and heads[0][0] < end:
            due.append(heapq.heappop(heads))
        due.sort(key=_AGENT)
        batch: list[Delivery] = []
        for _, index, head in due:
            stream = streams[index]
            item: Delivery | None = head
            while item is not None and item.key < end:
                batch.append(item)
                item = next(stream, None)
            if item is not None:
                heapq.heappush(heads, (item.key, index, item))
        batch.sort(key=_KEY)
        yield from batch


def _lost_logout(w: ShiftWriter, events: Iterator[SimEvent]) -> Iterator[SimEvent]:
    yield from events
    if w.last is not None and w.last.type == LOGOUT:
        w.manifest.not_injected.append(
            {"agent_id": w.plan.agent_id, "profile": "lost_logout", "why": "shift too short"}
        )
    else:
        record_lost_logout(w)


def agent_stream(
    config: SimulationConfig, index: int, profile: str | None, force: bool, manifest: Manifest
) -> Iterator[Delivery]:
    """One agent's shift, planned and generated lazily, as sortable deliveries."""
    aid = agent_id(index)
    rng = random.Random(f"{config.seed}:{aid}:shift")
    start, end = config.start_ts, config.end_ts
    length = int(rng.choices(SHIFT_HOURS, SHIFT_WEIGHTS)[0] * 3600)
    period = end - start
    # A day shift starts within the first hour; a longer period is staffed around the clock.
    spread = min(MAX_STAGGER_S, 0.25 * period) if period <= 10 * 3600 else period - length
    login = start + int(rng.uniform(0, spread))
    shift_end = max(login, min(login + length, end - 60))
    team = config.teams[index % len(config.teams)]
    plan = AgentPlan(index, aid, team, profile, login, shift_end)
    w = ShiftWriter(plan, config.policy, rng, config.seed, manifest)
    activities = plan_normal(w)
    if profile == "lost_logout":
        events = _lost_logout(w, run_shift(w, activities, lost_logout_stop(w)))
    else:
        if profile is not None:
            activities = plan_profile(w, profile, activities)
        events = run_shift(w, activities, None)
    delivery_rng = random.Random(f"{config.seed}:{aid}:delivery")
    yield from agent_deliveries(plan, events, delivery_rng, config.faults, force, config.source)


def describe(config: SimulationConfig) -> dict[str, Any]:
    """The config as the manifest records it (no clock, no paths: the output stays reproducible)."""
    return {
        "seed": config.seed,
        "agents": config.agents,
        "hours": config.hours,
        "start": output_ts(config.start_ts),
        "teams": list(config.teams),
        "profile_fraction": config.profile_fraction,
        "faults": None if config.faults is None else asdict(config.faults),
        "source": config.source,
        "policy_thresholds": asdict(config.policy),
    }


def simulate_messages(
    config: SimulationConfig, manifest: Manifest | None = None
) -> Iterator[Message]:
    """Delivered messages (Kafka key, value, event time) in delivery order.

    ``manifest``, if given, is filled while iterating and complete when the iterator ends.
    """
    manifest = Manifest() if manifest is None else manifest
    manifest.agents = config.agents
    manifest.config = describe(config)
    manifest.late_makes_noop = config.policy.after_contact_code is None
    profiles = assign_profiles(config)
    first_normal = next((i for i in range(config.agents) if i not in profiles), -1)
    streams = [
        agent_stream(config, i, profiles.get(i), i == first_normal, manifest)
        for i in range(config.agents)
    ]
    fault_rng = random.Random(f"{config.seed}:delivery")
    yield from deliver(merge_by_time(streams), config.faults, fault_rng, config.seed, manifest)


def simulate(config: SimulationConfig, manifest: Manifest | None = None) -> Iterator[bytes]:
    """The delivered lines (canonical event JSON, no trailing newline) in delivery order."""
    for message in simulate_messages(config, manifest):
        yield message.value
