"""Helpers for driving the pure core in unit tests: policies, events, and a replay in memory."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson

from auxstream.domain.policy import (
    AuxAfterContactRule,
    CodePolicy,
    Policy,
    RapidSwitchingRule,
    Rules,
    ShortAuxRule,
)
from auxstream.domain.timefmt import format_ts, parse_ts
from auxstream.replay.runner import Replayer, ReplayStats

BASE = "2026-05-12T08:00:00Z"
BASE_MS = parse_ts(BASE)


def at(seconds: float) -> str:
    """An RFC 3339 timestamp ``seconds`` after 2026-05-12T08:00:00Z."""
    return format_ts(BASE_MS + round(seconds * 1000))


def policy(**overrides: Any) -> Policy:
    """The contract's example policy as core values, with keyword overrides."""
    codes = {
        "ACW": CodePolicy("ACW", "After-call work", "non_call_work", True, True, False, 120, None),
        "BREAK": CodePolicy("BREAK", "Break", "break", True, False, False, 900, 1800),
        "LUNCH": CodePolicy("LUNCH", "Lunch", "break", False, False, False, 3600, None),
        "TRAINING": CodePolicy(
            "TRAINING", "Training", "development", True, True, False, None, None
        ),
        "PERSONAL": CodePolicy("PERSONAL", "Personal", "personal", True, False, False, 600, None),
        "TIMEOUT": CodePolicy("TIMEOUT", "Time Out", "wellbeing", True, False, True, 600, None),
    }
    collections = dict(codes)
    collections["BREAK"] = CodePolicy("BREAK", "Break", "break", True, False, False, 900, 2400)
    values: dict[str, Any] = {
        "timezone": "Europe/London",
        "interval_minutes": 15,
        "grace_s": 2.0,
        "after_contact_code": "ACW",
        "stuck_after_s": 43200.0,
        "codes": codes,
        "team_codes": {"collections": collections},
        "rules": Rules(
            RapidSwitchingRule(4, 600), AuxAfterContactRule(3, 3600, 5), ShortAuxRule(3, 30, 1800)
        ),
        "version": "test",
    }
    values.update(overrides)
    return Policy(**values)


class Run:
    """The records of one in-memory replay, by kind, as decoded JSON."""

    def __init__(self, stats: ReplayStats, records: dict[str, list[dict[str, Any]]]) -> None:
        self.stats = stats
        self.records = records

    def __getattr__(self, kind: str) -> list[dict[str, Any]]:
        return self.records[kind]

    def segment_seconds(self, agent_id: str) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for seg in self.records["segments"]:
            if seg["agent_id"] == agent_id:
                totals[seg["reason_code"] or seg["state"]] += seg["duration_s"]
        return dict(totals)

    def rules(self) -> list[tuple[str, str, str]]:
        return sorted((d["rule"], d["agent_id"], d["ts"]) for d in self.records["detections"])


def replay(events: list[dict[str, Any] | bytes], pol: Policy | None = None) -> Run:
    """Replay events (dicts or raw lines) through the real replay driver, in memory."""
    found: dict[str, list[tuple[Any, dict[str, Any]]]] = defaultdict(list)

    def emit(kind: str, key: tuple[object, ...], line: bytes) -> None:
        found[kind].append((key, orjson.loads(line)))

    replayer = Replayer(pol or policy(), emit)
    for item in events:
        replayer.feed_line(item if isinstance(item, bytes) else orjson.dumps(item))
    replayer.finish()
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for kind, entries in found.items():
        if kind == "deadletters":
            records[kind] = [rec for _, rec in entries]
        else:
            records[kind] = [rec for _, rec in sorted(entries, key=lambda pair: pair[0])]
    return Run(replayer.stats, records)


_counter = 0


def ev(
    kind: str, seconds: float, agent: str = "A1", code: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A canonical event dict with a fresh event id."""
    global _counter
    _counter += 1
    event: dict[str, Any] = {
        "event_id": f"t{_counter}",
        "agent_id": agent,
        "ts": at(seconds),
        "type": kind,
    }
    if code is not None:
        event["reason_code"] = code
    event.update(extra)
    return event
