"""A simulated day through Kafka and through `auxstream replay` gives the same records.

One worker (`--watermark event-time`, memory store) reads the day, produced as fast as
possible, keyed by agent_id. Outputs are read until nothing new comes for a few seconds:
by then the worker is caught up, has waited out the grace window on the wall clock and
released every held event (the idle rule). What both must agree on, and how, is in
`auxstream.stream.compare`: every record kind as a multiset under its deterministic
identity, intervals at their highest revision, and nothing the stream cannot know yet:
an event-time worker at the end of its input stops its watermark at the newest event time
minus grace, where the replay goes on to the newest event time itself, so intervals
ending and detections raised after that horizon are left out on both sides.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from auxstream.stream.compare import differences
from tests.integration.test_stream_support import (
    StreamSetup,
    newest_event_time,
    produce_lines,
    read_outputs,
    replay,
    simulate,
    worker,
)

AGENTS, HOURS, SEED = 40, 3, 20260512


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_a_simulated_day_through_kafka_equals_the_replay(
    kafka_broker: str,
    tmp_path: Path,
    shared_examples: Path,
    guarantee: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup = StreamSetup(kafka_broker, tmp_path)
    policy = shared_examples / "policy.yaml"
    day = simulate(setup, AGENTS, HOURS, SEED)
    lines = day.read_bytes().splitlines()
    expected = replay(setup, day, policy)

    assert setup.cli("topics", "create").returncode == 0
    asyncio.run(produce_lines(kafka_broker, setup.topics["input"], lines))
    with worker(setup, "--policy", str(policy), "--processing-guarantee", guarantee) as running:
        first_output_s = running.wait_log("first records delivered", timeout_s=60)
        ready_s = running.wait_log("Worker ready")
        actual = asyncio.run(read_outputs(kafka_broker, setup.topics))

    horizon = newest_event_time(lines) - 2000  # policy grace_s = 2
    problems = differences(expected, actual, horizon=horizon)
    assert not problems, "\n".join(problems)
    assert len(actual["segments"]) == len(expected["segments"])
    with capsys.disabled():
        print(
            f"\n[{guarantee}] {len(lines)} events; worker ready {ready_s:.1f}s, "
            f"first records {first_output_s:.1f}s after start"
        )
