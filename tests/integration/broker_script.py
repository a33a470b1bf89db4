"""The tests' private broker, driven through scripts/kafka.sh (the same script as `make kafka-up`).

Its own folder (.kafka/test) and ports (19092/19093, or AUXSTREAM_TEST_KAFKA_PORT and the port
after it) keep it apart from a developer's broker on 9092.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SCRIPT = ROOT / "scripts" / "kafka.sh"
TEST_KAFKA_DIR = ROOT / ".kafka" / "test"
TEST_PORT = int(os.environ.get("AUXSTREAM_TEST_KAFKA_PORT", "19092"))
TEST_BOOTSTRAP = f"127.0.0.1:{TEST_PORT}"


def run_kafka_script(command: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    """Run `scripts/kafka.sh COMMAND` for the test broker; never raises on a non-zero exit."""
    env = {
        **os.environ,
        "KAFKA_DIR": str(TEST_KAFKA_DIR),
        "KAFKA_PORT": str(TEST_PORT),
        "KAFKA_CONTROLLER_PORT": str(TEST_PORT + 1),
    }
    return subprocess.run(
        [str(KAFKA_SCRIPT), command],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def log_tail(lines: int = 50) -> str:
    """The end of the test broker's log, for failure messages."""
    log = TEST_KAFKA_DIR / "kafka.log"
    if not log.exists():
        return f"(no broker log at {log})"
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return f"last {len(tail)} lines of {log}:\n" + "\n".join(tail)
