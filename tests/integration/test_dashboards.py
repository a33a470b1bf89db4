"""End to end: a real worker processes a simulated floor, a real Prometheus scrapes it, and
every panel of the Grafana dashboards in deploy/grafana returns data.

The simulated period started three hours ago and is still going on: the events up to now
are produced in chunks over about twenty seconds (a floor catching up), keyed by agent_id.
Prometheus (scripts/prometheus.sh, the rules of deploy/prometheus) scrapes the worker every
second. Once every message has reached an outcome, each panel's query is run through the
HTTP API at that moment with Grafana's variables filled in; an empty or NaN result fails the
test. Each panel's value is printed. The HTTP API is checked on the way (/health, an agent,
a team, the bearer token).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from auxstream.domain.events import InvalidEvent, event_from_dict
from tests.integration.prometheus_helpers import (
    PrometheusServer,
    free_port,
    has_data,
    need_prometheus,
    values,
)
from tests.integration.test_stream_support import StreamSetup, Worker, produce_lines

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
AGENTS, HOURS, SEED, BEHIND_H = 60, 6, 20261123, 3
CHUNKS, PAUSE_S = 20, 1.0
TOKEN = "test-token"  # noqa: S105 - a throwaway token for a loopback worker


def panels() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.stem, panel)
        for path in DASHBOARDS
        for panel in json.loads(path.read_text())["panels"]
    ]


def grafana_vars(expr: str, range_s: int) -> str:
    """Fill in what Grafana would: all teams, the dashboard's range, a rate interval."""
    return (
        expr.replace("$__rate_interval", "1m")
        .replace("$__range", f"{range_s}s")
        .replace('"$team"', '".*"')
    )


def simulated_floor(setup: StreamSetup) -> list[bytes]:
    """The simulated events up to now of a period that began BEHIND_H hours ago."""
    start = (datetime.now(UTC) - timedelta(hours=BEHIND_H)).replace(second=0, microsecond=0)
    day = setup.tmp / "floor.jsonl"
    done = setup.cli(
        "simulate",
        "--agents", str(AGENTS),
        "--hours", str(HOURS),
        "--seed", str(SEED),
        "--start", start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--profile-fraction", "0.1",
        "--out", str(day),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    now_ms = int(time.time() * 1000) - 5000
    lines = []
    for line in day.read_bytes().splitlines():
        try:
            if event_from_dict(orjson.loads(line)).ts > now_ms:
                continue
        except (orjson.JSONDecodeError, InvalidEvent, AttributeError):
            pass  # malformed lines stay: they become dead letters
        lines.append(line)
    return lines


def http(url: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url)  # noqa: S310 - loopback worker
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def scrape_sum(url: str, name: str) -> float:
    with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310
        text = reply.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def test_every_dashboard_panel_shows_data(
    kafka_broker: str, tmp_path: Path, shared_examples: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need_prometheus()
    assert DASHBOARDS, "no dashboards in deploy/grafana/dashboards"
    setup = StreamSetup(kafka_broker, tmp_path)
    lines = simulated_floor(setup)
    assert setup.cli("topics", "create").returncode == 0

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker = Worker(
        setup,
        "--policy",
        str(shared_examples / "policy.yaml"),
        AUXSTREAM_WEB_PORT=str(port),
        AUXSTREAM_WATERMARK="wall-clock",
        AUXSTREAM_API_TOKEN=TOKEN,
    )
    prometheus = PrometheusServer(tmp_path / "prometheus", [f"127.0.0.1:{port}"])
    try:
        worker.wait_log("Worker ready", timeout_s=90)
        prometheus.start()
        prometheus.wait("up", lambda r: values(r) == [1.0], 30, "the worker target to be up")
        assert http(f"{base}/health")[0] == 200

        began = time.time()
        size = -(-len(lines) // CHUNKS)
        for i in range(0, len(lines), size):
            asyncio.run(produce_lines(kafka_broker, setup.topics["input"], lines[i : i + size]))
            time.sleep(PAUSE_S)

        deadline = time.monotonic() + 90
        while scrape_sum(f"{base}/metrics", "auxstream_events_total") < len(lines):
            assert time.monotonic() < deadline, (
                "the worker did not reach an outcome for every event"
            )
            assert worker.proc.poll() is None, worker.text()[-3000:]
            time.sleep(0.5)
        time.sleep(4)  # a few scrapes and rule evaluations after the last outcome
        at = time.time()
        range_s = int(at - began) + 30

        check_api(base)

        empty, report = [], []
        for dashboard, panel in panels():
            for target in panel["targets"]:
                expr = grafana_vars(target["expr"], range_s)
                result = prometheus.query(expr, at=at)
                shown = describe(result, target.get("legendFormat"))
                report.append(f"{dashboard:<10} {panel['title']} [{target['refId']}]: {shown}")
                if not has_data(result):
                    empty.append(f"{dashboard}: {panel['title']}: {expr}")
        metrics = metric_values(prometheus, at)
    finally:
        prometheus.stop()
        worker.stop()

    with capsys.disabled():
        print(f"\n{len(lines)} events produced over {range_s - 30}s; panel values:")
        print("\n".join(f"  {line}" for line in report))
        print("metrics (sum over the worker's series at the same moment):")
        print("\n".join(f"  {line}" for line in metrics))
    assert not empty, "panels without data:\n" + "\n".join(empty)


def check_api(base: str) -> None:
    status, body = http(f"{base}/teams/north")
    assert status == 401 and "error" in body
    status, team = http(f"{base}/teams/north", TOKEN)
    assert status == 200 and team["agents"] > 0, team
    status, agent = http(f"{base}/agents/A00001", TOKEN)
    assert status == 200 and agent["agent_id"] == "A00001", agent
    assert {"state", "reason_code", "since", "today_s_by_code", "open_detections"} <= set(agent)
    assert http(f"{base}/agents/nobody", TOKEN)[0] == 404
    assert http(f"{base}/agents/{'x' * 129}", TOKEN)[0] == 400
    assert http(f"{base}/health/live")[0] == 200


def describe(result: list[dict[str, Any]], legend: str | None) -> str:
    if not result:
        return "NO DATA"
    parts = []
    for sample in sorted(result, key=lambda s: sorted(s["metric"].items()))[:8]:
        label = legend or ""
        for key, value in sample["metric"].items():
            label = label.replace("{{" + key + "}}", value)
        number = float(sample["value"][1])
        parts.append(f"{label + '=' if label else ''}{number:.4g}")
    more = f" (+{len(result) - 8} more)" if len(result) > 8 else ""
    return ", ".join(parts) + more


CONTRACT_METRICS = (
    "auxstream_events_total",
    "auxstream_agents",
    "auxstream_state_seconds_total",
    "auxstream_detections_total",
    "auxstream_checkins_total",
    "auxstream_event_lag_seconds_count",
    "auxstream_dead_letters_total",
)


def metric_values(prometheus: PrometheusServer, at: float) -> list[str]:
    out = []
    for name in CONTRACT_METRICS:
        total = values(prometheus.query(f"sum({name})", at=at))
        by = prometheus.query(f"count({name})", at=at)
        out.append(f"{name}: {total[0] if total else 'NO DATA'} over {values(by)[0]:.0f} series")
    return out
