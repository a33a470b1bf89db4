"""Issue 6 item 3: a worker stopped with SIGTERM and restarted loses nothing and repeats nothing.

Events keep arriving the whole time (the restart test's feeder). Each of two workers is
stopped with SIGTERM mid-stream, the pipeline stays down a few chunks, and the next one
takes over from the committed offsets and the changelog. A clean stop commits what it
flushed, so the outputs must equal the oracle exactly, duplicates included.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from auxstream.stream.compare import differences
from tests.integration.test_stream_restart import CHUNKS, Feeder
from tests.integration.test_stream_support import (
    Worker,
    newest_event_time,
    read_outputs,
)
from tests.reliability.support import GRACE_MS, Row, day_with_topics


def test_sigterm_and_restart_lose_nothing_and_repeat_nothing(
    kafka_broker: str, tmp_path: Path, shared_examples: Path, row: Row
) -> None:
    row.scenario = "3 SIGTERM and restart (x2)"
    setup, policy, lines, expected = day_with_topics(
        kafka_broker, tmp_path, shared_examples, seed=31
    )
    args = ("--policy", str(policy), "--session-timeout", "6")

    feeder = Feeder(kafka_broker, setup.topics["input"], lines)
    running = Worker(setup, *args, log_name="w0")
    recoveries = []
    try:
        running.wait_log("Worker ready")
        feeder.start()
        for n, stop_at in enumerate((CHUNKS // 3, CHUNKS * 2 // 3), start=1):
            feeder.wait_for(stop_at)
            assert running.stop(signal.SIGTERM) == 0, running.text()[-3000:]
            feeder.wait_for(stop_at + 4)  # down while events keep arriving
            running = Worker(setup, *args, log_name=f"w{n}")
            recoveries.append(running.wait_log("agents loaded"))
        feeder.wait_for(len(feeder.chunks))
        actual = asyncio.run(read_outputs(kafka_broker, setup.topics, quiet_s=5.0))
    finally:
        running.stop()

    horizon = newest_event_time(lines) - GRACE_MS
    row.events_in = len(lines)
    row.tally(expected, actual, horizon)
    row.recover_s = round(max(recoveries), 1)
    row.note = (
        "recover_s: restart to agents loaded (worst of 2); a clean stop must commit what it "
        "flushed, so no record may repeat"
    )
    problems = differences(expected, actual, horizon=horizon)
    assert not problems, "\n".join(problems)
