"""The stream's processor, driven by hand (no Kafka, no clock), against the replay of the same input."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
from auxstream.domain.events import InvalidEvent, event_from_dict
from auxstream.policy import load_policy
from auxstream.replay.runner import Replayer
from auxstream.stream.compare import differences
from auxstream.stream.processor import REPARTITION, Inbound, Outbound, Processor, home_partition
from auxstream.stream.watermark import EVENT_TIME, Watermark

SHARED = Path(__file__).parents[2].parent / "shared" / "examples"
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
        self.processor = Processor(policy, PARTITIONS, INPUT, REKEYED, Watermark(policy.grace_s, mode))
        self.processor.assign(range(PARTITIONS), [], now=0.0)
        self.now = 0.0
        self.offsets: dict[tuple[str, int], int] = defaultdict(int)
        self.out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.rekeyed: list[Outbound] = []

    def send(self, topic: str, partition: int, key: bytes | None, value: bytes | None) -> None:
        offset = self.offsets[(topic, partition)]
        self.offsets[(topic, partition)] += 1
        self.collect(self.processor.receive(Inbound(topic, partition, offset, key, value), self.now))

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


def test_a_simulated_day_gives_the_replay_records(tmp_path: Path) -> None:
    day = tmp_path / "day.jsonl"
    subprocess.run([sys.executable, "-m", "auxstream", "simulate", "--agents", "30", "--hours", "2",
                    "--seed", "11", "--out", str(day)], check=True, capture_output=True)
    policy = load_policy(SHARED / "policy.yaml")
    lines = day.read_bytes().splitlines()
    expected = replay(lines, policy)

    harness = Harness(policy)
    for i, line in enumerate(lines):
        key = key_of(line)
        partition = home_partition(key.decode(), PARTITIONS) if key else 0
        harness.send(INPUT, partition, key, line)
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
