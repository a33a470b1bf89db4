"""The simulated centre the demo feeds to the worker: one period after another.

Each period is a ``simulate`` run of its own (the next seed, starting where the last one
ended), so the floor opens, works its shifts and closes, then opens again, for as long as
the demo runs. Paced by event time from the first period's start, they form one stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from auxstream.simulate import SimulationConfig, load_policy, simulate_messages
from auxstream.simulate.wire import Message


@dataclass(frozen=True)
class FeedPlan:
    """What to simulate."""

    agents: int
    """Agents on the floor (A00001, ...)."""
    hours: float
    """Length of one period; shifts of up to nine hours fit in the default."""
    seed: int
    """Seed of the first period; period k uses seed + k."""
    start: datetime
    """Start of the first period (UTC)."""
    policy: Path
    """The policy file whose codes and thresholds the simulated agents follow or cross."""
    repeat: bool = True
    """Periods follow each other until the consumer stops reading; False: one period."""

    @property
    def start_ts(self) -> int:
        return int(self.start.timestamp())


def configs(plan: FeedPlan) -> Iterator[SimulationConfig]:
    """The config of each period, in order (validated, so a bad plan fails on the first)."""
    policy = load_policy(plan.policy)
    period = 0
    while True:
        yield SimulationConfig(
            agents=plan.agents,
            hours=plan.hours,
            seed=plan.seed + period,
            start=plan.start + timedelta(hours=plan.hours * period),
            policy=policy,
        )
        period += 1
        if not plan.repeat:
            return


def messages(plan: FeedPlan) -> Iterator[Message]:
    """Every period's messages in delivery order, keyed by agent_id."""
    for config in configs(plan):
        yield from simulate_messages(config)
