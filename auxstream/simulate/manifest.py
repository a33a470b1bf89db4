"""What a simulation put into its output, so detectors can be checked against it.

The generator records into a Manifest while it yields lines (behaviour evidence when an
agent's shift is generated, line numbers when a line is delivered); the manifest is complete
once the line iterator is exhausted. Timestamps are written in the contract's output form
(§3: UTC, milliseconds, ``Z``) so they compare directly with detection records.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from auxstream.simulate.wire import output_ts

FORMAT = "auxstream-simulate-manifest/1"


@dataclass
class Behaviour:
    """One injected behaviour of one agent and the detection it should cause."""

    profile: str
    """One of config.PROFILES."""
    agent_id: str
    team: str
    rule: str | None
    """The contract §3 rule expected to fire, or None (the Time Out profile expects none)."""
    reason_code: str | None
    """The code of the detection, for occurrence_limit; None for window rules."""
    evidence_event_ids: list[str]
    """Event ids the detection should cite (for window rules: the agent-chosen events)."""
    window_start: int
    window_end: int
    expected_ts: int | None
    """Event time at which the rule is met (see docs of each profile); None if no rule."""
    details: dict[str, Any] = field(default_factory=dict)
    """Profile-specific facts: durations, thresholds, related event ids."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; timestamps in output form."""
        return {
            "profile": self.profile,
            "agent_id": self.agent_id,
            "team": self.team,
            "rule": self.rule,
            "reason_code": self.reason_code,
            "evidence_event_ids": self.evidence_event_ids,
            "window_start": output_ts(self.window_start),
            "window_end": output_ts(self.window_end),
            "expected_ts": None if self.expected_ts is None else output_ts(self.expected_ts),
            "details": self.details,
        }


@dataclass
class Manifest:
    """Recorder for one run; ``to_dict()`` gives the JSON document written by ``--manifest``."""

    config: dict[str, Any] = field(default_factory=dict)
    agents: int = 0
    lines: int = 0
    events_by_type: Counter[str] = field(default_factory=Counter)
    max_ts: int = 0
    behaviours: list[Behaviour] = field(default_factory=list)
    not_injected: list[dict[str, str]] = field(default_factory=list)
    checkins: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    swaps: dict[str, dict[str, Any]] = field(default_factory=dict)
    late: list[dict[str, Any]] = field(default_factory=list)
    malformed: list[dict[str, Any]] = field(default_factory=list)
    late_makes_noop: bool = False
    """Without an after-contact code, the contact_end after a late (dropped) contact_start
    finds the agent ready already: the engine counts it as a no-op, not applied."""

    def add_checkin(self, agent_id: str, team: str, event_id: str, ts: int, code: str) -> None:
        """An agent selected a check-in code: the engine should emit a check-in record."""
        self.checkins.append(
            {
                "agent_id": agent_id,
                "team": team,
                "event_id": event_id,
                "ts": ts,
                "reason_code": code,
            }
        )

    def add_swap_line(self, pair_id: str, agent_id: str, event_id: str, ts: int, line: int) -> None:
        """One of the two lines of a swapped pair was delivered (first the later event)."""
        swap = self.swaps.setdefault(
            pair_id, {"agent_id": agent_id, "event_ids": [], "ts": [], "lines": []}
        )
        swap["event_ids"].append(event_id)
        swap["ts"].append(ts)
        swap["lines"].append(line)

    def _lost_logout(self) -> list[dict[str, Any]]:
        stuck = [b for b in self.behaviours if b.profile == "lost_logout"]
        return [
            {
                "agent_id": b.agent_id,
                "last_event_id": b.evidence_event_ids[-1],
                "last_ts": output_ts(b.window_end),
                "stuck_at": None if b.expected_ts is None else output_ts(b.expected_ts),
                "raised_within_run": b.details["raised_within_run"],
            }
            for b in stuck
        ]

    def _expected_detections(self) -> list[dict[str, Any]]:
        found = []
        for b in self.behaviours:
            if b.rule is None or (b.rule == "stuck_state" and not b.details["raised_within_run"]):
                continue
            found.append(
                {
                    "rule": b.rule,
                    "agent_id": b.agent_id,
                    "team": b.team,
                    "reason_code": b.reason_code,
                    "ts": None if b.expected_ts is None else output_ts(b.expected_ts),
                    "evidence_event_ids": b.evidence_event_ids,
                    "profile": b.profile,
                }
            )
        return found

    def finish(self) -> None:
        """Settle facts that need the whole run (whether stuck_state can fire within it)."""
        for b in self.behaviours:
            if b.profile == "lost_logout" and b.expected_ts is not None:
                b.details["raised_within_run"] = self.max_ts >= b.expected_ts
        self.behaviours.sort(key=lambda b: (b.agent_id, b.profile))
        self.checkins.sort(key=lambda c: (c["agent_id"], c["ts"]))

    def to_dict(self) -> dict[str, Any]:
        """The manifest document; see the module docstring for the timestamp form."""
        self.finish()
        events = sum(self.events_by_type.values())
        profiles: dict[str, list[str]] = {}
        for b in self.behaviours:
            profiles.setdefault(b.profile, []).append(b.agent_id)
        swaps = sorted(self.swaps.values(), key=lambda s: s["lines"][0])
        late = sorted(self.late, key=lambda entry: entry["line"])
        noop = len(late) if self.late_makes_noop else 0
        return {
            "format": FORMAT,
            "config": self.config,
            "counts": {
                "lines": self.lines,
                "events": events,
                "agents": self.agents,
                "events_by_type": dict(sorted(self.events_by_type.items())),
                "duplicates": len(self.duplicates),
                "swaps": len(swaps),
                "late": len(late),
                "malformed": len(self.malformed),
            },
            "lines_by_outcome": {
                "applied": events - len(late) - noop,
                "noop": noop,
                "duplicate": len(self.duplicates),
                "late": len(late),
                "invalid": len(self.malformed),
            },
            "profiles": profiles,
            "not_injected": self.not_injected,
            "behaviours": [b.to_dict() for b in self.behaviours],
            "expected_detections": self._expected_detections(),
            "checkin_agent_ids": sorted({c["agent_id"] for c in self.checkins}),
            "checkins": [{**c, "ts": output_ts(c["ts"])} for c in self.checkins],
            "lost_logout": self._lost_logout(),
            "faults": {
                "duplicates": sorted(self.duplicates, key=lambda d: d["duplicate_line"]),
                "swaps": [{**s, "ts": [output_ts(t) for t in s["ts"]]} for s in swaps],
                "late": [{**entry, "ts": output_ts(entry["ts"])} for entry in late],
                "malformed": sorted(self.malformed, key=lambda m: m["line"]),
            },
        }
