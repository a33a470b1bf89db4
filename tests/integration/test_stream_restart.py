"""Stopping and restarting workers mid-stream loses nothing and makes no in-order event late.

Events keep arriving the whole time (a feeder thread produces the day in small chunks). The
first worker is stopped with SIGTERM and the pipeline stays down for a few seconds; the
second is killed with SIGKILL (no commit, no goodbye to the group); the third finishes the
day. Each restart recovers the agent table from its changelog. The outputs must equal the
replay of the day as sets: every record present, nothing unknown (a late dead letter for an
in-order event would be one), duplicates of records sent before a stop allowed.
"""

from __future__ import annotations

import asyncio
import signal
import threading
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

AGENTS, HOURS, SEED = 40, 3, 7
CHUNKS, CHUNK_PAUSE_S = 40, 0.35


class Feeder(threading.Thread):
    """Produces the day chunk by chunk, as a floor that never stops; ``done`` counts chunks."""

    def __init__(self, broker: str, topic: str, lines: list[bytes]) -> None:
        super().__init__(daemon=True)
        size = -(-len(lines) // CHUNKS)
        self.chunks = [lines[i : i + size] for i in range(0, len(lines), size)]
        self.broker, self.topic = broker, topic
        self.done = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for chunk in self.chunks:
                asyncio.run(produce_lines(self.broker, self.topic, chunk))
                self.done += 1
                time.sleep(CHUNK_PAUSE_S)
        except BaseException as exc:
            self.error = exc

    def wait_for(self, chunks: int, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.done < chunks:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"feeder stuck at chunk {self.done}"
            time.sleep(0.05)


def test_workers_stopped_and_killed_mid_stream_lose_nothing(
    kafka_broker: str, tmp_path: Path, shared_examples: Path
) -> None:
    setup = StreamSetup(kafka_broker, tmp_path)
    policy = shared_examples / "policy.yaml"
    day = simulate(setup, AGENTS, HOURS, SEED)
    lines = day.read_bytes().splitlines()
    expected = replay(setup, day, policy)
    assert setup.cli("topics", "create").returncode == 0
    args = ("--policy", str(policy), "--session-timeout", "6")

    feeder = Feeder(kafka_broker, setup.topics["input"], lines)
    first = Worker(setup, *args, log_name="first")
    first.wait_log("Worker ready")
    feeder.start()
    feeder.wait_for(CHUNKS // 4)
    assert first.stop(signal.SIGTERM) == 0, first.text()[-3000:]

    feeder.wait_for(CHUNKS // 4 + 6)  # down for a few simulated minutes while events keep arriving
    second = Worker(setup, *args, log_name="second")
    second.wait_log("Worker ready")
    feeder.wait_for(CHUNKS * 3 // 4)
    second.stop(signal.SIGKILL)

    third = Worker(setup, *args, log_name="third")
    try:
        third.wait_log("Worker ready")
        assert "agents loaded" in third.text()
        feeder.wait_for(len(feeder.chunks))
        actual = asyncio.run(read_outputs(kafka_broker, setup.topics, quiet_s=5.0))
    finally:
        third.stop()

    horizon = newest_event_time(lines) - 2000
    problems = differences(expected, actual, horizon=horizon, allow_duplicates=True)
    assert not problems, "\n".join(problems)
    late = [d for d in actual["deadletters"] if d["reason"] == "late"]
    assert len({d["raw"] for d in late}) == sum(
        1 for d in expected["deadletters"] if d["reason"] == "late"
    )


def test_messages_the_stream_skipped_are_read_back_in_order(
    kafka_broker: str, tmp_path: Path
) -> None:
    """The GapFiller puts back what Faust can drop after an assignment (faust-streaming#596)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.structs import OffsetAndMetadata

    from auxstream.stream.gaps import GapFiller
    from auxstream.stream.processor import Inbound
    from tests.integration.kafka_helpers import create_topics, produce

    topic, group = f"gap.{tmp_path.name}", f"gap-{tmp_path.name}"

    async def scenario() -> tuple[list[int], list[int], list[int]]:
        await create_topics(kafka_broker, [topic])
        await produce(
            kafka_broker, topic, [(b"k", f"m{i}".encode()) for i in range(10)], partition=0
        )
        committer = AIOKafkaConsumer(
            bootstrap_servers=kafka_broker, group_id=group, enable_auto_commit=False
        )
        await committer.start()
        try:
            committer.assign([TopicPartition(topic, 0)])
            await committer.commit({TopicPartition(topic, 0): OffsetAndMetadata(3, "")})
        finally:
            await committer.stop()
        gaps = GapFiller(kafka_broker, group, read_committed=False)
        try:
            await gaps.reset([(topic, 0)])
            # The stream starts at 6 (3, 4, 5 dropped), later delivers 6 and 7 again after a seek.
            batch = [Inbound(topic, 0, o, b"k", f"m{o}".encode()) for o in (6, 7, 8, 6, 7, 9)]
            ordered, filled = await gaps.complete(batch)
        finally:
            await gaps.close()
        values = [int(m.value[1:]) for m in ordered if m.value]
        return [m.offset for m in ordered], [m.offset for m in filled], values

    offsets, filled, values = asyncio.run(scenario())
    assert offsets == [3, 4, 5, 6, 7, 8, 9]
    assert filled == [3, 4, 5]
    assert values == offsets
