"""The stream's processor driven by hand (no Kafka, no clock), against the replay of its input."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from auxstream.domain.events import InvalidEvent, event_from_dict
from auxstream.policy import load_policy
from auxstream.replay.runner import Replayer
from auxstream.stream.compare import differences
from auxstream.stream.processor import (
    REPARTITION,
    Inbound,
    Outbound,
    Processor,
    home_partition,
    origin_of,
)
from auxstream.stream.watermark import EVENT_TIME, Watermark

INPUT, REKEYED = "in", "by-agent"
PARTITIONS = 4


def replay(lines: list[bytes], policy: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    replayer = Replayer(policy, lambda name, key, line: out[name].append(orjson.loads(line)))
    replayer.feed(lines)
    replayer.finish()
    return out


def key_of(line: bytes) -> bytes | None:
    try:
        agent = orjson.loads(line).get("agent_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return agent.encode() if isinstance(agent, str) else None


class Harness:
    """A processor fed as a worker would be, with a hand-moved clock."""

    def __init__(self, policy: Any, mode: str = EVENT_TIME) -> None:
        self.processor = Processor(
            policy, PARTITIONS, INPUT, REKEYED, Watermark(policy.grace_s, mode)
        )
        self.processor.assign(range(PARTITIONS), [], now=0.0)
        self.now = 0.0
        self.offsets: dict[tuple[str, int], int] = defaultdict(int)
        self.out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.rekeyed: list[Outbound] = []

    def send(self, topic: str, partition: int, key: bytes | None, value: bytes | None) -> None:
        offset = self.offsets[(topic, partition)]
        self.offsets[(topic, partition)] += 1
        self.collect(
            self.processor.receive(Inbound(topic, partition, offset, key, value), self.now)
        )

    def send_line(self, line: bytes) -> None:
        """An ACD line keyed by its agent on the agent's home partition, as the ACD sends it."""
        key = key_of(line)
        self.send(INPUT, home_partition(key.decode(), PARTITIONS) if key else 0, key, line)

    def collect(self, outbound: list[Outbound]) -> None:
        for message in outbound:
            if message.record == REPARTITION:
                self.rekeyed.append(message)
            else:
                self.out[message.record].append(orjson.loads(message.value))

    def tick(self, caught_up: bool, now_ms: int = 0) -> None:
        for source in self.processor.watermark.sources:
            done = self.offsets[source]
            self.processor.watermark.set_highwater(source, done if caught_up else done + 1, done)
        self.collect(self.processor.tick(self.now, now_ms))


def test_a_simulated_day_gives_the_replay_records(tmp_path: Path, shared_examples: Path) -> None:
    day = tmp_path / "day.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "auxstream",
            "simulate",
            "--agents",
            "30",
            "--hours",
            "2",
            "--seed",
            "11",
            "--out",
            str(day),
        ],
        check=True,
        capture_output=True,
    )
    policy = load_policy(shared_examples / "policy.yaml")
    lines = day.read_bytes().splitlines()
    expected = replay(lines, policy)

    harness = Harness(policy)
    for i, line in enumerate(lines):
        harness.send_line(line)
        harness.now += 0.001
        if i % 50 == 0:
            harness.tick(caught_up=False)
    harness.now += 10.0
    harness.tick(caught_up=True)
    harness.tick(caught_up=True)

    horizon = newest_event_time(lines) - int(policy.grace_s * 1000)
    assert not differences(expected, harness.out, horizon=horizon)
    assert harness.processor.counts.messages == len(lines)


def newest_event_time(lines: list[bytes]) -> int:
    newest = 0
    for line in lines:
        try:
            newest = max(newest, event_from_dict(orjson.loads(line)).ts)
        except (orjson.JSONDecodeError, InvalidEvent):
            continue
    return newest


# ---------------------------------------------------------------------------- one message at a time
def ev(event_id: str, agent: str, ts: str, kind: str, **extra: object) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "agent_id": agent,
            "ts": f"2026-05-12T{ts}Z",
            "type": kind,
            "team": "north",
            **extra,
        }
    )


def at_home(agent: str) -> int:
    return home_partition(agent, PARTITIONS)


def test_an_event_with_the_wrong_key_or_partition_is_rekeyed_with_its_origin(
    shared_examples: Path,
) -> None:
    harness = Harness(load_policy(shared_examples / "policy.yaml"))
    home = at_home("R1")
    wrong = (home + 1) % PARTITIONS
    harness.send(INPUT, home, None, ev("r-1", "R1", "08:00:00", "login"))
    harness.send(INPUT, wrong, b"R1", ev("r-2", "R1", "08:01:00", "ready"))
    harness.send(INPUT, home, b"someone-else", ev("r-3", "R1", "08:02:00", "ready"))
    assert [(m.key, m.partition) for m in harness.rekeyed] == [(b"R1", home)] * 3
    assert orjson.loads(dict(harness.rekeyed[1].headers or [])["auxstream-origin"]) == [
        INPUT,
        wrong,
        0,
    ]
    assert harness.processor.counts.rekeyed == 3
    assert (
        not harness.processor.states
    )  # nothing applied before it comes back by the repartition topic
    for message in harness.rekeyed:
        headers = message.headers or []
        offset = harness.offsets[(REKEYED, home)]
        harness.offsets[(REKEYED, home)] += 1
        harness.collect(
            harness.processor.receive(
                Inbound(REKEYED, home, offset, message.key, message.value, origin_of(headers)),
                harness.now,
            )
        )
    assert harness.processor.states["R1"].last_event_id == "r-2"  # r-3 waits out its grace


def test_a_late_rekeyed_event_names_where_it_was_first_read(shared_examples: Path) -> None:
    harness = Harness(load_policy(shared_examples / "policy.yaml"))
    home = at_home("L1")
    harness.send(INPUT, home, b"L1", ev("l-1", "L1", "08:00:00", "login"))
    harness.send(INPUT, home, b"L1", ev("l-2", "L1", "09:00:00", "ready"))  # applies l-1
    harness.send(
        INPUT, home, b"L1", ev("l-3", "L1", "09:00:10", "not_ready", reason_code="BREAK")
    )  # applies l-2
    late = ev("l-0", "L1", "08:30:00", "ready")
    harness.collect(
        harness.processor.receive(Inbound(REKEYED, home, 7, b"L1", late, (INPUT, 3, 99)), 0.0)
    )
    (letter,) = harness.out["deadletters"]
    assert (letter["reason"], letter["source_topic"], letter["partition"], letter["offset"]) == (
        "late",
        INPUT,
        3,
        99,
    )
    assert letter["raw"] == late.decode()


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (None, "tombstone"),
        (b"x" * (64 * 1024 + 1), "byte limit"),
        (b"{oops", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (
            orjson.dumps(
                {"event_id": "b-1", "agent_id": "B1", "ts": "2026-05-12T08:00:00Z", "type": "nap"}
            ),
            "unknown type",
        ),
        (
            orjson.dumps({"event_id": "b-2", "agent_id": "B1", "ts": 1778572800, "type": "ready"}),
            "'ts' must be a string",
        ),
    ],
)
def test_a_message_that_is_not_an_event_is_a_dead_letter_and_counted(
    shared_examples: Path, value: bytes | None, error: str
) -> None:
    harness = Harness(load_policy(shared_examples / "policy.yaml"))
    harness.send(INPUT, 2, None, value)
    (letter,) = harness.out["deadletters"]
    assert letter["reason"] == "invalid" and error in letter["error"]
    assert (letter["source_topic"], letter["partition"], letter["offset"]) == (INPUT, 2, 0)
    assert len(letter["raw"].encode()) <= 64 * 1024
    assert (
        sum(
            n for (_, outcome), n in harness.processor.counts.events.items() if outcome == "invalid"
        )
        == 1
    )
    assert harness.processor.counts.dead_letters["invalid"] == 1


def test_an_event_a_day_ahead_of_the_newest_seen_is_invalid(shared_examples: Path) -> None:
    harness = Harness(load_policy(shared_examples / "policy.yaml"))
    home = at_home("F1")
    harness.send(INPUT, home, b"F1", ev("f-1", "F1", "08:00:00", "login"))
    harness.send(
        INPUT,
        home,
        b"F1",
        orjson.dumps(
            {"event_id": "f-2", "agent_id": "F1", "ts": "2026-05-14T08:00:00Z", "type": "ready"}
        ),
    )
    (letter,) = harness.out["deadletters"]
    assert "24 h" in letter["error"]


def test_catching_up_a_backlog_never_releases_early(shared_examples: Path) -> None:
    """Held events wait while the partition lags, however much wall time passes."""
    harness = Harness(load_policy(shared_examples / "policy.yaml"))
    home = at_home("C1")
    harness.send(INPUT, home, b"C1", ev("c-1", "C1", "08:00:00", "login"))
    harness.send(INPUT, home, b"C1", ev("c-2", "C1", "08:00:05", "not_ready", reason_code="BREAK"))
    harness.now += 30.0
    harness.tick(caught_up=False)  # a backlog: c-3 (swapped with c-2 by the ACD) is still unread
    assert harness.processor.states["C1"].last_event_id == "c-1"
    harness.send(INPUT, home, b"C1", ev("c-3", "C1", "08:00:04", "ready"))  # older, but not late
    assert not harness.out["deadletters"]
    harness.now += 3.0
    harness.tick(caught_up=True)
    assert harness.processor.states["C1"].last_event_id == "c-2"
    assert [(s["state"], s["end_event_id"]) for s in harness.out["segments"]] == [("ready", "c-2")]
    assert not harness.out["deadletters"]


def test_revoked_agents_are_forgotten_and_assigned_ones_are_scheduled(
    shared_examples: Path,
) -> None:
    policy = load_policy(shared_examples / "policy.yaml")
    harness = Harness(policy)
    for agent in ("V1", "V2", "V3"):
        harness.send(
            INPUT, at_home(agent), agent.encode(), ev(f"{agent}-1", agent, "08:00:00", "login")
        )
    kept = {a: s for a, s in harness.processor.states.items() if at_home(a) != at_home("V1")}
    harness.processor.revoke([at_home("V1")])
    assert "V1" not in harness.processor.states
    assert set(harness.processor.states) == set(kept)

    fresh = Processor(policy, PARTITIONS, INPUT, REKEYED, Watermark(policy.grace_s, EVENT_TIME))
    fresh.assign(range(PARTITIONS), [*kept.values()], now=0.0)
    assert set(fresh.states) == set(kept)
    assert len(fresh.held) == len(kept)  # their login is still held: released by the idle rule


def test_a_new_policy_changes_grace_and_what_is_due(shared_examples: Path) -> None:
    from dataclasses import replace

    policy = load_policy(shared_examples / "policy.yaml")
    harness = Harness(policy)
    harness.processor.set_policy(replace(policy, grace_s=5.0, version="v2"))
    assert harness.processor.watermark.grace_s == 5.0
    assert harness.processor.policy.version == "v2"


def test_a_busy_partition_with_messages_in_flight_still_releases_held_events(
    shared_examples: Path,
) -> None:
    """A lag of a few messages while messages keep arriving is the producer's traffic in
    flight, not a backlog: held events are released once their grace ran out."""
    harness = Harness(load_policy(shared_examples / "policy.yaml"))
    home = at_home("C1")
    other = next(f"D{i}" for i in range(1000) if at_home(f"D{i}") == home)
    harness.send(INPUT, home, b"C1", ev("c-1", "C1", "08:00:00", "login"))
    harness.send(INPUT, home, b"C1", ev("c-2", "C1", "08:00:05", "not_ready", reason_code="BREAK"))
    harness.now += 2.5  # the policy's grace is 2 s
    harness.send(INPUT, home, other.encode(), ev("d-1", other, "08:00:07", "login"))

    def tick_with_one_unread_input_message() -> None:
        for source in harness.processor.watermark.sources:
            done = harness.offsets[source]
            unread = 1 if source == (INPUT, home) else 0
            harness.processor.watermark.set_highwater(source, done + unread, done)
        harness.collect(harness.processor.tick(harness.now, 0))

    tick_with_one_unread_input_message()  # the partition flowing: released
    assert harness.processor.states["C1"].last_event_id == "c-2"
    harness.send(INPUT, home, b"C1", ev("c-3", "C1", "08:00:40", "ready"))
    harness.now += 30.0  # nothing processed for 30 s with a message unread: stuck, not flowing
    tick_with_one_unread_input_message()
    assert harness.processor.states["C1"].last_event_id == "c-2"


def test_advancing_a_few_agents_at_a_time_gives_what_one_step_gives(
    shared_examples: Path,
) -> None:
    """The worker advances due agents in chunks (messages are handled in between); the
    records are those of advancing them all at once."""
    agents = [f"B{i}" for i in range(30)]

    def half_an_hour() -> tuple[Processor, int]:
        harness = Harness(load_policy(shared_examples / "policy.yaml"))
        for agent in agents:
            key, home = agent.encode(), at_home(agent)
            harness.send(INPUT, home, key, ev(f"{agent}-1", agent, "08:00:00", "login"))
            harness.send(INPUT, home, key, ev(f"{agent}-2", agent, "08:00:01", "ready"))
        harness.send(INPUT, at_home("Z"), b"Z", ev("z-1", "Z", "08:31:00", "login"))
        harness.send(INPUT, at_home("Z"), b"Z", ev("z-2", "Z", "08:32:00", "ready"))
        for source in harness.processor.watermark.sources:
            done = harness.offsets[source]
            harness.processor.watermark.set_highwater(source, done, done)
        harness.now += 10.0  # every partition idle: the watermark is the newest event's
        harness.collect(harness.processor.release_due(harness.now))  # held events applied
        mark = harness.processor.watermark.value(harness.now, 0)
        assert mark is not None
        return harness.processor, mark

    (whole, mark), (chunked, _), (moving, _) = half_an_hour(), half_an_hour(), half_an_hour()
    assert whole.advance_is_due(mark)
    assert not whole.advance_is_due(min(at for at, _ in whole._due) - 1)
    at_once: list[Outbound] = []
    assert whole.advance_due(mark, at_once)
    assert not whole.advance_is_due(mark)
    steps, by_four = 0, []
    while not chunked.advance_due(mark, by_four, most=4):
        steps += 1
        assert steps < 100
    assert steps >= len(agents) // 4
    assert sorted((m.record, m.value) for m in by_four) == sorted(
        (m.record, m.value) for m in at_once
    )
    assert sum(m.record == "intervals" for m in at_once) >= len(agents)
    assert chunked.states == whole.states
    # Paced (shell.advance): the watermark may move on between two chunks; the agents left
    # are advanced to the newer one, which here (a minute on, still in the same interval)
    # closes nothing more.
    steps, to_newer = 0, []
    assert not moving.advance_due(mark, to_newer, most=4)
    while not moving.advance_due(mark + 60_000, to_newer, most=4):
        steps += 1
        assert steps < 100
    assert sorted((m.record, m.value) for m in to_newer) == sorted(
        (m.record, m.value) for m in at_once
    )
