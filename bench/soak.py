"""`make soak`: one worker under a simulated contact centre at 20x for two hours; do memory and
lag stay flat? (issue 6, item 13)

Starts everything it needs on 127.0.0.1 and stops it by pid at the end, on Ctrl-C or SIGTERM
too:

  1. a private KRaft broker through ``scripts/kafka.sh`` (``KAFKA_DIR=.kafka/soak/<run>``, two
     free ports), and this run's topics with ``auxstream topics create``;
  2. one ``python -m auxstream worker`` (RocksDB store in a private data dir, event-time
     watermark: simulated time runs 20 times faster than the wall clock; ``/metrics`` on a
     free port);
  3. a simulated centre (1,500 agents in 12 teams) produced at 20 times real time, paced by
     event time: one nine-hour day of ``auxstream simulate`` after another (seed + k), as many
     as the run needs (two hours at 20x is 40 simulated hours);
  4. every 30 s: the worker's RSS (``/proc/<pid>/status``), its consumer group's committed lag
     (end offsets minus committed offsets of the input and repartition topics), messages
     produced, records on the output topics, and what its ``/metrics`` says, to a JSON lines
     file (``.cache/soak/<run>/samples.jsonl``);
  5. after the feed stops: a bounded wait for the lag to drain to 0; then the least-squares
     slopes of RSS (MB/h) and lag (events/h) after the warm-up, the verdict
     (``bench/soak_math.py`` documents the thresholds), ``bench/results/soak-<date>.json`` and
     ``docs/soak.md``. Exit 0 when it passed, 1 when it did not, 2 when it could not run,
     130 when interrupted (the partial samples are kept, the doc is not rewritten).

``--at REF`` (``make soak SOAK_AT=<sha>``) runs auxstream/ as committed at REF, exported to
/tmp, for the worker and for this harness's simulator alike: the work tree may change while
a two-hour run is under way.
"""

# ruff: noqa: S603, S607 - the harness runs our own interpreter, git, tar and scripts/kafka.sh

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
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
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.soak_math import Summary, Thresholds, judge, rows_every, summarize, warmup_s

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
RECORDS = ("segments", "intervals", "durations", "detections", "checkins", "deadletters")
START = datetime(2026, 5, 12, 7, tzinfo=UTC)
DOC = ROOT / "docs" / "soak.md"
RESULTS = ROOT / "bench" / "results"
RUNS = ROOT / ".cache" / "soak"


def log(text: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


class Interrupted(Exception):
    """SIGTERM (or SIGINT outside the event loop): stop everything, keep what was measured."""


# ---------------------------------------------------------------------- the code that runs
@dataclass
class Code:
    """Where auxstream/ comes from: the work tree, or a commit exported to /tmp."""

    head: str
    """``git rev-parse HEAD`` of the checkout when the run started."""
    dirty: bool
    """Uncommitted changes to tracked files under auxstream/ at that moment."""
    at: str | None = None
    """The commit run (``--at``), None for the work tree."""
    path: Path | None = None
    """The exported tree (auxstream/, topologies/, examples/policy.yaml) for ``--at``."""

    @property
    def root(self) -> Path:
        return self.path or ROOT

    def describe(self) -> str:
        if self.at:
            where = f"exported to {self.path}; HEAD {self.head[:12]}"
            return f"auxstream/ at commit {self.at[:12]} ({where})"
        return f"auxstream/ of the work tree at {self.head[:12]}" + (
            ", with uncommitted changes" if self.dirty else ", clean"
        )


def resolve_code(ref: str | None) -> Code:
    head = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "auxstream"))
    if not ref:
        return Code(head, dirty)
    sha = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    if not sha:
        raise SystemExit(f"soak: {ref!r} is not a commit of this repository")
    into = Path(tempfile.mkdtemp(prefix=f"auxstream-soak-{sha[:12]}-"))
    archive = subprocess.run(
        ["git", "archive", sha, "auxstream", "topologies", "examples/policy.yaml"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return Code(head, dirty, sha, into)


# ---------------------------------------------------------------------- broker
@dataclass
class Broker:
    """scripts/kafka.sh with its own KAFKA_DIR and ports."""

    kafka_dir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self, command: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "KAFKA_DIR": str(self.kafka_dir),
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "KAFKA_HEAP_OPTS": "-Xms256m -Xmx1g",
            "KAFKA_READY_TIMEOUT_S": "120",
        }
        return subprocess.run(
            [str(ROOT / "scripts" / "kafka.sh"), command],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def up(self) -> None:
        done = self._run("up", 240)
        if done.returncode != 0:
            raise SystemExit(f"soak: the broker did not start:\n{done.stderr[-3000:]}")
        log(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "broker up")

    def down(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            done = self._run("down", 90)
            log(done.stderr.strip() or "broker down")

    def pid(self) -> int | None:
        try:
            return int((self.kafka_dir / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None


# ---------------------------------------------------------------------- worker
def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux sends the worker SIGTERM if this harness dies without stopping it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Pipeline:
    """This run's topics, consumer group, data dir and the worker's environment."""

    bootstrap: str
    code: Code
    run_dir: Path
    partitions: int
    store: str
    web_port: int = field(default_factory=free_port)
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def topics(self) -> dict[str, str]:
        return {n: f"soak.{self.tag}.{n}" for n in (*RECORDS, "input", "repartition", "policy")}

    @property
    def app_id(self) -> str:
        return f"soak-{self.tag}"

    @property
    def policy(self) -> Path:
        return self.code.root / "examples" / "policy.yaml"

    def env(self) -> dict[str, str]:
        t = self.topics
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUXSTREAM_")}
        if self.code.path is not None:
            env["PYTHONPATH"] = str(self.code.path)
        env.update(
            {
                "AUXSTREAM_BROKER": f"kafka://{self.bootstrap}",
                "AUXSTREAM_APP_ID": self.app_id,
                "AUXSTREAM_INPUT_TOPIC": t["input"],
                "AUXSTREAM_REPARTITION_TOPIC": t["repartition"],
                "AUXSTREAM_POLICY_TOPIC": t["policy"],
                **{f"AUXSTREAM_{n.upper()}_TOPIC": t[n] for n in RECORDS},
                "AUXSTREAM_PARTITIONS": str(self.partitions),
                "AUXSTREAM_STORE": self.store,
                "AUXSTREAM_WEB_HOST": "127.0.0.1",
                "AUXSTREAM_WEB_PORT": str(self.web_port),
                "AUXSTREAM_DATA_DIR": str(self.run_dir / "data"),
                "AUXSTREAM_WATERMARK": "event-time",
                "AUXSTREAM_LOGLEVEL": "info",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def create_topics(self) -> None:
        done = subprocess.run(
            [PY, "-m", "auxstream", "topics", "create"],
            env=self.env(),
            cwd=self.code.root,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise SystemExit(f"soak: topics create failed:\n{done.stderr[-3000:]}")


class Worker:
    """``python -m auxstream worker``, its output in a log file, stopped by its pid."""

    def __init__(self, pipeline: Pipeline, log_path: Path) -> None:
        self.log_path = log_path
        self._out = log_path.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [PY, "-m", "auxstream", "worker", "--policy", str(pipeline.policy)],
            env=pipeline.env(),
            cwd=pipeline.code.root,  # `python -m` puts the cwd first on sys.path
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C reaches the harness, which stops the worker
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if "Worker ready" in self.log_path.read_text(errors="replace"):
                return time.monotonic() - self.started
            if not self.alive():
                break
            time.sleep(0.2)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        raise SystemExit(f"soak: worker not ready (exit {self.proc.poll()}):\n{tail}")

    def status(self) -> dict[str, float]:
        """VmRSS and VmHWM in MB, CPU seconds so far; empty when it is gone."""
        out: dict[str, float] = {}
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return out
        for key, name in (("VmRSS", "rss_mb"), ("VmHWM", "hwm_mb")):
            found = re.search(rf"^{key}:\s+(\d+) kB", status, re.MULTILINE)
            if found:
                out[name] = round(int(found.group(1)) / 1024, 2)
        fields = stat.rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        out["cpu_s"] = round((int(fields[11]) + int(fields[12])) / ticks, 2)
        return out

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM, up to ``timeout_s``, then SIGKILL; Popen never signals a reaped pid."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                log(f"worker {self.pid} ignored SIGTERM for {timeout_s:.0f} s: SIGKILL")
                self.proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=10)
        self._out.close()
        return self.proc.poll()


def store_sizes(data_dir: Path) -> dict[str, float]:
    """MB on disk of the worker's RocksDB store, and of its write-ahead logs (``*.log``): the
    WAL holds what is not flushed to SST files yet, so it follows the memtables in RSS."""
    total = wal = 0
    for folder, _, files in os.walk(data_dir):
        for name in files:
            with contextlib.suppress(OSError):
                size = os.path.getsize(os.path.join(folder, name))
                total += size
                if name.endswith(".log") and name[:-4].isdigit():
                    wal += size
    return {"store_mb": round(total / 2**20, 2), "wal_mb": round(wal / 2**20, 2)}


def rss_of(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return round(int(found.group(1)) / 1024, 1) if found else None


# ---------------------------------------------------------------------- metrics
SUMS = {
    "auxstream_events_total": "processed",
    "auxstream_consumer_lag_messages": "worker_lag",
    "auxstream_agents": "agents",
    "auxstream_table_keys": "table_keys",
    "auxstream_held_agents": "held_agents",
    "auxstream_dead_letters_total": "dead_letters",
}
_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def parse_metrics(text: str) -> dict[str, float]:
    """The sums over their labels of the metrics in ``SUMS``, by their short names."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        found = _LINE.match(line)
        if not found or found.group(1) not in SUMS:
            continue
        with contextlib.suppress(ValueError):
            name = SUMS[found.group(1)]
            out[name] = out.get(name, 0.0) + float(found.group(3))
    return out


def scrape(port: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        return parse_metrics(response.read().decode(errors="replace"))


# ---------------------------------------------------------------------- the run
@dataclass
class Options:
    minutes: float
    interval_s: float
    agents: int
    teams: int
    speed: float
    period_hours: float
    seed: int
    partitions: int
    store: str
    drain_s: float
    warmup_s: float
    thresholds: Thresholds


@dataclass
class State:
    """What the run has measured so far; kept when it is interrupted."""

    samples: list[dict[str, Any]] = field(default_factory=list)
    produced: int = 0
    feed_error: str | None = None
    feed_s: float | None = None
    drain_s: float | None = None
    final_lag: int | None = None
    simulated_until: str | None = None


def feed_messages(opts: Options, policy: Path) -> Iterator[Any]:
    """One ``period_hours`` day after another (seed + k), for as long as it is read."""
    from auxstream.simulate import SimulationConfig, load_policy, simulate_messages

    sim_policy = load_policy(policy)
    teams = tuple(f"team{n:02d}" for n in range(1, opts.teams + 1))
    max_periods = int(opts.minutes * 60 * opts.speed / 3600 / opts.period_hours) + 2
    for k in range(max_periods):
        config = SimulationConfig(
            agents=opts.agents,
            hours=opts.period_hours,
            seed=opts.seed + k,
            start=START + timedelta(hours=opts.period_hours * k),
            teams=teams,
            policy=sim_policy,
        )
        yield from simulate_messages(config)


class Soak:
    def __init__(self, opts: Options, pipeline: Pipeline, worker: Worker, broker: Broker) -> None:
        self.opts = opts
        self.pipeline = pipeline
        self.worker = worker
        self.broker = broker
        self.state = State()
        self.samples_path = pipeline.run_dir / "samples.jsonl"
        self.t0 = time.monotonic()

    async def run(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        from auxstream.simulate.kafka import Pacer, ProduceStats, Rate, open_producer, produce

        boot = self.pipeline.bootstrap
        topics = self.pipeline.topics
        admin = AIOKafkaAdminClient(bootstrap_servers=boot, request_timeout_ms=20_000)
        reader = AIOKafkaConsumer(bootstrap_servers=boot, enable_auto_commit=False)
        await admin.start()
        await reader.start()
        try:
            described = await admin.describe_topics(list(topics.values()))
            counts = {d["topic"]: len(d["partitions"]) for d in described}

            def tps(name: str) -> list[Any]:
                return [TopicPartition(topics[name], p) for p in range(counts.get(topics[name], 0))]

            self._inputs = tps("input") + tps("repartition")
            self._outputs = [tp for n in RECORDS for tp in tps(n)]
            self._admin, self._reader = admin, reader
            rate = Rate(self.opts.speed)
            stats = ProduceStats()
            self._stats = stats
            messages = feed_messages(self.opts, self.pipeline.policy)
            async with open_producer(boot, rate) as producer:
                pacer = Pacer(rate, START.timestamp(), time.monotonic())
                self.t0 = pacer.started
                feed = asyncio.create_task(
                    produce(producer, topics["input"], messages, pacer, stats)
                )
                await self._sample_until(feed, self.t0 + self.opts.minutes * 60)
                if not feed.done():
                    feed.cancel()
                try:
                    await feed
                except asyncio.CancelledError:
                    pass  # stopped at the deadline, as planned
                except Exception as exc:
                    self.state.feed_error = repr(exc)
            # Leaving the block stopped the producer: everything handed over is acknowledged.
            self.state.feed_s = round(time.monotonic() - self.t0, 1)
            self.state.produced = stats.sent
            if stats.newest_ts is not None:
                newest = datetime.fromtimestamp(stats.newest_ts, UTC)
                self.state.simulated_until = f"{newest:%Y-%m-%d %H:%M}Z"
            log(f"feed stopped after {self.state.feed_s} s: {stats.sent:,} messages produced")
            await self._drain()
        finally:
            await reader.stop()
            await admin.close()

    async def _sample_until(self, feed: asyncio.Task[Any], deadline: float) -> None:
        interval = self.opts.interval_s
        most = int((deadline - time.monotonic()) / interval) + 2  # bounded in count, too
        for n in range(most):
            due = self.t0 + n * interval
            while time.monotonic() < min(due, deadline):
                if feed.done() or not self.worker.alive():
                    break
                await asyncio.sleep(min(1.0, max(0.0, min(due, deadline) - time.monotonic())))
            if feed.done():
                if not feed.cancelled() and feed.exception() is not None:
                    log(f"the feed failed: {feed.exception()!r}")
                else:
                    log("the feed ended before the deadline")
                return
            if not self.worker.alive():
                log(f"the worker exited ({self.worker.proc.poll()}); stopping the run")
                return
            if time.monotonic() >= deadline:
                return
            sample = await self._sample("feed")
            if n % max(1, round(300 / interval)) == 0:
                log(self._line(sample))

    async def _drain(self) -> None:
        began = time.monotonic()
        step = min(5.0, self.opts.interval_s)
        for _ in range(int(self.opts.drain_s / step) + 2):
            sample = await self._sample("drain", since=began)
            lag = sample.get("lag")
            if isinstance(lag, int):
                self.state.final_lag = lag
                if lag == 0:
                    self.state.drain_s = round(time.monotonic() - began, 1)
                    log(f"lag drained to 0 in {self.state.drain_s} s; {self._line(sample)}")
                    return
            if time.monotonic() - began >= self.opts.drain_s or not self.worker.alive():
                break
            await asyncio.sleep(step)
        log(f"lag did not drain in {self.opts.drain_s:.0f} s: {self.state.final_lag}")

    async def _sample(self, phase: str, since: float | None = None) -> dict[str, Any]:
        now = time.monotonic()
        stats = self._stats
        sample: dict[str, Any] = {
            "t_s": round(now - self.t0, 1),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "phase": phase,
            "produced": stats.sent,
            "simulated": None
            if stats.newest_ts is None
            else datetime.fromtimestamp(stats.newest_ts, UTC).strftime("%Y-%m-%dT%H:%MZ"),
            **self.worker.status(),
        }
        if since is not None:
            sample["drain_s"] = round(now - since, 1)
        errors = []
        try:
            lag, input_end, outputs = await asyncio.wait_for(self._offsets(), 30)
            sample.update(lag=lag, input_end=input_end, outputs=outputs)
        except Exception as exc:  # a sample records what went wrong; the run goes on
            errors.append(f"offsets: {exc!r}")
        try:
            sample.update(await asyncio.to_thread(scrape, self.pipeline.web_port))
        except Exception as exc:
            errors.append(f"metrics: {exc!r}")
        sample.update(await asyncio.to_thread(store_sizes, self.pipeline.run_dir / "data"))
        if "rss_mb" in sample:
            sample["rss_less_wal_mb"] = round(sample["rss_mb"] - sample["wal_mb"], 2)
        sample["broker_rss_mb"] = rss_of(self.broker.pid())
        sample["load1"] = os.getloadavg()[0]
        if errors:
            sample["errors"] = errors
        self.state.samples.append(sample)
        with self.samples_path.open("a") as out:
            out.write(json.dumps(sample) + "\n")
        return sample

    async def _offsets(self) -> tuple[int, int, int]:
        committed = await self._admin.list_consumer_group_offsets(self.pipeline.app_id)
        ends = await self._reader.end_offsets(self._inputs)
        lag = 0
        for tp, end in ends.items():
            meta = committed.get(tp)
            lag += end - (meta.offset if meta is not None and meta.offset >= 0 else 0)
        outputs = await self._reader.end_offsets(self._outputs) if self._outputs else {}
        return lag, sum(ends.values()), sum(outputs.values())

    @staticmethod
    def _line(s: dict[str, Any]) -> str:
        return (
            f"t={s['t_s']:.0f}s sim={s.get('simulated')} produced={s['produced']:,} "
            f"processed={s.get('processed', 0):,.0f} outputs={s.get('outputs', '?')} "
            f"lag={s.get('lag', '?')} rss={s.get('rss_mb', '?')}MB"
        )


# ---------------------------------------------------------------------- report
def _fmt(value: Any, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return f"{value}{unit}"


def render(result: dict[str, Any]) -> str:
    s = result["summary"]
    o = result["settings"]
    m = result["machine"]
    t = result["thresholds"]
    verdict = "**passed**" if s["passed"] else "**failed**: " + "; ".join(s["reasons"])
    lag_bound = max(t["lag_slope_floor"], t["lag_slope_share"] * (s["input_per_h"] or 0))
    every = 600 if o["minutes"] >= 60 else 60
    lines = [
        "# Soak: a simulated centre at 20x for two hours",
        "",
        "Generated by `make soak` (`bench/soak.py`); do not edit by hand. Issue 6, item 13:",
        "one worker, fed a simulated contact centre at 20 times real time, must keep its",
        "memory and its consumer lag flat. The fault suite is [reliability.md](reliability.md).",
        "",
        f"Run {result['started']} to {result['finished']} ({_fmt(o['minutes'], 0)} minutes of "
        f"feed), {result['code']}.",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['memory_gb']} GB, Python {m['python']}, "
        f"{m['kafka']}; load average {' '.join(m.get('loadavg_before', []))} before the run.",
        "",
        f"Feed: {o['agents']:,} agents in {o['teams']} teams, {o['period_hours']:g}-hour days "
        f"one after another (seed {o['seed']} + day), delivery faults on, at {o['speed']:g}x "
        f"(paced by event time): {_fmt(result['state']['produced'])} messages, simulated time "
        f"{START:%Y-%m-%d %H:%M}Z to {result['state'].get('simulated_until') or '-'}. Worker: "
        f"`{o['store']}` store, event-time watermark, {o['partitions']} partitions, sampled "
        f"every {o['interval_s']:g} s.",
        "",
        f"## Verdict: {verdict}",
        "",
        *(
            [
                "A run under an hour checks the machinery only: its samples are mostly the",
                "centre's morning ramp-up and the worker's first fill, so its slopes say nothing",
                "about leaks. The two-hour run is the measurement.",
                "",
            ]
            if o["minutes"] < 60
            else []
        ),
        "| measure | value | limit |",
        "|---|---|---|",
        f"| RSS slope after the warm-up ({_fmt(s['warmup_s'] / 60, 1)} min) | "
        f"{_fmt(s['rss_slope_mb_per_h'], 2)} MB/h | < {t['rss_slope_mb_per_h']:g} MB/h |",
        f"| RSS slope, second half of those samples (not judged) | "
        f"{_fmt(s['rss_slope_last_half_mb_per_h'], 2)} MB/h | |",
        f"| RSS less RocksDB WAL bytes, slope (not judged) | "
        f"{_fmt(s['rss_less_wal_slope_mb_per_h'], 2)} MB/h | |",
        f"| lag slope after the warm-up | {_fmt(s['lag_slope_per_h'], 0)} events/h | "
        f"< {lag_bound:,.0f} events/h ({100 * t['lag_slope_share']:g}% of the input, "
        f"at least {t['lag_slope_floor']:,.0f}) |",
        f"| input rate | {_fmt((s['input_per_h'] or 0) / 3600, 1)} events/s | |",
        f"| RSS first / last after warm-up / max | {_fmt(s['rss_first_mb'])} / "
        f"{_fmt(s['rss_last_mb'])} / {_fmt(s['rss_max_mb'])} MB | |",
        f"| lag max / mean after warm-up | {_fmt(s['lag_max'])} / {_fmt(s['lag_mean'], 0)} | |",
        f"| lag after the producer stopped | {_fmt(s['final_lag'])} "
        f"(0 after {_fmt(s['drain_s'])} s) | 0 within {o['drain_s']:g} s |",
        f"| worker alive at the end | {'yes' if s['worker_alive'] else 'no'} | yes |",
        f"| samples after the warm-up | {s['samples']} | >= 5 |",
        *(
            [
                f"| judged first with a {_fmt(e['warmup_s'] / 60, 1)}-min warm-up (not "
                f"judged now) | RSS {_fmt(e['rss_slope_mb_per_h'], 2)} MB/h, lag "
                f"{_fmt(e['lag_slope_per_h'], 0)} events/h: "
                f"{'passed' if e['passed'] else 'failed'} | |"
            ]
            if (e := result.get("earlier"))
            else []
        ),
        "",
        f"## Samples (one every {every // 60} min, the last of the feed and of the drain)",
        "",
        "| min | phase | simulated | produced | events/s | processed | outputs | lag "
        "| worker lag | RSS MB | WAL MB | CPU % | agents |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    previous: dict[str, Any] | None = None
    for row in rows_every(result["samples"], every):
        rate = cpu = None
        if previous is not None and row["t_s"] > previous["t_s"]:
            span = row["t_s"] - previous["t_s"]
            rate = (row["produced"] - previous["produced"]) / span
            if "cpu_s" in row and "cpu_s" in previous:
                cpu = 100 * (row["cpu_s"] - previous["cpu_s"]) / span
        lines.append(
            "| "
            + " | ".join(
                [
                    _fmt(row["t_s"] / 60, 1),
                    row.get("phase", ""),
                    str(row.get("simulated") or "-"),
                    _fmt(row.get("produced")),
                    _fmt(rate, 0),
                    _fmt(_int(row.get("processed"))),
                    _fmt(row.get("outputs")),
                    _fmt(row.get("lag")),
                    _fmt(_int(row.get("worker_lag"))),
                    _fmt(row.get("rss_mb")),
                    _fmt(row.get("wal_mb")),
                    _fmt(cpu, 0),
                    _fmt(_int(row.get("agents"))),
                ]
            )
            + " |"
        )
        previous = row
    lines += [
        "",
        "**lag**: end offsets of the input and repartition topics minus the consumer group's",
        "committed offsets (what a restart would redo); **worker lag**: the worker's own",
        "`auxstream_consumer_lag_messages` (end offset minus its position); **processed**:",
        "`auxstream_events_total`; **outputs**: records on the six output topics; **WAL**:",
        "bytes of the RocksDB write-ahead logs in the worker's data dir, which hold what the",
        "memtables (in RSS) have not flushed yet. Faust's RocksDB defaults allow a 64 MB",
        "memtable per partition (up to 3 while one flushes): with 12 partitions, RSS may grow",
        "by several hundred MB before the first flush, growth that stops at that bound.",
        "",
        "## How it is judged",
        "",
        "The slopes are least-squares fits over the feed's samples after the warm-up. In a run",
        "at least 1.5 times the state's retention horizon (the two-hour run) the warm-up is",
        "that horizon: the core keeps each agent's event ids for at least 24 hours of event",
        "time to catch duplicates (contract §2), pruned hourly, so for the first 25 simulated",
        "hours (75 minutes at 20x) memory grows with every event by design, and a leak is growth",
        "after that. Shorter runs are judged after 10 minutes (a quarter of a very short run):",
        "imports, the first agents' state and Python's allocator filling its arenas; their",
        "verdict includes the state's growth. Limits (`bench/soak_math.py`):",
        "",
        f"- RSS slope under {t['rss_slope_mb_per_h']:g} MB per hour. At 20x one soak hour is 20",
        "  hours of a centre's events, so a leak that grows with events and stays under this",
        "  costs at most 0.5 MB per production hour; it is also about the smallest slope two",
        "  hours resolve, since a local day's totals grow until local midnight and are let go.",
        f"- Lag slope under {100 * t['lag_slope_share']:g}% of the input rate per hour (at least",
        f"  {t['lag_slope_floor']:,.0f} events/h): a worker that keeps up has a lag that follows",
        "  the load and the commit interval, not one that climbs.",
        "- Lag back to 0 once the producer stops, within the drain time; the worker still up.",
        "",
        "Samples of this run: `"
        + result["samples_file"]
        + "`; the figures: `"
        + result["results_file"]
        + "`.",
        "",
        "```sh",
        "make soak                          # two hours, the work tree's auxstream/",
        "make soak SOAK_MINUTES=6           # a short check",
        "make soak SOAK_AT=$(git rev-parse HEAD)   # a commit, exported to /tmp",
        "```",
        "",
    ]
    return "\n".join(lines)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def machine(bootstrap: str) -> dict[str, Any]:
    from bench.report import machine as bench_machine

    info = bench_machine(bootstrap)
    info["loadavg_before"] = Path("/proc/loadavg").read_text().split()[:3]
    return info


# ---------------------------------------------------------------------- main
def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    env_minutes = os.environ.get("SOAK_MINUTES") or "120"
    p.add_argument("--minutes", type=float, default=float(env_minutes), help="feed duration")
    p.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    p.add_argument("--agents", type=int, default=1_500)
    p.add_argument("--teams", type=int, default=12)
    p.add_argument("--speed", type=float, default=20.0, help="times real time")
    p.add_argument("--period-hours", type=float, default=9.0, help="length of a simulated day")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--partitions", type=int, default=12)
    p.add_argument("--store", default="rocksdb://", help="rocksdb:// (the default) or memory://")
    p.add_argument("--drain", type=float, default=300.0, help="seconds to wait for lag 0")
    p.add_argument(
        "--warmup-minutes",
        type=float,
        help="default: the state retention horizon (75 min at 20x) in a run 1.5 times as long,"
        " else 10 min or a quarter of the run",
    )
    p.add_argument("--rss-slope-max", type=float, default=Thresholds().rss_slope_mb_per_h)
    p.add_argument("--lag-slope-share", type=float, default=Thresholds().lag_slope_share)
    p.add_argument("--at", default=os.environ.get("SOAK_AT") or None, help="a git ref to run")
    p.add_argument("--no-doc", action="store_true", help="do not rewrite docs/soak.md")
    p.add_argument("--keep-broker-data", action="store_true")
    p.add_argument(
        "--rejudge",
        type=Path,
        help="judge this results file's samples again with the current warm-up rule (the "
        "state retention horizon), rewrite it and docs/soak.md, then exit",
    )
    p.add_argument(
        "--render", type=Path, help="only rewrite docs/soak.md from this results file, then exit"
    )
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.interval <= 0 or args.drain <= 0:
        p.error("--minutes, --interval and --drain must be positive")
    return args


def _on_sigterm(signum: int, frame: object) -> None:
    raise Interrupted(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.rejudge:
        return rejudge(args.rejudge)
    if args.render:
        DOC.write_text(render(json.loads(args.render.read_text())))
        log(f"written {DOC.relative_to(ROOT)} from {args.render}")
        return 0
    signal.signal(signal.SIGTERM, _on_sigterm)
    code = resolve_code(args.at)
    if code.path is not None:
        sys.path.insert(0, str(code.path))  # the simulator (and its policy loader) too
    import auxstream

    log(f"this harness's auxstream: {Path(auxstream.__file__).parent}")
    started = datetime.now(UTC)
    run_id = f"{started:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"
    run_dir = RUNS / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "soak.pid").write_text(f"{os.getpid()}\n")
    minutes = args.minutes
    opts = Options(
        minutes=minutes,
        interval_s=args.interval,
        agents=args.agents,
        teams=args.teams,
        speed=args.speed,
        period_hours=args.period_hours,
        seed=args.seed,
        partitions=args.partitions,
        store=args.store,
        drain_s=args.drain,
        warmup_s=warmup_s(minutes * 60, args.speed)
        if args.warmup_minutes is None
        else args.warmup_minutes * 60,
        thresholds=Thresholds(
            rss_slope_mb_per_h=args.rss_slope_max, lag_slope_share=args.lag_slope_share
        ),
    )
    log(f"soak {run_id}: pid {os.getpid()}, {minutes:g} min, {code.describe()}; files in {run_dir}")
    broker = Broker(ROOT / ".kafka" / "soak" / run_id)
    worker: Worker | None = None
    soak: Soak | None = None
    interrupted = False
    failed = ""
    info: dict[str, Any] = {}
    try:
        broker.up()
        info = machine(broker.bootstrap)
        pipeline = Pipeline(broker.bootstrap, code, run_dir, args.partitions, args.store)
        pipeline.create_topics()
        worker = Worker(pipeline, run_dir / "worker.log")
        log(f"worker pid {worker.pid}, metrics http://127.0.0.1:{pipeline.web_port}/metrics")
        log(f"worker ready in {worker.wait_ready(180):.1f} s")
        soak = Soak(opts, pipeline, worker, broker)
        asyncio.run(soak.run())
    except (KeyboardInterrupt, Interrupted) as exc:
        interrupted = True
        log(f"interrupted ({exc or 'Ctrl-C'}): stopping what was started")
    except SystemExit as exc:
        failed = str(exc)
        log(f"could not run: {failed}")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the clean-up finish
        alive = worker.alive() if worker is not None else False
        if worker is not None:
            log(f"stopping the worker (pid {worker.pid}): exit {worker.stop()}")
        if (broker.kafka_dir / "kafka.log").exists():
            shutil.copy(broker.kafka_dir / "kafka.log", run_dir / "kafka.log")
        broker.down()
        if not args.keep_broker_data:
            shutil.rmtree(broker.kafka_dir, ignore_errors=True)
        if code.path is not None:
            shutil.rmtree(code.path, ignore_errors=True)
    if soak is None or (failed and not soak.state.samples):
        return 130 if interrupted else 2
    return report(args, opts, code, info, soak.state, alive, started, run_dir, interrupted)


def rejudge(results_file: Path) -> int:
    """Judge a finished run's samples again with this harness's warm-up rule and limits;
    rewrite its results file (keeping the earlier verdict under ``earlier``) and the doc."""
    result = json.loads(results_file.read_text())
    o, state = result["settings"], result["state"]
    warmup = warmup_s(o["minutes"] * 60, o["speed"])
    summary = judge(
        summarize(
            result["samples"],
            warmup=warmup,
            final_lag=state.get("final_lag"),
            drain_s=state.get("drain_s"),
            worker_alive=result["summary"]["worker_alive"],
        ),
        Thresholds(**result["thresholds"]),
    )
    earlier = result["summary"]
    result.setdefault("earlier", {k: earlier[k] for k in _EARLIER if k in earlier})
    result["summary"], o["warmup_s"] = summary.to_dict(), warmup
    results_file.write_text(json.dumps(result, indent=1) + "\n")
    DOC.write_text(render(result))
    log(
        f"{results_file}: warm-up {warmup / 60:g} min, RSS slope "
        f"{_fmt(summary.rss_slope_mb_per_h, 2)} MB/h: "
        + ("PASSED" if summary.passed else "FAILED: " + "; ".join(summary.reasons))
    )
    return 0 if summary.passed else 1


_EARLIER = ("warmup_s", "passed", "reasons", "rss_slope_mb_per_h", "lag_slope_per_h")


def report(
    args: argparse.Namespace,
    opts: Options,
    code: Code,
    info: dict[str, Any],
    state: State,
    alive: bool,
    started: datetime,
    run_dir: Path,
    interrupted: bool,
) -> int:
    summary: Summary = judge(
        summarize(
            state.samples,
            warmup=opts.warmup_s,
            final_lag=state.final_lag,
            drain_s=state.drain_s,
            worker_alive=alive,
        ),
        opts.thresholds,
    )
    if state.feed_error:
        summary.reasons.append(f"the feed failed: {state.feed_error}")
        summary.passed = False
    if interrupted:
        summary.reasons.append("interrupted")
        summary.passed = False
    full = opts.minutes >= 120
    suffix = "" if full else f"-{opts.minutes:g}min"
    if interrupted:
        suffix += "-interrupted"
    RESULTS.mkdir(parents=True, exist_ok=True)
    results_file = RESULTS / f"soak-{started:%Y-%m-%d}{suffix}.json"
    settings = asdict(opts)
    settings.pop("thresholds")
    result = {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": code.describe(),
        "commit": {"head": code.head, "dirty": code.dirty, "ran": code.at or code.head},
        "machine": info,
        "settings": settings,
        "thresholds": asdict(opts.thresholds),
        "state": {k: v for k, v in asdict(state).items() if k != "samples"},
        "summary": summary.to_dict(),
        "samples_file": str((run_dir / "samples.jsonl").relative_to(ROOT)),
        "results_file": str(results_file.relative_to(ROOT)),
        "samples": state.samples,
    }
    results_file.write_text(json.dumps(result, indent=1) + "\n")
    log(f"written {result['results_file']}")
    if not interrupted and not args.no_doc and info:
        DOC.write_text(render(result))
        log(f"written {DOC.relative_to(ROOT)}")
    log(
        f"RSS slope {_fmt(summary.rss_slope_mb_per_h, 2)} MB/h, lag slope "
        f"{_fmt(summary.lag_slope_per_h, 0)} events/h, max lag {_fmt(summary.lag_max)}, "
        f"final lag {_fmt(summary.final_lag)}: "
        + ("PASSED" if summary.passed else "FAILED: " + "; ".join(summary.reasons))
    )
    if interrupted:
        return 130
    return 0 if summary.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
