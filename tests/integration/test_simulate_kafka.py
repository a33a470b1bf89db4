"""`auxstream simulate --to-kafka`: the file's messages, keyed by agent, paced by event time."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import orjson

from tests.integration.kafka_helpers import consume_count, create_topics

ROOT = Path(__file__).resolve().parents[2]
START = "2026-05-12T07:00:00Z"


def auxstream(*args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auxstream", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def simulate_file(tmp_path: Path, *options: str) -> list[bytes]:
    out = tmp_path / "period.jsonl"
    done = auxstream("simulate", *options, "--start", START, "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out.read_bytes().splitlines()


def agent_of(line: bytes) -> bytes | None:
    try:
        agent = orjson.loads(line).get("agent_id")
    except orjson.JSONDecodeError:
        agent = orjson.loads(line[: line.index(b',"ts"')] + b"}").get("agent_id")  # cut-off JSON
    return agent.encode() if isinstance(agent, str) else None


def test_max_rate_sends_the_file_bytes_keyed_by_agent(
    kafka_broker: str, unique_topic: str, tmp_path: Path
) -> None:
    options = ("--agents", "25", "--hours", "1", "--seed", "7")
    lines = simulate_file(tmp_path, *options)
    asyncio.run(create_topics(kafka_broker, [unique_topic], partitions=3))

    done = auxstream(
        "simulate",
        *options,
        "--start",
        START,
        "--to-kafka",
        "--broker",
        f"kafka://{kafka_broker}",
        "--topic",
        unique_topic,
        "--rate",
        "max",
    )
    assert done.returncode == 0, done.stderr
    assert f"{len(lines)} messages" in done.stderr

    records = asyncio.run(consume_count(kafka_broker, unique_topic, len(lines), timeout_s=60))
    assert len(records) == len(lines)
    assert sorted(r.value for r in records) == sorted(lines)
    assert sum(len(r.value) for r in records) == sum(len(line) for line in lines)
    # Keyed by agent_id (None for the malformed line without one), so each agent's lines
    # share a partition and keep the file's order there.
    assert all(r.key == agent_of(r.value) for r in records)
    partitions: dict[bytes, set[int]] = defaultdict(set)
    received: dict[bytes, list[bytes]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        if r.key is not None:
            partitions[r.key].add(r.partition)
            received[r.key].append(r.value)
    assert all(len(p) == 1 for p in partitions.values())
    in_file: dict[bytes, list[bytes]] = defaultdict(list)
    for line in lines:
        key = agent_of(line)
        if key is not None:
            in_file[key].append(line)
    assert received == in_file


def test_a_paced_rate_follows_event_time(
    kafka_broker: str, unique_topic: str, tmp_path: Path
) -> None:
    # Six simulated minutes at 120x: shifts end a minute early, so the last event (a logout)
    # is due about 2.5 s after the start.
    options = ("--agents", "40", "--hours", "0.1", "--seed", "5", "--no-faults")
    lines = simulate_file(tmp_path, *options)
    start = datetime.fromisoformat(START).timestamp()
    span_s = (
        max(datetime.fromisoformat(orjson.loads(line)["ts"]).timestamp() for line in lines) - start
    ) / 120
    assert span_s >= 1.5
    asyncio.run(create_topics(kafka_broker, [unique_topic]))

    began = time.monotonic()
    done = auxstream(
        "simulate",
        *options,
        "--start",
        START,
        "--to-kafka",
        "--broker",
        kafka_broker,
        "--topic",
        unique_topic,
        "--rate",
        "120x",
    )
    elapsed = time.monotonic() - began
    assert done.returncode == 0, done.stderr
    assert "at 120x" in done.stderr
    assert span_s * 0.95 <= elapsed < span_s + 10.0, (span_s, elapsed)
    records = asyncio.run(consume_count(kafka_broker, unique_topic, len(lines), timeout_s=30))
    assert [r.value for r in records] == lines  # one partition: the delivery order


def test_an_unreachable_broker_is_one_line_and_exit_2() -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = auxstream(
        "simulate",
        "--agents",
        "3",
        "--hours",
        "1",
        "--seed",
        "1",
        "--to-kafka",
        "--broker",
        f"kafka://127.0.0.1:{port}",
        timeout_s=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"simulate: cannot reach Kafka at 127.0.0.1:{port}: "), (
        done.stderr
    )
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_missing_topic_is_named_and_nothing_is_created(
    kafka_broker: str, unique_topic: str
) -> None:
    done = auxstream(
        "simulate",
        "--agents",
        "3",
        "--hours",
        "1",
        "--seed",
        "1",
        "--to-kafka",
        "--broker",
        kafka_broker,
        "--topic",
        unique_topic,
    )
    assert done.returncode == 2
    assert f"topic {unique_topic} does not exist" in done.stderr
    assert "auxstream topics create" in done.stderr


def test_file_only_and_kafka_only_options_do_not_mix(tmp_path: Path) -> None:
    base = ("simulate", "--agents", "3", "--hours", "1", "--seed", "1")
    done = auxstream(*base, "--out", str(tmp_path / "x.jsonl"), "--rate", "60x")
    assert done.returncode == 2
    assert "--rate only apply with --to-kafka" in done.stderr
    done = auxstream(*base, "--to-kafka", "--gzip")
    assert done.returncode == 2
    assert "--gzip applies to --out only" in done.stderr
    done = auxstream(*base, "--to-kafka", "--rate", "fast")
    assert done.returncode == 2
    assert "rate must be realtime, max or Nx" in done.stderr
