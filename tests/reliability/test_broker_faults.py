"""Slow fault tests (issue 6 items 5 and 6): the broker goes away under a running worker.

Each test starts a broker of its own (scripts/kafka.sh, the same helper as the session's
broker) so stopping it touches no other test; the session broker is not used.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auxstream.stream.compare import differences
from tests.integration.broker_script import ScriptBroker, new_session_broker
from tests.integration.test_stream_support import (
    StreamSetup,
    Worker,
    newest_event_time,
    produce_lines,
    read_outputs,
)
from tests.reliability.support import (
    GRACE_MS,
    Row,
    clean_day,
    group_of,
    inputs_of,
    oracle,
    wait_lag_zero,
)

pytestmark = pytest.mark.slow
DOWN_S = 20.0


@pytest.fixture
def own_broker() -> Iterator[ScriptBroker]:
    broker = new_session_broker()
    started = broker.run("up", timeout_s=180)
    assert started.returncode == 0, started.stderr + broker.log_tail()
    try:
        yield broker
    finally:
        if broker.run("down", timeout_s=60).returncode == 0:
            broker.remove()


def broker_pid(broker: ScriptBroker) -> int:
    return int((broker.kafka_dir / "kafka.pid").read_text().strip())


def run_with_outage(
    broker: ScriptBroker, tmp_path: Path, policy: Path, row: Row, *, kill: bool
) -> None:
    setup = StreamSetup(broker.bootstrap, tmp_path)
    lines = clean_day(setup, 40, 6, seed=55 if kill else 66)
    expected = oracle(setup, lines, policy)
    assert setup.cli("topics", "create").returncode == 0
    half = len(lines) // 2
    asyncio.run(produce_lines(broker.bootstrap, setup.topics["input"], lines[:half]))
    args = ("--policy", str(policy), "--session-timeout", "10")
    running = Worker(setup, *args, log_name="w0")
    restarts = 0
    try:
        running.wait_log("Worker ready", timeout_s=90)
        if kill:
            time.sleep(0.5)  # in the middle of catching up the first half
            pid = broker_pid(broker)
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        else:
            wait_lag_zero(broker.bootstrap, group_of(setup), inputs_of(setup))
            stopped = broker.run("down", timeout_s=60)
            assert stopped.returncode == 0, stopped.stderr
            deadline = time.monotonic() + DOWN_S
            while time.monotonic() < deadline:
                assert running.proc.poll() is None, running.text()[-3000:]
                time.sleep(0.5)
        up = broker.run("up", timeout_s=180)
        assert up.returncode == 0, up.stderr + broker.log_tail()
        back = time.monotonic()
        asyncio.run(produce_lines(broker.bootstrap, setup.topics["input"], lines[half:]))
        if kill and running.proc.poll() is not None:
            restarts += 1  # recorded; the data must still all arrive
            running.stop()
            running = Worker(setup, *args, log_name="w1")
        wait_lag_zero(broker.bootstrap, group_of(setup), inputs_of(setup), timeout_s=120)
        row.recover_s = round(time.monotonic() - back, 1)
        alive = running.proc.poll() is None
        actual = asyncio.run(read_outputs(broker.bootstrap, setup.topics, quiet_s=5.0))
    finally:
        running.stop()
    horizon = newest_event_time(lines) - GRACE_MS
    row.events_in = len(lines)
    row.tally(expected, actual, horizon)
    row.note = (
        "broker SIGKILLed while the worker caught up; " if kill else f"broker down {DOWN_S:.0f} s; "
    ) + f"worker restarts needed: {restarts}; recover_s: broker up to all input committed"
    problems = differences(expected, actual, horizon=horizon, allow_duplicates=True)
    assert not problems, "\n".join(problems)
    assert alive
    assert restarts == 0, running.text()[-3000:]


def test_broker_stopped_for_20_s_and_restarted(
    own_broker: ScriptBroker, tmp_path: Path, shared_examples: Path, row: Row
) -> None:
    row.scenario = "5 broker stopped 20 s"
    run_with_outage(own_broker, tmp_path, shared_examples / "policy.yaml", row, kill=False)


def test_broker_killed_and_restarted(
    own_broker: ScriptBroker, tmp_path: Path, shared_examples: Path, row: Row
) -> None:
    row.scenario = "6 broker SIGKILL"
    run_with_outage(own_broker, tmp_path, shared_examples / "policy.yaml", row, kill=True)
