"""Issue 6 item 9: poison messages mixed into a day neither crash nor stall the worker.

Every kind of bad message goes in between two halves of a clean day, on the agents' own
partitions: each becomes one `invalid` dead letter, the day's records equal the oracle of the
clean day, the worker is still running, and its group's lag returns to zero.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson

from auxstream.stream.compare import differences
from auxstream.stream.processor import home_partition
from tests.integration.test_stream_poison import produce_all
from tests.integration.test_stream_support import (
    StreamSetup,
    newest_event_time,
    produce_lines,
    read_outputs,
    worker,
)
from tests.reliability.support import (
    GRACE_MS,
    Row,
    clean_day,
    group_of,
    inputs_of,
    oracle,
    wait_lag_zero,
    without,
)

TS = "2026-05-12T09:00:00Z"


def poison_for(agent: str) -> list[tuple[str, bytes | None, bytes | None]]:
    """(kind, key, value) of every kind of bad message, keyed by a real agent where it can be."""
    key = agent.encode()
    body = {"event_id": f"bad-{agent}", "agent_id": agent, "ts": TS, "type": "ready"}

    def without_field(name: str) -> bytes:
        return orjson.dumps({k: v for k, v in body.items() if k != name})

    return [
        ("bad JSON", key, b'{"event_id": "x", "agent_id": '),
        ("bad JSON: not UTF-8", key, b'{"event_id": "\xff\xfe"}'),
        ("empty value", key, b""),
        ("tombstone", key, None),
        ("2 MB value", key, b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'),
        ("null key, not an event", None, b'["a", "list"]'),
        ("null key, missing fields", None, b"{}"),
        ("missing event_id", key, without_field("event_id")),
        ("missing agent_id", key, without_field("agent_id")),
        ("missing ts", key, without_field("ts")),
        ("missing type", key, without_field("type")),
        ("unknown type", key, orjson.dumps({**body, "type": "coffee_break"})),
        ("wrong type of field", key, orjson.dumps({**body, "event_id": 7})),
        ("not a timestamp", key, orjson.dumps({**body, "ts": "yesterday"})),
        ("not an object", key, b"42"),
        ("deeply nested", key, b"[" * 5000 + b"]" * 5000),
    ]


def test_poison_messages_become_dead_letters_without_crash_or_stall(
    kafka_broker: str, tmp_path: Path, shared_examples: Path, row: Row
) -> None:
    row.scenario = "9 poison messages"
    setup = StreamSetup(kafka_broker, tmp_path)
    policy = shared_examples / "policy.yaml"
    lines = clean_day(setup, 30, 4, seed=91)
    expected = oracle(setup, lines, policy)
    agents = sorted({orjson.loads(line)["agent_id"] for line in lines})[:2]
    poison = [
        (kind, key, value, home_partition(agent, setup.partitions))
        for agent in agents
        for kind, key, value in poison_for(agent)
    ]
    assert setup.cli("topics", "create").returncode == 0
    half = len(lines) // 2
    asyncio.run(produce_lines(kafka_broker, setup.topics["input"], lines[:half]))
    asyncio.run(produce_all(kafka_broker, setup.topics["input"], [p[1:] for p in poison]))
    asyncio.run(produce_lines(kafka_broker, setup.topics["input"], lines[half:]))

    with worker(setup, "--policy", str(policy)) as running:
        began = time.monotonic()
        running.wait_log("Worker ready")
        caught_up_s = wait_lag_zero(kafka_broker, group_of(setup), inputs_of(setup))
        row.recover_s = round(time.monotonic() - began, 1)
        actual = asyncio.run(read_outputs(kafka_broker, setup.topics))
        alive = running.proc.poll() is None
        log = running.text()

    row.events_in = len(lines) + len(poison)
    horizon = newest_event_time(lines) - GRACE_MS
    row.tally(expected, without(actual, "deadletters"), horizon)
    letters = actual["deadletters"]
    row.records_out += len(letters)
    row.expected += len(poison)
    row.lost += max(0, len(poison) - len(letters))
    row.note = (
        f"{len(poison)} poison messages ({len(poison) // 2} kinds x 2 agents): "
        f"{len(letters)} dead letters; lag zero {caught_up_s:.1f} s after ready"
    )
    assert alive, log[-3000:]
    problems = differences(without(expected, "deadletters"), without(actual, "deadletters"))
    assert not problems, "\n".join(problems)
    assert len(letters) == len(poison), [d["error"] for d in letters]
    assert {d["reason"] for d in letters} == {"invalid"}
    assert all(len(d["raw"].encode()) <= 64 * 1024 for d in letters)
