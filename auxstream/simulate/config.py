"""One frozen, validated settings object for a simulation run.

Everything that changes the output lives here, so the same config (and seed) gives the
same bytes; the generator never reads a clock or the global random generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from auxstream.simulate.policy import SimPolicy

PROFILES = (
    "aux_jumping",
    "aux_after_contact",
    "short_aux",
    "long_break",
    "time_out_after_long_contact",
    "lost_logout",
)
"""Behaviour profiles injected into a minority of agents, in assignment order."""

MIN_AGENTS_FOR_PROFILES = 20
"""From this many agents on, every profile gets at least one agent."""


@dataclass(frozen=True)
class FaultRates:
    """How often each delivery fault is injected; all small on purpose."""

    duplicate: float = 0.001
    """Fraction of delivered lines that are delivered a second time."""
    swap: float = 0.03
    """Fraction of 1-second pairs (ready or contact_end, then contact_start) delivered swapped."""
    late: float = 0.0005
    """Fraction of normal agents' contact_start events delivered 10-20 minutes late."""
    malformed: float = 0.0001
    """Malformed lines inserted per delivered line (at least one of each kind per run)."""

    def __post_init__(self) -> None:
        for name in ("duplicate", "swap", "late", "malformed"):
            value = getattr(self, name)
            if not 0.0 <= value <= 0.5:
                raise ValueError(f"fault rate {name} must be between 0 and 0.5, got {value}")


@dataclass(frozen=True)
class SimulationConfig:
    """A simulated contact-centre period: who works, when, and what goes wrong in delivery."""

    agents: int
    """Number of agents, ids A00001, A00002, ..."""
    hours: float
    """Length of the period; shifts are capped to it."""
    seed: int
    """Same seed, same config: byte-identical output."""
    start: datetime
    """Start of the period; must carry a UTC offset."""
    teams: tuple[str, ...] = ("north", "south", "collections")
    """Teams, assigned to agents round-robin."""
    policy: SimPolicy = field(default_factory=SimPolicy)
    """Codes and thresholds that normal agents respect and profiles cross."""
    faults: FaultRates | None = field(default_factory=FaultRates)
    """Delivery faults; None delivers every event once, in order."""
    profile_fraction: float = 0.03
    """Share of agents given each behaviour profile."""
    source: str = "simulator"
    """The ``source`` field of every event."""

    def __post_init__(self) -> None:
        if self.agents < 1:
            raise ValueError(f"agents must be at least 1, got {self.agents}")
        if not 0 < self.hours <= 48:
            raise ValueError(f"hours must be more than 0 and at most 48, got {self.hours}")
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError("start must carry a UTC offset, e.g. 2026-05-12T07:00:00Z")
        if not self.teams or any(not team for team in self.teams):
            raise ValueError("teams must be a non-empty list of non-empty names")
        if not 0 <= self.profile_fraction * len(PROFILES) <= 0.9:
            raise ValueError("profile_fraction must leave at least 10% of agents normal")

    @property
    def start_ts(self) -> int:
        """Start of the period in whole seconds since the Unix epoch."""
        return int(self.start.timestamp())

    @property
    def end_ts(self) -> int:
        """End of the period in whole seconds since the Unix epoch."""
        return self.start_ts + round(self.hours * 3600)
