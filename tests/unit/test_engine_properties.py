"""Properties of the engine over generated event streams (hypothesis)."""

from __future__ import annotations

import io
import random
import tempfile
from collections import defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auxstream.domain.timefmt import format_ts
from auxstream.replay.files import Source
from auxstream.replay.run import RECORD_FILES, replay_file
from tests.unit.engine_support import BASE_MS, policy

POLICY = policy()
GRACE_MS = 2000
TYPES = ["login", "logout", "ready", "not_ready", "contact_start", "contact_end"]
CODES = ["BREAK", "PERSONAL", "TRAINING", "TIMEOUT", "LUNCH", "MEETING"]

agent_events = st.lists(
    st.tuples(st.integers(1, 900_000), st.sampled_from(TYPES), st.sampled_from(CODES)),
    min_size=1,
    max_size=25,
)


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Per agent, events in strictly increasing time; agents interleaved by time."""
    events: list[dict[str, Any]] = []
    for n in range(draw(st.integers(1, 4))):
        ts = BASE_MS + draw(st.integers(0, 600_000))
        for i, (gap, kind, code) in enumerate(draw(agent_events)):
            ts += gap
            event: dict[str, Any] = {
                "event_id": f"a{n}-{i}",
                "agent_id": f"A{n}",
                "ts": format_ts(ts),
                "type": kind,
                "team": "north" if n % 2 else "south",
            }
            if kind == "not_ready" or (kind == "login" and gap % 3 == 0):
                event["reason_code"] = code
            events.append(event)
        # Everyone logs out in the end, so all logged-in time is closed into segments.
        events.append(
            {
                "event_id": f"a{n}-out",
                "agent_id": f"A{n}",
                "ts": format_ts(ts + 1000),
                "type": "logout",
            }
        )
    events.sort(key=lambda e: e["ts"])
    # A last event far ahead moves the final watermark past every agent's last interval.
    end = max(e["ts"] for e in events)
    events.append(
        {
            "event_id": "closer",
            "agent_id": "ZZ",
            "ts": format_ts(_ms(end) + 86_400_000 // 2),
            "type": "logout",
        }
    )
    return events


def _ms(ts: str) -> int:
    from auxstream.domain.timefmt import parse_ts

    return parse_ts(ts)


def _replay(events: list[dict[str, Any]]) -> tuple[dict[str, bytes], dict[str, Any]]:
    data = b"".join(orjson.dumps(e) + b"\n" for e in events)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        stats, _ = replay_file(
            Source("mem", io.BytesIO(data), len(data), None), POLICY, out, spill_at=7
        )
        files = {name: (out / f"{name}.jsonl").read_bytes() for name in RECORD_FILES}
    return files, {"outcomes": dict(stats.outcomes), "records": dict(stats.records)}


def _logged_in_ms(events: list[dict[str, Any]]) -> dict[str, int]:
    """An independent oracle: time between an agent's events while it was logged in."""
    totals: dict[str, int] = defaultdict(int)
    by_agent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_agent[event["agent_id"]].append(event)
    for agent, mine in by_agent.items():
        mine.sort(key=lambda e: e["ts"])
        for this, nxt in pairwise(mine):
            if this["type"] != "logout":
                totals[agent] += _ms(nxt["ts"]) - _ms(this["ts"])
    return totals


def _lines(blob: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in blob.splitlines()]


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(streams())
def test_segments_add_up_to_logged_in_time_and_intervals_to_segments(
    events: list[dict[str, Any]],
) -> None:
    files, _ = _replay(events)
    seg_ms: dict[str, int] = defaultdict(int)
    for seg in _lines(files["segments"]):
        assert seg["duration_s"] > 0
        seg_ms[seg["agent_id"]] += round(seg["duration_s"] * 1000)
    expected = {agent: ms for agent, ms in _logged_in_ms(events).items() if ms}
    assert dict(seg_ms) == expected
    iv_ms: dict[str, int] = defaultdict(int)
    for interval in _lines(files["intervals"]):
        parts = [round(interval[k] * 1000) for k in ("ready_s", "on_contact_s", "not_ready_s")]
        assert round(interval["logged_in_s"] * 1000) == sum(parts)
        assert parts[2] == sum(round(v * 1000) for v in interval["not_ready_by_code"].values())
        assert interval["revision"] == 0
        iv_ms[interval["agent_id"]] += sum(parts)
    assert dict(iv_ms) == expected


@FAST
@given(streams(), st.randoms(use_true_random=False))
def test_shuffling_within_grace_gives_byte_identical_files(
    events: list[dict[str, Any]], rnd: random.Random
) -> None:
    baseline, _ = _replay(events)
    jittered = sorted(events, key=lambda e: _ms(e["ts"]) + rnd.randrange(GRACE_MS))
    shuffled, shuffled_stats = _replay(jittered)
    assert shuffled_stats["outcomes"].get("late", 0) == 0
    assert shuffled == baseline


@FAST
@given(streams(), st.randoms(use_true_random=False))
def test_duplicates_change_only_the_duplicate_counter(
    events: list[dict[str, Any]], rnd: random.Random
) -> None:
    baseline, stats = _replay(events)
    doubled = list(events)
    picks = [rnd.randrange(len(events)) for _ in range(rnd.randint(1, 5))]
    for pick in sorted(picks, reverse=True):
        doubled.insert(rnd.randint(pick + 1, len(doubled)), dict(events[pick]))
    files, doubled_stats = _replay(doubled)
    assert files == baseline
    assert doubled_stats["outcomes"].pop("duplicate") == len(picks)
    assert doubled_stats == stats


@FAST
@given(streams())
def test_replaying_twice_gives_identical_files(events: list[dict[str, Any]]) -> None:
    assert _replay(events) == _replay(events)
