"""A second worker joining mid-day takes over half the partitions with their agents' state."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from auxstream.stream.compare import differences
from tests.integration.test_stream_support import (
    StreamSetup,
    Worker,
    newest_event_time,
    produce_lines,
    read_outputs,
    replay,
    simulate,
)


def test_two_workers_share_the_partitions_and_still_equal_the_replay(
    kafka_broker: str, tmp_path: Path, shared_examples: Path
) -> None:
    setup = StreamSetup(kafka_broker, tmp_path)
    policy = shared_examples / "policy.yaml"
    day = simulate(setup, 40, 3, 99)
    lines = day.read_bytes().splitlines()
    expected = replay(setup, day, policy)
    assert setup.cli("topics", "create").returncode == 0
    half = len(lines) // 2
    # A short stall timeout: if Faust stops fetching a partition the first worker keeps
    # across the rebalance (see shell._watch_for_stall), it stops and the second takes over.
    args = ("--policy", str(policy), "--session-timeout", "6", "--stall-timeout", "8")

    asyncio.run(produce_lines(kafka_broker, setup.topics["input"], lines[:half]))
    first = Worker(setup, *args, log_name="first", AUXSTREAM_DATA_DIR=str(tmp_path / "first"))
    second: Worker | None = None
    try:
        first.wait_log("Worker ready")
        second = Worker(
            setup, *args, log_name="second", AUXSTREAM_DATA_DIR=str(tmp_path / "second")
        )
        second.wait_log("Worker ready", timeout_s=90)
        deadline = time.monotonic() + 60
        while first.text().count("assigned partitions [") < 2:
            assert time.monotonic() < deadline, "the first worker was never reassigned"
            time.sleep(0.1)
        split = [last_assignment(first), last_assignment(second)]
        asyncio.run(produce_lines(kafka_broker, setup.topics["input"], lines[half:]))
        actual = asyncio.run(read_outputs(kafka_broker, setup.topics, quiet_s=12.0))
    finally:
        first.stop()
        if second is not None:
            second.stop()

    # The first worker had all four partitions, then each had two with their agents.
    assert "assigned partitions [0, 1, 2, 3]" in first.text()
    assert sorted(split[0] + split[1]) == [0, 1, 2, 3] and all(split), split
    horizon = newest_event_time(lines) - 2000
    problems = differences(expected, actual, horizon=horizon, allow_duplicates=True)
    assert not problems, "\n".join(problems)


def last_assignment(worker: Worker) -> list[int]:
    """The partitions of the worker's last completed assignment, from its log."""
    lines = [line for line in worker.text().splitlines() if "assigned partitions [" in line]
    listed = lines[-1].split("assigned partitions [")[1].split("]")[0]
    return [int(p) for p in listed.split(",") if p.strip()]
