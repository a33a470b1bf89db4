"""`auxstream demo` end to end: a short run against the test broker, then nothing left behind."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

ROOT = Path(__file__).resolve().parents[2]
DURATION_S = 25


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (the run's private folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


async def topics_starting_with(bootstrap: str, prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return [t for t in await admin.list_topics() if t.startswith(prefix)]
    finally:
        await admin.close()


class Demo:
    """``auxstream demo`` as a subprocess in a process group of its own, its output in a file."""

    def __init__(self, tmp_path: Path, broker: str, *options: str) -> None:
        self.out = tmp_path / "demo.out"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUXSTREAM_")}
        with self.out.open("wb") as sink:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "auxstream",
                    "demo",
                    "--broker",
                    broker,
                    "--agents",
                    "30",
                    "--speed",
                    "300x",
                    "--no-live",
                    *options,
                ],
                cwd=ROOT,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_for(self, needle: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while needle not in self.text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"no {needle!r} in the demo's output:\n{self.text()}")
            time.sleep(0.2)

    def wait(self, timeout_s: float) -> str:
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"the demo did not end within {timeout_s} s:\n{self.text()}"
            ) from None
        return self.text()

    def kill(self) -> None:
        """On failure: the demo and its worker, by pid."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for pid in map(int, re.findall(r"worker pid (\d+)", self.text())):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def assert_nothing_left(out: str, broker: str) -> None:
    """The worker it reported has stopped, as has every process in its private folder; the
    folder and the run's topics are gone."""
    worker_pid = int(re.search(r"worker pid (\d+) started", out).group(1))  # type: ignore[union-attr]
    assert f"worker pid {worker_pid} stopped (SIGTERM), exit 0" in out, out
    assert not alive(worker_pid), f"worker {worker_pid} still running"
    folder = re.search(r"\(log (/\S+)/worker\.log\)", out).group(1)  # type: ignore[union-attr]
    assert processes_mentioning(folder) == []
    assert not Path(folder).exists()
    tag = re.search(r"topics start with (\S+)", out).group(1)  # type: ignore[union-attr]
    assert asyncio.run(topics_starting_with(broker, tag)) == []


def test_a_short_demo_reports_output_and_leaves_nothing_running(
    kafka_broker: str, tmp_path: Path
) -> None:
    demo = Demo(tmp_path, kafka_broker, "--duration", str(DURATION_S))
    out = demo.wait(DURATION_S + 90)
    assert demo.proc.returncode == 0, out
    assert f"until --duration {DURATION_S}" in out

    first = re.search(r"first output record\s+([\d.]+) s after start", out)
    assert first is not None, out
    assert 0 < float(first.group(1)) < DURATION_S
    segments = re.search(r"records\s+segments ([\d,]+)", out)
    assert segments is not None and int(segments.group(1).replace(",", "")) > 0, out
    sent = re.search(r"events sent\s+([\d,]+) in [\d.]+ s \((\d[\d,]*) events/s sustained\)", out)
    assert sent is not None and int(sent.group(1).replace(",", "")) > 0, out
    assert re.search(r"^demo 0:00:\d\d  floor ", out, re.MULTILINE), "no plain progress lines"
    assert_nothing_left(out, kafka_broker)


def test_ctrl_c_stops_everything_and_prints_the_summary(kafka_broker: str, tmp_path: Path) -> None:
    demo = Demo(tmp_path, kafka_broker)
    demo.wait_for("demo: first output record", timeout_s=90)
    os.killpg(demo.proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does to its foreground group
    out = demo.wait(60)
    assert demo.proc.returncode == 0, out
    assert "until Ctrl-C" in out
    assert "demo summary" in out
    assert_nothing_left(out, kafka_broker)


def test_without_a_broker_it_says_which_address_it_tried() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUXSTREAM_")}
    done = subprocess.run(
        [sys.executable, "-m", "auxstream", "demo", "--broker", "127.0.0.1:1", "--no-live"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "cannot reach Kafka at 127.0.0.1:1" in done.stderr
    assert "make kafka-up" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
