"""`make bench` pre-loads consecutive simulated days until it has the events it asks for."""

from __future__ import annotations

import itertools

import orjson

from bench.stream import consecutive_days


def test_days_follow_one_another_until_enough_events() -> None:
    taken = list(itertools.islice(consecutive_days(10_000, 20, 3), 10_000))
    assert len(taken) == 10_000
    events = []
    for message in taken:
        try:
            events.append(orjson.loads(message.value))
        except orjson.JSONDecodeError:
            continue  # the simulator's malformed lines, on purpose
    ids = [e["event_id"] for e in events if isinstance(e, dict) and "event_id" in e]
    days = sorted({e["ts"][:10] for e in events if isinstance(e, dict) and "ts" in e})
    assert days[:2] == ["2026-05-12", "2026-05-13"]
    assert {i.split("-")[1] for i in ids} >= {"3", "4"}  # one seed per day
    # Ids repeat only where the simulator delivers a duplicate on purpose.
    assert len(set(ids)) > 0.99 * len(ids)
