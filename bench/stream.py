"""`make bench`: auxstream's worker on a real Kafka broker, against a floor and a peer.

Starts the project's broker privately (``.kafka/bench``, free ports on 127.0.0.1), then:
  1. floor: a bare aiokafka ``getmany`` + orjson consumer over the pre-loaded topic;
  2. throughput: one ``auxstream worker`` (event-time, memory store) over the same topic,
     from its first output to the last expected one (counts from ``auxstream replay``);
  3. peer: the plain Faust agent of ``bench/baselines`` on the same topic (a prefix of it);
  4. latency: a bare produce-consume hop, and the worker's event-to-output latency at a
     fixed offered load with grace 0 and with the policy's grace;
  5. recovery: a restarted worker rebuilding 50,000 agents from the changelog, then with
     its RocksDB store kept; 6. memory: the worker's peak RSS (VmHWM) with those agents.
Writes ``bench/results/<date>.json`` and the table in ``docs/performance.md``; stops the
broker (by its pid, through ``scripts/kafka.sh down``) at the end.
"""

# ruff: noqa: S603, S607 - the harness runs our own interpreter, git, tar, rm and scripts/kafka.sh

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auxstream.simulate.config import SimulationConfig
from auxstream.simulate.generator import simulate_messages
from auxstream.simulate.wire import Message
from bench import kafka_steps as steps
from bench.latency import boundary_shift, by_second, hours_for, rate, summarize_ms
from bench.report import machine, rows, write_doc

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
POLICY = ROOT / "examples" / "policy.yaml"
START = datetime(2026, 5, 12, 7, tzinfo=UTC)
RECORDS = ("segments", "intervals", "durations", "detections", "checkins", "deadletters")
GATED = ("segments", "durations", "checkins")  # whole-record kinds, not cut by a horizon
CODE: Path | None = None  # with --at REF: the auxstream package of that commit, else the tree's


def log(text: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def broker() -> Iterator[str]:
    """The project's broker in .kafka/bench on free ports, fresh data, stopped at the end."""
    env = {
        **os.environ,
        "KAFKA_DIR": ".kafka/bench",
        "KAFKA_PORT": str(free_port()),
        "KAFKA_CONTROLLER_PORT": str(free_port()),
        "KAFKA_HEAP_OPTS": "-Xms512m -Xmx1g",
    }
    kafka = [str(ROOT / "scripts" / "kafka.sh")]
    subprocess.run([*kafka, "down"], env=env, cwd=ROOT, check=False)
    subprocess.run(["rm", "-rf", str(ROOT / ".kafka" / "bench" / "data")], check=True)
    subprocess.run([*kafka, "up"], env=env, cwd=ROOT, check=True)
    try:
        yield f"127.0.0.1:{env['KAFKA_PORT']}"
    finally:
        subprocess.run([*kafka, "down"], env=env, cwd=ROOT, check=False)


@dataclass
class Setup:
    """One pipeline's private topics, app id and folder."""

    bootstrap: str
    tmp: Path
    partitions: int
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def topics(self) -> dict[str, str]:
        return {n: f"b.{self.tag}.{n}" for n in (*RECORDS, "input", "repartition", "policy")}

    @property
    def app_id(self) -> str:
        return f"bench-{self.tag}"

    def env(self, **extra: str) -> dict[str, str]:
        t = self.topics
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUXSTREAM_")}
        if CODE is not None:
            env["PYTHONPATH"] = str(CODE)
        env.update(
            {
                "AUXSTREAM_BROKER": f"kafka://{self.bootstrap}",
                "AUXSTREAM_APP_ID": self.app_id,
                "AUXSTREAM_INPUT_TOPIC": t["input"],
                "AUXSTREAM_REPARTITION_TOPIC": t["repartition"],
                "AUXSTREAM_POLICY_TOPIC": t["policy"],
                **{f"AUXSTREAM_{n.upper()}_TOPIC": t[n] for n in RECORDS},
                "AUXSTREAM_PARTITIONS": str(self.partitions),
                "AUXSTREAM_STORE": "memory://",
                "AUXSTREAM_WEB_PORT": "0",
                "AUXSTREAM_DATA_DIR": str(self.tmp / f"data-{self.tag}"),
                "AUXSTREAM_WATERMARK": "event-time",
                "AUXSTREAM_LOGLEVEL": "info",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(extra)
        return env

    def create_topics(self) -> None:
        done = subprocess.run(
            [PY, "-m", "auxstream", "topics", "create"],
            env=self.env(),
            cwd=child_cwd(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"topics create failed:\n{done.stderr}")


class Process:
    """A child (worker or peer) with its output in a log file; stopped by its pid."""

    def __init__(
        self, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path = ROOT
    ) -> None:
        self.log_path = log_path
        self._out = log_path.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=self._out, stderr=subprocess.STDOUT
        )

    def wait_log(self, needle: str, timeout_s: float) -> float:
        """Seconds from start until ``needle`` is in the log; SystemExit if it died or timed out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if needle in self.log_path.read_text(errors="replace"):
                return time.monotonic() - self.started
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        raise SystemExit(
            f"{needle!r} not seen (exit {self.proc.poll()}); log {self.log_path}:\n{tail}"
        )

    def peak_rss_mb(self) -> float | None:
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        return int(found.group(1)) / 1024 if found else None

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()


def worker(setup: Setup, name: str, policy: Path = POLICY, **env: str) -> Process:
    return Process(
        [PY, "-m", "auxstream", "worker", "--policy", str(policy)],
        setup.env(**env),
        setup.tmp / f"{name}.log",
        child_cwd(),
    )


def messages(agents: int, hours: float, seed: int, faults: bool = True) -> Any:
    config = SimulationConfig(agents=agents, hours=hours, seed=seed, start=START)
    if not faults:
        config = SimulationConfig(agents=agents, hours=hours, seed=seed, start=START, faults=None)
    return simulate_messages(config)


def consecutive_days(events: int, agents: int, seed: int) -> Iterator[Message]:
    """Simulated days one after another (seeds ``seed``, ``seed + 1``...; 07:00 UTC each,
    so no event id repeats) for as long as they are read: the simulator gives each agent one
    shift a day, 887,495 events for 5,000 agents, short of the issue's 1,000,000."""
    hours = min(24.0, hours_for(events, agents))
    for day in itertools.count():
        config = SimulationConfig(
            agents=agents, hours=hours, seed=seed + day, start=START + timedelta(days=day)
        )
        yield from simulate_messages(config)


def replay_counts(day: Path, tmp: Path) -> dict[str, int]:
    out = tmp / "replay"
    subprocess.run(
        [
            PY,
            "-m",
            "auxstream",
            "replay",
            str(day),
            "--policy",
            str(POLICY),
            "--out",
            str(out),
            "--quiet",
        ],
        cwd=child_cwd(),
        check=True,
        timeout=1800,
        env={**os.environ, **({"PYTHONPATH": str(CODE)} if CODE else {})},
    )
    return {n: sum(1 for _ in (out / f"{n}.jsonl").open("rb")) for n in RECORDS}


# ---------------------------------------------------------------------------- the steps
def throughput(args: argparse.Namespace, bootstrap: str, tmp: Path, result: dict[str, Any]) -> None:
    setup = Setup(bootstrap, tmp, args.partitions)
    setup.create_topics()
    day = tmp / "day.jsonl"
    log(
        f"pre-loading {args.events:,} events for {args.agents:,} agents "
        f"on {args.partitions} partitions"
    )
    with day.open("wb") as out:
        result["preload"] = asyncio.run(
            steps.preload(
                bootstrap,
                setup.topics["input"],
                consecutive_days(args.events, args.agents, args.seed),
                args.events,
                out,
            )
        )
    events = result["preload"]["events"]
    log(f"  {result['preload']}")
    expected = replay_counts(day, tmp)
    result["replay_counts"] = expected
    log(f"replay expects {expected}")

    log("floor: bare getmany + orjson")
    result["floor"] = asyncio.run(steps.floor(bootstrap, setup.topics["input"], events, 300))
    log(f"  {result['floor']}")

    log("throughput: one auxstream worker")
    proc = worker(setup, "worker-throughput")
    try:
        outs = {n: setup.topics[n] for n in RECORDS}
        got = asyncio.run(
            steps.count_outputs(
                bootstrap, outs, {n: expected[n] for n in GATED}, timeout_s=max(600, events / 1000)
            )
        )
        rss = proc.peak_rss_mb()
    finally:
        proc.stop()
    seconds = (got["done_at"] or time.time()) - (got["first_output_at"] or time.time())
    result["worker"] = {
        "events": events,
        "seconds": round(seconds, 2),
        "complete": got["complete"],
        "events_per_s": round(rate(events, seconds)) if got["complete"] else None,
        "output_counts": got["counts"],
        "peak_rss_mb": rss,
    }
    log(f"  {result['worker']}")

    peer_events = min(args.peer_events, events)
    log(f"peer: plain Faust agent on the first {peer_events:,} outputs")
    peer_out = f"b.{setup.tag}.peer-outputs"
    asyncio.run(_create(bootstrap, peer_out, args.partitions))
    peer = Process(
        [PY, "-m", "bench.baselines.faust_peer", "worker", "-l", "warn"],
        {
            **os.environ,
            "PEER_BROKER": f"kafka://{bootstrap}",
            "PEER_INPUT_TOPIC": setup.topics["input"],
            "PEER_OUTPUT_TOPIC": peer_out,
            "PEER_PARTITIONS": str(args.partitions),
            "PEER_APP_ID": f"peer-{setup.tag}",
            "PEER_DATADIR": str(tmp / "peer-data"),
        },
        tmp / "peer.log",
    )
    try:
        got = asyncio.run(
            steps.count_outputs(
                bootstrap,
                {"outputs": peer_out},
                {"outputs": peer_events},
                timeout_s=max(600, peer_events / 500),
            )
        )
    finally:
        peer.stop()
    seconds = (got["done_at"] or time.time()) - (got["first_output_at"] or time.time())
    result["peer"] = {
        "events": peer_events,
        "seconds": round(seconds, 2),
        "complete": got["complete"],
        "events_per_s": round(rate(peer_events, seconds)) if got["complete"] else None,
    }
    log(f"  {result['peer']}")


def latency(args: argparse.Namespace, bootstrap: str, tmp: Path, result: dict[str, Any]) -> None:
    hop_topic = f"b.hop.{uuid.uuid4().hex[:6]}"
    Setup(bootstrap, tmp, 1).env()  # topics of the hop are auto-created
    log("bare hop: produce then consume one record")
    asyncio.run(_create(bootstrap, hop_topic))
    asyncio.run(steps.prime(bootstrap, [hop_topic]))
    result["bare_hop"] = summarize_ms(
        asyncio.run(steps.bare_hop(bootstrap, hop_topic, args.hops, 120))
    )
    log(f"  {result['bare_hop']}")

    # The same hop at the latency runs' offered load: the same events, produced and read
    # back at the same rate by the same code, no worker in between (the floor the runs'
    # latency is judged against; the hop above is one record at a time on a quiet machine).
    def offered() -> Any:
        """The events every offered load produces (the same for the hop and each worker)."""
        hours = hours_for(args.rate * (args.warmup + args.duration), args.latency_agents)
        return messages(args.latency_agents, hours, args.seed, faults=False)

    loaded_topic = f"b.hopload.{uuid.uuid4().hex[:6]}"
    asyncio.run(_create(bootstrap, loaded_topic, args.partitions))
    asyncio.run(steps.prime(bootstrap, [loaded_topic]))
    log(f"bare hop at {args.rate}/s for {args.warmup:g} + {args.duration:g} s, no worker")
    hop_load = asyncio.run(
        steps.offered_load(
            bootstrap,
            loaded_topic,
            loaded_topic,
            offered(),
            per_s=args.rate,
            duration_s=args.duration,
            warmup_s=args.warmup,
            drain_s=2.0,
            id_field="event_id",
        )
    )
    result["bare_hop_loaded"] = summarize_ms(hop_load["latencies_ms"])
    log(f"  {result['bare_hop_loaded']}")
    base = POLICY.read_text()
    interval_s = 60 * int(re.search(r"(?m)^interval_minutes:\s*(\d+)", base).group(1))  # type: ignore[union-attr]
    for grace in (int(g) for g in args.graces.split(",")):
        policy = tmp / f"policy-grace{grace}.yaml"
        policy.write_text(re.sub(r"(?m)^grace_s:.*$", f"grace_s: {grace}", base))
        setup = Setup(bootstrap, tmp, args.partitions)
        setup.create_topics()
        asyncio.run(steps.prime(bootstrap, [setup.topics[n] for n in RECORDS]))
        proc = worker(setup, f"worker-latency-{grace}", policy)
        try:
            proc.wait_log("Worker ready", 120)
            log(
                f"latency, grace {grace} s: {args.rate}/s for {args.warmup:g} s of warm-up, "
                f"then {args.duration:g} s measured; {args.latency_agents:,} agents"
            )
            shift = 0.0
            if args.boundary is not None:
                shift = boundary_shift(time.time(), args.warmup + args.boundary, interval_s)
                log(f"  event times {shift:.1f} s ahead: an interval ends {args.boundary:g} s in")
            began = time.time()
            load = asyncio.run(
                steps.offered_load(
                    bootstrap,
                    setup.topics["input"],
                    setup.topics["segments"],
                    offered(),
                    per_s=args.rate,
                    duration_s=args.duration,
                    warmup_s=args.warmup,
                    grace_s=grace,
                    drain_s=grace + 5,
                    shift_s=shift,
                )
            )
            rss = proc.peak_rss_mb()
            if proc.proc.poll() is not None or not load["latencies_ms"]:
                tail = proc.log_path.read_text(errors="replace")[-3000:]
                raise SystemExit(
                    f"the latency worker (grace {grace}) gave no segments or stopped "
                    f"(exit {proc.proc.poll()}); log {proc.log_path}:\n{tail}"
                )
        finally:
            proc.stop()
            if args.logs:
                Path(args.logs).mkdir(parents=True, exist_ok=True)
                shutil.copy(proc.log_path, Path(args.logs) / proc.log_path.name)
        samples = load.pop("samples")
        seconds = by_second(samples, began + args.warmup)
        if args.logs:  # every sample: production, hand-over to the producer, arrival (epoch s)
            with (Path(args.logs) / f"latency-{grace}.csv").open("w") as out:
                out.writelines(f"{p:.6f},{h:.3f},{a:.6f}\n" for p, h, a in samples)
        beyond = summarize_ms(load.pop("beyond_hold_ms"))
        handed = summarize_ms([(h - p) * 1000 for p, h, _ in samples])
        delivered = summarize_ms([(a - h) * 1000 for _, h, a in samples])
        summary = {
            **summarize_ms(load.pop("latencies_ms")),
            **load,
            "beyond_hold": beyond,
            "handed": handed,
            "delivered": delivered,
            "by_second": seconds,
            "shift_s": round(shift, 3),
            "peak_rss_mb": rss,
        }
        result[f"latency_grace_{grace}"] = summary
        log(f"  { {k: v for k, v in summary.items() if k != 'by_second'} }")


async def _create(bootstrap: str, topic: str, partitions: int = 1) -> None:
    from tests.integration.kafka_helpers import create_topics

    await create_topics(bootstrap, [topic], partitions=partitions)


def recovery(args: argparse.Namespace, bootstrap: str, tmp: Path, result: dict[str, Any]) -> None:
    setup = Setup(bootstrap, tmp, args.partitions)
    setup.create_topics()
    log(f"recovery: {args.recovery_agents:,} agents, rocksdb store")
    with (tmp / "agents.jsonl").open("wb") as day:
        loaded = asyncio.run(
            steps.preload(
                bootstrap,
                setup.topics["input"],
                messages(args.recovery_agents, 0.1, args.seed),
                10 * args.recovery_agents,
                day,
            )
        )
    data = tmp / "rocksdb"
    env = {"AUXSTREAM_STORE": "rocksdb://", "AUXSTREAM_DATA_DIR": str(data)}
    first = worker(setup, "worker-recovery-0", POLICY, **env)
    try:
        cold_ready = first.wait_log("Worker ready", 180)
        caught_up = asyncio.run(
            steps.wait_caught_up(bootstrap, setup.app_id, setup.topics["input"], 900)
        )
        rss = first.peak_rss_mb()
    finally:
        first.stop()
    out: dict[str, Any] = {
        "agents": args.recovery_agents,
        "events": loaded["events"],
        "first_start_ready_s": round(cold_ready, 2),
        "caught_up_s": None if caught_up is None else round(caught_up, 2),
        "peak_rss_mb": rss,
    }
    for name, keep in (("changelog_s", False), ("rocksdb_kept_s", True)):
        if not keep:
            subprocess.run(["rm", "-rf", str(data)], check=True)
        again = worker(setup, f"worker-recovery-{name}", POLICY, **env)
        try:
            out[name] = round(again.wait_log("Worker ready", 300), 2)
        finally:
            again.stop()
    result["recovery"] = out
    log(f"  {out}")


def pin(ref: str, into: Path) -> None:
    """Export auxstream/ at ``ref`` into ``into``; the children import it from there."""
    global CODE
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", ref, "auxstream"], cwd=ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    (into / "topologies").mkdir()
    topics = subprocess.run(
        ["git", "show", f"{ref}:topologies/topics.yaml"], cwd=ROOT, capture_output=True, check=True
    )
    (into / "topologies" / "topics.yaml").write_bytes(topics.stdout)
    CODE = into


def child_cwd() -> Path:
    """Where auxstream's children run: ``python -m`` puts the cwd first on sys.path."""
    return CODE or ROOT


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=5_000)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument(
        "--peer-events",
        type=int,
        default=100_000,
        help="outputs of the Faust peer counted (a prefix: it runs ~3,500 events/s)",
    )
    parser.add_argument("--rate", type=int, default=2_000, help="offered load of the latency runs")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of offered load")
    parser.add_argument(
        "--latency-agents",
        type=int,
        default=50_000,
        help="agents of the latency runs (the large centre: one change per agent every 25 s "
        "at 2,000 events/s)",
    )
    parser.add_argument(
        "--warmup", type=float, default=10.0, help="seconds of load before latency is recorded"
    )
    parser.add_argument(
        "--graces", default="0,2", help="grace_s values of the latency runs, comma-separated"
    )
    parser.add_argument(
        "--boundary",
        type=float,
        help="seconds into the measured load at which an interval ends (event times are "
        "shifted ahead to put it there); default: wherever the clock puts it",
    )
    parser.add_argument(
        "--logs", help="copy the latency runs' worker logs and latency samples to this folder"
    )
    parser.add_argument("--hops", type=int, default=1_000)
    parser.add_argument("--recovery-agents", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--quick", action="store_true", help="a small run: 50k events, 10 s of load"
    )
    parser.add_argument(
        "--skip", default="", help="comma-separated steps to leave out: throughput,latency,recovery"
    )
    parser.add_argument(
        "--code", help="measure the auxstream/ package under this folder (experiments)"
    )
    parser.add_argument(
        "--at", help="measure auxstream/ as committed at this git ref (default: the work tree)"
    )
    parser.add_argument("--results", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--doc", default=str(ROOT / "docs" / "performance.md"))
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C: every worker and the broker are stopped by their pid.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if args.quick:
        args.events, args.agents, args.peer_events = 50_000, 1_000, 10_000
        args.duration, args.hops, args.recovery_agents = 10.0, 200, 5_000
        args.latency_agents, args.warmup = 5_000, 3.0
    skip = set(filter(None, args.skip.split(",")))
    began = time.monotonic()
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "sizes": {
            k: getattr(args, k)
            for k in (
                "events",
                "agents",
                "partitions",
                "peer_events",
                "rate",
                "duration",
                "hops",
                "recovery_agents",
            )
        },
    }
    with tempfile.TemporaryDirectory(prefix="auxstream-bench-") as name, broker() as bootstrap:
        tmp = Path(name)
        result["machine"] = machine(bootstrap)
        if args.code:
            global CODE  # set once, before any child starts
            CODE = Path(args.code).resolve()
            result["machine"]["measured"] = f"auxstream/ from {CODE} (an experiment)"
        elif args.at:
            pin(args.at, tmp / "code")
            result["machine"]["measured"] = (
                f"auxstream/ at {args.at} ({result['machine']['commit']} is HEAD)"
            )
        result["machine"]["loadavg_before"] = Path("/proc/loadavg").read_text().split()[:3]
        try:
            if "throughput" not in skip:
                throughput(args, bootstrap, tmp, result)
            if "latency" not in skip:
                latency(args, bootstrap, tmp, result)
            if "recovery" not in skip:
                recovery(args, bootstrap, tmp, result)
        finally:
            result["machine"]["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
            result["wall_s"] = round(time.monotonic() - began, 1)
            results = Path(args.results)
            results.mkdir(parents=True, exist_ok=True)
            path = results / f"{datetime.now(UTC):%Y-%m-%d}{'-quick' if args.quick else ''}.json"
            path.write_text(json.dumps(result, indent=2) + "\n")
            log(f"written {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    table = rows(result)
    write_doc(Path(args.doc), result, table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
