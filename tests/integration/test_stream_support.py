"""Helpers of the stream's integration tests: run a worker subprocess, feed it, read its topics.

(No tests here; the name only keeps the file among the stream's test files.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from auxstream.stream.processor import home_partition
from tests.integration.kafka_helpers import ConditionNotMet

ROOT = Path(__file__).resolve().parents[2]
RECORD_NAMES = ("segments", "intervals", "durations", "detections", "checkins", "deadletters")
PARTITIONS = 4


@dataclass
class StreamSetup:
    """Topic names, app id and folders of one test's private pipeline."""

    broker: str
    tmp: Path
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    partitions: int = PARTITIONS

    @property
    def topics(self) -> dict[str, str]:
        return {
            name: f"st.{self.tag}.{name}"
            for name in (*RECORD_NAMES, "input", "repartition", "policy")
        }

    def env(self, **extra: str) -> dict[str, str]:
        """The worker's environment: every setting private to this test."""
        t = self.topics
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUXSTREAM_")}
        env.update(
            {
                "AUXSTREAM_BROKER": self.broker,
                "AUXSTREAM_APP_ID": f"st-{self.tag}",
                "AUXSTREAM_INPUT_TOPIC": t["input"],
                "AUXSTREAM_REPARTITION_TOPIC": t["repartition"],
                "AUXSTREAM_POLICY_TOPIC": t["policy"],
                **{f"AUXSTREAM_{name.upper()}_TOPIC": t[name] for name in RECORD_NAMES},
                "AUXSTREAM_PARTITIONS": str(self.partitions),
                "AUXSTREAM_STORE": "memory://",
                "AUXSTREAM_WEB_PORT": "0",
                "AUXSTREAM_DATA_DIR": str(self.tmp / f"data-{self.tag}"),
                "AUXSTREAM_WATERMARK": "event-time",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(extra)
        return env

    def cli(self, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "auxstream", *args],
            env=self.env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )


class Worker:
    """``python -m auxstream worker`` as a subprocess, its output in a log file."""

    def __init__(
        self, setup: StreamSetup, *args: str, log_name: str = "worker", **env: str
    ) -> None:
        self.log = setup.tmp / f"{log_name}-{uuid.uuid4().hex[:6]}.log"
        self._out = self.log.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "auxstream", "worker", *args],
            env=setup.env(**env),
            cwd=ROOT,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def age(self) -> float:
        """Seconds since the worker was started."""
        return time.monotonic() - self.started

    def wait_log(self, needle: str, timeout_s: float = 60.0) -> float:
        """Seconds since start when ``needle`` appeared in the log (fails if the worker died)."""
        deadline = time.monotonic() + timeout_s
        while needle not in self.text():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"worker exited {self.proc.returncode} before {needle!r}:\n"
                    + self.text()[-4000:]
                )
            if time.monotonic() > deadline:
                raise ConditionNotMet(
                    f"{needle!r} not in the worker log after {timeout_s}s:\n{self.text()[-4000:]}"
                )
            time.sleep(0.1)
        return time.monotonic() - self.started

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        """Signal the worker (by pid) and wait for it; SIGKILL if it does not stop in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()
        return self.proc.returncode


@contextlib.contextmanager
def worker(setup: StreamSetup, *args: str, **env: str) -> Iterator[Worker]:
    running = Worker(setup, *args, **env)
    try:
        yield running
    finally:
        running.stop()


def key_of(line: bytes) -> bytes | None:
    """The agent_id of an event line, as the ACD would key it (None when there is none)."""
    try:
        agent = orjson.loads(line).get("agent_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return agent.encode() if isinstance(agent, str) and agent else None


async def produce_lines(
    broker: str,
    topic: str,
    lines: Sequence[bytes],
    partitions: int = PARTITIONS,
    keyed: bool = True,
) -> None:
    """Produce event lines as fast as possible, keyed by agent_id on its home partition."""
    producer = AIOKafkaProducer(
        bootstrap_servers=broker, acks="all", linger_ms=5, max_batch_size=256 * 1024
    )
    await producer.start()
    try:
        pending = []
        for line in lines:
            key = key_of(line) if keyed else None
            partition = home_partition(key.decode(), partitions) if key else 0
            pending.append(await producer.send(topic, line, key=key, partition=partition))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def read_outputs(
    broker: str,
    topics: dict[str, str],
    *,
    quiet_s: float = 4.0,
    timeout_s: float = 120.0,
    at_least: int = 1,
) -> dict[str, list[dict[str, Any]]]:
    """Read the six output topics from the beginning until nothing new came for ``quiet_s``."""
    by_topic = {topics[name]: name for name in RECORD_NAMES}
    consumer = AIOKafkaConsumer(
        *by_topic,
        bootstrap_servers=broker,
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=1000,
    )
    await consumer.start()
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    total = 0
    deadline = time.monotonic() + timeout_s
    last_new = time.monotonic()
    try:
        while True:
            now = time.monotonic()
            if total >= at_least and now - last_new >= quiet_s:
                return out
            if now > deadline:
                raise ConditionNotMet(
                    f"outputs still growing (or fewer than {at_least}) after {timeout_s}s: "
                    f"{total} read"
                )
            batches = await consumer.getmany(timeout_ms=250)
            for tp, records in batches.items():
                for record in records:
                    out[by_topic[tp.topic]].append(orjson.loads(record.value))
                if records:
                    total += len(records)
                    last_new = time.monotonic()
    finally:
        await consumer.stop()


def replay(setup: StreamSetup, day: Path, policy: Path) -> dict[str, list[dict[str, Any]]]:
    """``auxstream replay`` of the same file, read back record kind by record kind."""
    out_dir = setup.tmp / f"replay-{uuid.uuid4().hex[:6]}"
    done = setup.cli("replay", str(day), "--policy", str(policy), "--out", str(out_dir), "--quiet")
    assert done.returncode == 0, done.stderr
    return {
        name: [orjson.loads(line) for line in (out_dir / f"{name}.jsonl").read_bytes().splitlines()]
        for name in RECORD_NAMES
    }


def simulate(setup: StreamSetup, agents: int, hours: float, seed: int) -> Path:
    day = setup.tmp / f"day-{agents}x{hours}-{seed}.jsonl"
    done = setup.cli(
        "simulate",
        "--agents",
        str(agents),
        "--hours",
        str(hours),
        "--seed",
        str(seed),
        "--out",
        str(day),
    )
    assert done.returncode == 0, done.stderr
    return day


def newest_event_time(lines: Sequence[bytes]) -> int:
    """Newest valid event time of the input (ms): the replay's final watermark."""
    from auxstream.domain.events import InvalidEvent, event_from_dict

    newest = 0
    for line in lines:
        try:
            newest = max(newest, event_from_dict(orjson.loads(line)).ts)
        except (orjson.JSONDecodeError, InvalidEvent):
            continue
    return newest


def stopped_in_time(proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout_s)
    return proc.poll() is not None


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Last resort for a worker that ignored SIGTERM (by its pid only)."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
