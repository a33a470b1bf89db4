"""The tests' private broker, driven through scripts/kafka.sh (the same script as `make kafka-up`).

Each test session gets its own broker: its own folder under .kafka/test and two free loopback
ports, so sessions running side by side (several people in one checkout, a CI clone next to a
working copy) never share or stop each other's broker, and a developer's broker on 9092 is left
alone. AUXSTREAM_TEST_KAFKA_PORT pins the listener port (the controller takes the next one).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SCRIPT = ROOT / "scripts" / "kafka.sh"
TEST_KAFKA_ROOT = ROOT / ".kafka" / "test"


@dataclass(frozen=True)
class ScriptBroker:
    """One broker managed by scripts/kafka.sh."""

    kafka_dir: Path
    """Its config, data, pid file and log."""
    port: int
    """PLAINTEXT listener on 127.0.0.1."""
    controller_port: int
    """KRaft controller listener on 127.0.0.1."""

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def run(self, command: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
        """Run `scripts/kafka.sh COMMAND` for this broker; never raises on a non-zero exit."""
        env = {
            **os.environ,
            "KAFKA_DIR": str(self.kafka_dir),
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
        }
        return subprocess.run(
            [str(KAFKA_SCRIPT), command],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def log_tail(self, lines: int = 50) -> str:
        """The end of the broker's log, for failure messages."""
        log = self.kafka_dir / "kafka.log"
        if not log.exists():
            return f"(no broker log at {log})"
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        return f"last {len(tail)} lines of {log}:\n" + "\n".join(tail)

    def remove(self) -> None:
        """Delete the broker's folder (after it stopped)."""
        shutil.rmtree(self.kafka_dir, ignore_errors=True)


def new_session_broker() -> ScriptBroker:
    """A not yet started broker with a folder and ports of its own."""
    pinned = os.environ.get("AUXSTREAM_TEST_KAFKA_PORT")
    if pinned:
        port, controller_port = int(pinned), int(pinned) + 1
    else:
        port, controller_port = _free_port(), _free_port()
    kafka_dir = TEST_KAFKA_ROOT / f"session-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    return ScriptBroker(kafka_dir=kafka_dir, port=port, controller_port=controller_port)


def _free_port() -> int:
    # The kernel picks an unused loopback port; the broker binds it a moment later. Another
    # process could take it in between, in which case kafka.sh says the port is in use.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(broker: ScriptBroker, what: str = "the test broker") -> Iterator[ScriptBroker]:
    """``scripts/kafka.sh up`` for ``broker``, then ``down`` (by its pid) and its folder removed.

    A broker that does not start fails the test (never skips): the folder stays behind with
    the whole log in it, and the failure shows the log's tail.
    """
    try:
        # The script bounds its own wait for the broker; this only guards against a hang.
        started = broker.run("up", timeout_s=600)
    except subprocess.TimeoutExpired as exc:
        broker.run("down", timeout_s=60)
        pytest.fail(f"scripts/kafka.sh up hung: {exc}\n{broker.log_tail()}", pytrace=False)
    if started.returncode != 0:
        # The script prints the log's tail when the broker itself failed; add it when the
        # script stopped before that.
        output = started.stdout + started.stderr
        tail = "" if "last 50 lines" in output else "\n" + broker.log_tail()
        pytest.fail(
            f"could not start {what} (scripts/kafka.sh up exited {started.returncode}):"
            f"\n{output}{tail}",
            pytrace=False,
        )
    try:
        yield broker
    finally:
        stopped = broker.run("down", timeout_s=60)
        if stopped.returncode == 0:
            broker.remove()
