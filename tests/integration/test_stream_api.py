"""Two workers share the partitions: each reports only its own agents (the gauges add up to
the centre, also after a worker leaves), and either answers for any agent or team.

Worker A reads a simulated hour alone; worker B joins and takes some partitions over (from
the changelog); then B stops and A owns everything again. At each step the sum of
``auxstream_agents`` over the workers is the number of agents, every agent a worker reports
lives on a partition it owns, ``GET /agents/{id}`` gives the same answer from either worker
(routed to the owner) and ``GET /teams/{team}`` adds both workers up.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

from auxstream.stream.processor import home_partition
from tests.integration.prometheus_helpers import free_port
from tests.integration.test_stream_support import PARTITIONS, StreamSetup, Worker, produce_lines

AGENTS, HOURS, SEED = 24, 1, 99
TOKEN = "two-workers"  # noqa: S105 - loopback test token


def get(url: str, token: str | None = TOKEN) -> tuple[int, Any]:
    request = urllib.request.Request(url)  # noqa: S310 - loopback worker
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as reply:  # noqa: S310
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as exc:
        text = exc.read()
        try:
            return exc.code, json.loads(text or b"{}")
        except ValueError:
            return exc.code, {"raw": text.decode(errors="replace")}
    except OSError:
        return 0, None


def metric(base: str, name: str) -> dict[tuple[str, ...], float]:
    """Samples of one metric family on a worker's /metrics, by their label values."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as reply:  # noqa: S310
        text = reply.read().decode()
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == name]
    return {
        tuple(s.labels.values()): s.value for s in family.samples if not s.name.endswith("_created")
    }


def agents_gauge(base: str) -> dict[tuple[str, ...], float]:
    return metric(base, "auxstream_agents")


def settled(base: str, events: int) -> bool:
    """Every event reached an outcome and none is held in a grace window."""
    return (
        sum(metric(base, "auxstream_events").values()) == events
        and sum(metric(base, "auxstream_held_agents").values()) == 0
    )


def wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s: {what}"
        time.sleep(0.5)


def owned(base: str) -> list[int]:
    status, body = get(f"{base}/health", token=None)
    return body["partitions"] if status == 200 else []


def test_two_workers_share_agents_and_answer_for_each_other(
    kafka_broker: str, tmp_path: Path, shared_examples: Path
) -> None:
    setup = StreamSetup(kafka_broker, tmp_path)
    start = (datetime.now(UTC) - timedelta(hours=HOURS)).replace(second=0, microsecond=0)
    day = tmp_path / "hour.jsonl"
    done = setup.cli(
        "simulate", "--agents", str(AGENTS), "--hours", str(HOURS), "--seed", str(SEED),
        "--start", start.strftime("%Y-%m-%dT%H:%M:%SZ"), "--no-faults", "--out", str(day),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = day.read_bytes().splitlines()
    teams: dict[str, str] = {}
    for line in lines:
        event = orjson.loads(line)
        teams[event["agent_id"]] = event["team"]
    assert len(teams) == AGENTS
    assert setup.cli("topics", "create").returncode == 0
    asyncio.run(produce_lines(kafka_broker, setup.topics["input"], lines))

    policy = str(shared_examples / "policy.yaml")
    ports = free_port(), free_port()
    bases = [f"http://127.0.0.1:{p}" for p in ports]

    def start_worker(i: int) -> Worker:
        return Worker(
            setup,
            "--policy",
            policy,
            "--session-timeout",
            "10",
            log_name=f"worker-{i}",
            AUXSTREAM_WEB_PORT=str(ports[i]),
            AUXSTREAM_WEB_URL=bases[i],
            AUXSTREAM_WATERMARK="wall-clock",
            AUXSTREAM_API_TOKEN=TOKEN,
        )

    workers = [start_worker(0)]
    try:
        run_scenario(workers, start_worker, bases, lines, teams)
    except AssertionError as exc:
        logs = "\n".join(f"--- {w.log.name}\n{w.text()[-3000:]}" for w in workers)
        raise AssertionError(f"{exc}\n{logs}") from exc
    finally:
        for worker in workers:
            worker.stop()


def run_scenario(
    workers: list[Worker],
    start_worker: Callable[[int], Worker],
    bases: list[str],
    lines: list[bytes],
    teams: dict[str, str],
) -> None:
    """A alone, then A and B, then A alone again; the floor checked at each step."""
    a = bases[0]
    wait(lambda: len(owned(a)) == PARTITIONS, 90, "worker A to own every partition")
    wait(lambda: settled(a, len(lines)), 60, "worker A to apply every event")
    assert sum(agents_gauge(a).values()) == AGENTS
    check_floor(bases[:1], teams)

    workers.append(start_worker(1))
    b = bases[1]
    wait(
        lambda: len(owned(a)) + len(owned(b)) == PARTITIONS and owned(a) and owned(b),
        90,
        "the partitions to be split between A and B",
    )
    wait(
        lambda: sum(agents_gauge(a).values()) + sum(agents_gauge(b).values()) == AGENTS,
        30,
        "the gauges of A and B to add up to every agent",
    )
    check_floor(bases, teams)

    workers.pop().stop()
    wait(lambda: len(owned(a)) == PARTITIONS, 60, "worker A to take every partition back")
    wait(lambda: sum(agents_gauge(a).values()) == AGENTS, 30, "A to report every agent again")
    check_floor(bases[:1], teams)


def check_floor(bases: list[str], teams: dict[str, str]) -> None:
    """Each worker's agents are its partitions' agents; any worker answers for any agent."""
    reported: dict[str, int] = {}
    for base in bases:
        mine = owned(base)
        status, body = get(f"{base}/teams/north?scope=local")
        assert status == 200, body
        ours = [agent for agent in teams if home_partition(agent, PARTITIONS) in mine]
        local_north = sum(1 for agent in ours if teams[agent] == "north")
        assert body["agents"] == local_north, (base, body, mine)
        reported[base] = int(sum(agents_gauge(base).values()))
        assert reported[base] == len(ours), (base, reported[base], len(ours))
    assert sum(reported.values()) == len(teams)

    north = sum(1 for team in teams.values() if team == "north")
    for base in bases:
        status, team = get(f"{base}/teams/north")
        assert status == 200 and team["agents"] == north and team["workers"] == len(bases), team
    for agent in sorted(teams)[:6]:
        answers = [get(f"{base}/agents/{agent}") for base in bases]
        for status, body in answers:
            assert status == 200 and body["agent_id"] == agent, body
        owner = [b for b in bases if home_partition(agent, PARTITIONS) in owned(b)]
        assert {body["served_by"] for _, body in answers} == set(owner), (agent, answers)
        assert len({json.dumps(body["state"]) for _, body in answers}) == 1
    wrong = "not-the-token"
    assert get(f"{bases[0]}/agents/{sorted(teams)[0]}", token=wrong)[0] == 401
