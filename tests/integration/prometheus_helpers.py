"""A real Prometheus server for tests: scripts/prometheus.sh in a private folder and port.

Queries go through the HTTP API (``/api/v1/query``) on 127.0.0.1; waits poll a condition
against a deadline.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "prometheus.sh"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def need_prometheus() -> None:
    """Fail in CI (make test installs it), skip elsewhere, when the binaries are missing."""
    if shutil.which("prometheus") and shutil.which("promtool"):
        return
    message = "prometheus not installed: run `make prometheus` (scripts/prometheus.sh install)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


class PrometheusServer:
    """``scripts/prometheus.sh up`` with its own folder, port and targets; ``stop`` by pid."""

    def __init__(self, folder: Path, targets: list[str], scrape_interval: str = "1s") -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PROMETHEUS_DIR": str(folder),
            "PROMETHEUS_PORT": str(self.port),
            "PROMETHEUS_TARGETS": ",".join(targets),
            "PROMETHEUS_SCRAPE_INTERVAL": scrape_interval,
        }

    def run(self, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), action],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )

    def start(self) -> None:
        done = self.run("up")
        assert done.returncode == 0, f"prometheus.sh up failed:\n{done.stdout}{done.stderr}"

    def stop(self) -> None:
        self.run("down")

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query; the result vector (a scalar becomes one unlabelled sample)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 - our loopback server
            body = json.load(reply)
        assert body["status"] == "success", body
        data = body["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def wait(
        self, expr: str, ok: Callable[[list[dict[str, Any]]], bool], timeout_s: float, what: str
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.query(expr)
            if ok(result):
                return result
            if time.monotonic() > deadline:
                log = self.folder / "prometheus.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise AssertionError(
                    f"timed out after {timeout_s}s waiting for {what}: {result}\n{tail}"
                )
            time.sleep(0.5)


def values(result: list[dict[str, Any]]) -> list[float]:
    return [float(sample["value"][1]) for sample in result]


def has_data(result: list[dict[str, Any]]) -> bool:
    """At least one sample that is a number (NaN is Grafana's "no data" as well)."""
    return any(not math.isnan(v) for v in values(result))
