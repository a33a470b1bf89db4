"""Slow fault tests (issue 6 items 2, 4, 10, 11, 12): workers killed, state lost, workers coming
and going, exactly_once under SIGKILL. Only in ``make reliability``.

Events keep arriving throughout (the restart test's feeder). After a SIGKILL the outputs may
repeat records of the uncommitted window; they must never miss one or hold one the oracle
does not (a false ``late`` dead letter would be one).
"""

from __future__ import annotations

import asyncio
import functools
import random
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

import tests.integration.test_stream_support as stream_support
from auxstream.stream.compare import RECORD_NAMES, differences
from tests.integration.test_stream_restart import CHUNKS, Feeder
from tests.integration.test_stream_support import (
    StreamSetup,
    Worker,
    newest_event_time,
    read_outputs,
)
from tests.reliability.support import (
    GRACE_MS,
    Row,
    committed_offsets,
    day_with_topics,
    end_offsets,
    group_of,
)

pytestmark = pytest.mark.slow
ARGS = ("--session-timeout", "6", "--stall-timeout", "20")
HOLD_S, WATCH_HELD_S = 16, 9.0
"""Item 11: the first flush is held 16 s; commits are watched for 9 s of it (3 commit
intervals), then the worker is killed while it is still held."""


def finish(
    setup: StreamSetup,
    lines: list[bytes],
    expected: dict[str, Any],
    actual: Any,
    row: Row,
    *,
    repeats: bool = True,
) -> None:
    """Tally the row and check nothing is lost or unknown (repeats allowed unless not)."""
    horizon = newest_event_time(lines) - GRACE_MS
    row.events_in = len(lines)
    row.tally(expected, actual, horizon)
    problems = differences(expected, actual, horizon=horizon, allow_duplicates=repeats)
    assert not problems, "\n".join(problems)


def rest_of_day(broker: str, setup: StreamSetup, feeder: Feeder, quiet_s: float = 6.0) -> Any:
    """Let the feeder deliver the rest of the day, then read every output topic."""
    feeder.wait_for(len(feeder.chunks))
    return asyncio.run(read_outputs(broker, setup.topics, quiet_s=quiet_s))


def test_sigkill_three_times_at_random_points(
    kafka_broker: str, tmp_path: Path, shared_examples: Path, row: Row
) -> None:
    row.scenario = "2 SIGKILL x3 at random points"
    setup, policy, lines, expected = day_with_topics(
        kafka_broker, tmp_path, shared_examples, seed=21
    )
    rng = random.Random(21)  # noqa: S311 - reproducible kill points, not secrets
    kill_at = sorted(rng.sample(range(3, CHUNKS - 3), 3))
    feeder = Feeder(kafka_broker, setup.topics["input"], lines)
    running = Worker(setup, "--policy", str(policy), *ARGS, log_name="w0")
    recoveries = []
    try:
        running.wait_log("Worker ready")
        feeder.start()
        for n, chunk in enumerate(kill_at, start=1):
            feeder.wait_for(chunk)
            running.stop(signal.SIGKILL)
            running = Worker(setup, "--policy", str(policy), *ARGS, log_name=f"w{n}")
            recoveries.append(running.wait_log("agents loaded", timeout_s=90))
        actual = rest_of_day(kafka_broker, setup, feeder)
    finally:
        running.stop()
    row.recover_s = round(max(recoveries), 1)
    row.note = f"killed at chunks {kill_at} of {CHUNKS}; recover_s: restart to agents loaded"
    finish(setup, lines, expected, actual, row)


def test_local_state_deleted_between_runs_is_rebuilt_from_the_changelog(
    kafka_broker: str, tmp_path: Path, shared_examples: Path, row: Row
) -> None:
    row.scenario = "4 local state deleted"
    setup, policy, lines, expected = day_with_topics(
        kafka_broker, tmp_path, shared_examples, seed=41
    )
    data = tmp_path / "rocks"
    env = {"AUXSTREAM_STORE": "rocksdb://", "AUXSTREAM_DATA_DIR": str(data)}
    feeder = Feeder(kafka_broker, setup.topics["input"], lines)
    first = Worker(setup, "--policy", str(policy), *ARGS, log_name="w0", **env)
    first.wait_log("Worker ready")
    feeder.start()
    feeder.wait_for(CHUNKS // 2)
    first.stop(signal.SIGTERM)
    assert any(data.iterdir()), "the worker kept no local state"
    shutil.rmtree(data)
    second = Worker(setup, "--policy", str(policy), *ARGS, log_name="w1", **env)
    try:
        row.recover_s = round(second.wait_log("agents loaded", timeout_s=90), 1)
        actual = rest_of_day(kafka_broker, setup, feeder)
    finally:
        second.stop()
    loaded = [line for line in second.text().splitlines() if "agents loaded" in line]
    row.note = f"rocksdb store deleted after SIGTERM at half time; {loaded[0].split(': ')[-1]}"
    assert " 0 agents loaded" not in loaded[0], loaded
    finish(setup, lines, expected, actual, row)


def test_two_workers_join_and_leave_with_sigterm_and_sigkill(
    kafka_broker: str, tmp_path: Path, shared_examples: Path, row: Row
) -> None:
    row.scenario = "10 two workers join/leave"
    setup, policy, lines, expected = day_with_topics(
        kafka_broker, tmp_path, shared_examples, seed=101
    )

    def start(name: str) -> Worker:
        return Worker(
            setup, "--policy", str(policy), *ARGS, log_name=name,
            AUXSTREAM_DATA_DIR=str(tmp_path / name),
        )  # fmt: skip

    feeder = Feeder(kafka_broker, setup.topics["input"], lines)
    started: list[Worker] = []
    try:
        first = start("first")
        started.append(first)
        first.wait_log("Worker ready")
        feeder.start()
        feeder.wait_for(CHUNKS // 5)
        second = start("second")
        started.append(second)
        second.wait_log("Worker ready", timeout_s=90)
        feeder.wait_for(CHUNKS * 2 // 5)
        first.stop(signal.SIGTERM)
        feeder.wait_for(CHUNKS * 3 // 5)
        second.stop(signal.SIGKILL)
        third = start("third")
        started.append(third)
        row.recover_s = round(third.wait_log("agents loaded", timeout_s=90), 1)
        actual = rest_of_day(kafka_broker, setup, feeder, quiet_s=8.0)
    finally:
        for worker in started:
            worker.stop()
    row.note = "first alone, second joins, SIGTERM first, SIGKILL second, third restarts"
    finish(setup, lines, expected, actual, row)


@pytest.mark.xfail(
    reason="faust-streaming 0.15.3 exactly_once does not hold under SIGKILL: outputs are not "
    "transactional and agents' table state is lost on recovery (records missing and "
    "unexpected in one run of two); at_least_once with idempotent ids is the documented "
    "guarantee",
    strict=True,
)
def test_exactly_once_under_sigkill_with_a_read_committed_verifier(
    kafka_broker: str,
    tmp_path: Path,
    shared_examples: Path,
    row: Row,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No repeat, no loss, nothing aborted: what exactly_once promises, which does not hold.

    The outputs are not transactional in faust-streaming 0.15.3 (see *Delivery* in
    docs/streaming.md), so a read_committed reader sees the records of the uncommitted window
    again after each kill (about a thousand in two kills); in one run of two the agents'
    table state was also lost on recovery (segments spanning a skipped event, durations with
    counts restarted). Kept as a strict xfail: it fails loudly the day it starts to hold.
    """
    row.scenario = "12 exactly_once + SIGKILL"
    setup, policy, lines, expected = day_with_topics(
        kafka_broker, tmp_path, shared_examples, seed=121
    )
    args = ("--policy", str(policy), "--processing-guarantee", "exactly_once", *ARGS)
    feeder = Feeder(kafka_broker, setup.topics["input"], lines)
    running = Worker(setup, *args, log_name="w0")
    recoveries = []
    try:
        running.wait_log("Worker ready")
        feeder.start()
        for n, chunk in enumerate((CHUNKS // 3, CHUNKS * 2 // 3), start=1):
            feeder.wait_for(chunk)
            running.stop(signal.SIGKILL)
            running = Worker(setup, *args, log_name=f"w{n}")
            recoveries.append(running.wait_log("agents loaded", timeout_s=90))
        feeder.wait_for(len(feeder.chunks))
        committed = functools.partial(AIOKafkaConsumer, isolation_level="read_committed")
        monkeypatch.setattr(stream_support, "AIOKafkaConsumer", committed)
        actual = asyncio.run(read_outputs(kafka_broker, setup.topics, quiet_s=6.0))
    finally:
        running.stop()
    row.recover_s = round(max(recoveries), 1)
    row.note = (
        "2 SIGKILLs, outputs read read_committed: exactly once means no repeat either; "
        "faust-streaming 0.15.3 does not hold it, use at_least_once"
    )
    finish(setup, lines, expected, actual, row, repeats=False)


def test_slow_first_flush_with_later_ones_in_flight_then_sigkill(
    kafka_broker: str, tmp_path: Path, shared_examples: Path, row: Row
) -> None:
    """Item 11: concurrency above one, a slow first message, then SIGKILL.

    The worker has no concurrent agents; its concurrency is ``flushes_in_flight`` flushes
    waiting for Kafka while later messages are handled and their records sent. The first
    flush is held (``fault_hold_first_flush_s``) after its records were delivered and before
    its agents are stored and its messages acked. Meanwhile later messages are handled and
    their records reach the output topics, but no offset may be committed (the completions
    are chained), so the SIGKILL that follows loses nothing: the restarted worker processes
    the slow messages again and every output equals the oracle's.
    """
    row.scenario = "11 slow first flush + SIGKILL"
    setup, policy, lines, expected = day_with_topics(
        kafka_broker, tmp_path, shared_examples, seed=111
    )
    group, outputs = group_of(setup), [setup.topics[name] for name in RECORD_NAMES]
    feeder = Feeder(kafka_broker, setup.topics["input"], lines)
    hold = {"AUXSTREAM_FAULT_HOLD_FIRST_FLUSH_S": str(HOLD_S), "AUXSTREAM_FLUSHES_IN_FLIGHT": "4"}
    slow = Worker(setup, "--policy", str(policy), *ARGS, log_name="slow", **hold)
    try:
        slow.wait_log("Worker ready")
        feeder.start()
        held_at = slow.wait_log("fault injection: holding the first flush")
        at_hold = sum(asyncio.run(end_offsets(kafka_broker, outputs)).values())
        later, committed = 0, {}
        while not committed and slow.age() < held_at + WATCH_HELD_S:  # Faust commits each 2.8 s
            time.sleep(0.5)
            later = sum(asyncio.run(end_offsets(kafka_broker, outputs)).values()) - at_hold
            committed = asyncio.run(committed_offsets(kafka_broker, group))
        still_held = "the first flush goes on" not in slow.text()
        slow.stop(signal.SIGKILL)
        assert still_held, "the hold ended before the kill: lengthen it"
        assert later > 0, "no later message's record was delivered while the first was held"
        assert not committed, f"offsets committed while the first flush was held: {committed}"
        restarted = Worker(setup, "--policy", str(policy), *ARGS, log_name="restarted")
        try:
            row.recover_s = round(restarted.wait_log("agents loaded", timeout_s=90), 1)
            actual = rest_of_day(kafka_broker, setup, feeder)
        finally:
            restarted.stop()
    finally:
        slow.stop()
    row.note = (
        f"first flush held {HOLD_S} s, 4 flushes in flight: {later} later records delivered "
        f"and 0 offsets committed in {WATCH_HELD_S} s, then SIGKILL"
    )
    finish(setup, lines, expected, actual, row)
