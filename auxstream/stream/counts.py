"""What the worker counts: outcomes, records, detections. Plain counters, exported by the shell."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Counts:
    """Running totals since the worker started (Prometheus counters read them)."""

    events: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(event type, outcome) -> input messages (applied, noop, duplicate, late, invalid)."""
    records: Counter[str] = field(default_factory=Counter)
    """Record name -> records produced (dead letters included)."""
    detections: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(rule, team) -> detections raised."""
    checkins: Counter[str] = field(default_factory=Counter)
    """Team -> wellbeing check-ins raised."""
    dead_letters: Counter[str] = field(default_factory=Counter)
    """Reason (invalid, late) -> dead letters."""
    rekeyed: int = 0
    """Events sent on to the repartition topic because their key was not their agent's home."""
    agent_writes: int = 0
    """Agent states written to the agents table and its changelog (per changed agent per flush)."""

    def event(self, kind: str, outcome: str) -> None:
        self.events[(kind, outcome)] += 1

    def dead_letter(self, reason: str) -> None:
        self.dead_letters[reason] += 1
        self.records["deadletters"] += 1

    @property
    def messages(self) -> int:
        """Input messages that reached an outcome."""
        return sum(self.events.values())
