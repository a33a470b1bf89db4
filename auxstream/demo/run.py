"""The demo from start to summary: broker, topics, worker, feed, view, and stopping it all.

Everything the run makes is its own: topics and the worker's app id are named after the
run (``demo-<date>-<time>-<hex>``) so a run never reads an earlier run's events or agent
state, and they are deleted at the end (``--keep-topics`` keeps them). The worker is a
subprocess in a session of its own, the feed and the view are tasks of this process; on
Ctrl-C, SIGTERM or ``--duration`` the feed stops first, then the worker (by pid, bounded),
then the reader, and the summary is printed. A second Ctrl-C stops the worker at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from auxstream.demo import feed, kafka, processes, render
from auxstream.demo.floor import Floor, FloorPolicy
from auxstream.simulate.cli import next_minute
from auxstream.simulate.kafka import BrokerUnreachable, Pacer, Rate, open_producer, produce
from auxstream.stream.settings import Settings

TOPIC_SETTINGS = (
    "input_topic",
    "repartition_topic",
    "policy_topic",
    "segments_topic",
    "intervals_topic",
    "durations_topic",
    "detections_topic",
    "checkins_topic",
    "deadletters_topic",
)
REFRESH_S = 0.5
PLAIN_EVERY_S = 5.0
SCRAPE_EVERY_S = 1.0


@dataclass(frozen=True)
class DemoOptions:
    """The command's options, checked."""

    broker: str | None
    agents: int
    speed: Rate
    duration: float | None
    policy: Path
    live: bool
    hours: float
    seed: int
    store: str
    keep_topics: bool


class Demo:
    """One run; ``await Demo(options, settings, policy).run()`` returns the exit status."""

    def __init__(self, options: DemoOptions, started: float) -> None:
        self.options = options
        self.started = started
        self.tag = f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"
        self.port = processes.free_port()
        overrides = {
            "broker": options.broker,
            "policy": options.policy.resolve(),
            "app_id": self.tag,
            "store": options.store,
            "web_port": self.port,
            **{
                name: f"{self.tag}.{Settings.model_fields[name].default}" for name in TOPIC_SETTINGS
            },
        }
        Settings.from_overrides(overrides)  # a bad setting stops here, before anything is made
        self.tmp = Path(tempfile.mkdtemp(prefix="auxstream-demo-"))
        self.settings = Settings.from_overrides({**overrides, "data_dir": self.tmp / "data"})
        self.bootstrap = self.settings.bootstrap_servers
        self.security = self.settings.kafka_security  # AUXSTREAM_SECURITY_PROTOCOL, ...
        self.console = Console(highlight=False)
        self.stop = asyncio.Event()
        self.force = asyncio.Event()
        self.reason = ""
        self.worker: processes.WorkerProcess | None = None

    # ------------------------------------------------------------------ signals
    def _on_signal(self, name: str) -> None:
        if self.stop.is_set():
            self.force.set()
            self.say(f"{name} again: stopping the worker now")
            return
        self.reason = name
        self.stop.set()

    def say(self, text: str, err: bool = False) -> None:
        print(f"demo: {text}", file=sys.stderr if err else sys.stdout, flush=True)

    # ------------------------------------------------------------------ run
    async def run(self, floor_policy: FloorPolicy) -> int:
        loop = asyncio.get_running_loop()
        for sig, name in ((signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")):
            loop.add_signal_handler(sig, self._on_signal, name)
        code = 1
        try:
            code = await self._run(floor_policy)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            if code == 0 or self.worker is None:
                shutil.rmtree(self.tmp, ignore_errors=True)
            else:
                shutil.rmtree(self.tmp / "data", ignore_errors=True)
                self.say(f"kept the worker log in {self.tmp}", err=True)
        return code

    async def _run(self, floor_policy: FloorPolicy) -> int:
        try:
            brokers = await kafka.check_broker(self.bootstrap, self.security)
        except BrokerUnreachable as exc:
            self.say(f"{exc}", err=True)
            self.say(
                "start a local broker with `make kafka-up` (or pass --broker host:port)", err=True
            )
            return 2
        self.say(
            f"Kafka at {self.bootstrap} answers ({brokers} broker); "
            f"this run's topics start with {self.tag}"
        )
        env = processes.settings_env(self.settings)
        created = await asyncio.to_thread(processes.create_topics, env)
        if self.stop.is_set():  # a Ctrl-C reached `topics create` too
            return await self._finish(Floor(floor_policy), None, 0)
        if created.returncode != 0:
            self.say(f"`auxstream topics create` failed (exit {created.returncode}):", err=True)
            print(created.stderr.strip() or created.stdout.strip(), file=sys.stderr)
            return 1
        self.say(f"created {len(created.stdout.splitlines())} topics (auxstream topics create)")
        worker = self.worker = processes.WorkerProcess(
            [
                "--broker",
                self.settings.broker,
                "--policy",
                str(self.settings.policy),
                "--store",
                self.settings.store,
                "--data-dir",
                str(self.settings.data_dir),
                "--web-port",
                str(self.port),
            ],
            env,
            self.tmp / "worker.log",
        )
        self.say(f"worker pid {worker.pid} started (log {worker.log})")
        return await self._main(floor_policy, worker)

    async def _main(self, floor_policy: FloorPolicy, worker: processes.WorkerProcess) -> int:
        options = self.options
        floor = Floor(floor_policy)
        plan = feed.FeedPlan(
            options.agents,
            options.hours,
            options.seed,
            next_minute(),
            options.policy,
            repeat=options.speed.speed is not None,
        )
        status = render.Status(
            options.agents,
            str(options.speed),
            self.started,
            time.monotonic(),
            worker_pid=worker.pid,
            web_url=f"http://127.0.0.1:{self.port}/",
            log=worker.log,
        )
        how = "one period as fast as possible" if plan.repeat is False else f"at {options.speed}"
        self.say(
            f"feeding {options.agents} agents, {options.hours:g} h periods from "
            f"{plan.start:%Y-%m-%dT%H:%MZ}, {how}"
        )
        reader = kafka.OutputReader(
            self.bootstrap,
            self.settings.output_topics,
            floor,
            f"{self.tag}-view",
            self.security,
        )
        reading = asyncio.Event()
        tasks = {
            "feed": asyncio.create_task(self._feed(plan, floor, status)),
            "reader": asyncio.create_task(reader.run(reading)),
            "metrics": asyncio.create_task(self._scrape(status)),
        }
        code = await self._watch(floor, status, reader, worker, tasks)
        return await self._finish(floor, status, code, worker, tasks, reader, reading)

    async def _feed(self, plan: feed.FeedPlan, floor: Floor, status: render.Status) -> None:
        async with open_producer(self.bootstrap, self.options.speed, self.security) as producer:
            pacer = Pacer(self.options.speed, plan.start_ts, time.monotonic())
            await produce(
                producer,
                self.settings.input_topic,
                feed.messages(plan),
                pacer,
                status.sent,
                on_message=lambda m: floor.sent(m.value),
            )
        status.feed_done = True

    async def _scrape(self, status: render.Status) -> None:
        while True:
            self._note_processed(status, await kafka.scrape_processed(self.port))
            await asyncio.sleep(SCRAPE_EVERY_S)

    def _note_processed(self, status: render.Status, scrape: kafka.Scrape) -> None:
        """What a look at /metrics says: the URL works (or not), and how far the worker is."""
        if scrape.status == 200 and status.metrics_url is None:
            status.metrics_url = f"http://127.0.0.1:{self.port}/metrics"
            if not self.options.live:
                self.say(f"worker metrics at {status.metrics_url}")
        elif scrape.status not in (None, 200) and not status.metrics_missing:
            status.metrics_missing = True
            if not self.options.live:
                self.say(f"metrics: not yet ({status.web_url}metrics answers {scrape.status})")
        processed = scrape.processed
        if processed is not None and processed != status.processed:
            status.processed, status.processed_grew_at = processed, time.monotonic()

    async def _watch(
        self,
        floor: Floor,
        status: render.Status,
        reader: kafka.OutputReader,
        worker: processes.WorkerProcess,
        tasks: dict[str, asyncio.Task[Any]],
    ) -> int:
        """Refresh the view until something ends the run; the exit status so far."""
        deadline = None if self.options.duration is None else self.started + self.options.duration
        live = (
            Live(console=self.console, auto_refresh=False, vertical_overflow="crop")
            if self.options.live
            else None
        )
        next_line = time.monotonic() + PLAIN_EVERY_S
        code = 0
        with live if live is not None else contextlib.nullcontext():
            while True:
                status.now = time.monotonic()
                if reader.first_record_at is not None and status.first_output_s is None:
                    status.first_output_s = reader.first_record_at - self.started
                    if live is None:
                        self.say(f"first output record {status.first_output_s:.1f} s after start")
                if live is not None:
                    live.update(
                        render.live_view(floor, status, self.console.width, self.console.height),
                        refresh=True,
                    )
                elif status.now >= next_line:
                    print(render.plain_line(floor, status), flush=True)
                    next_line += PLAIN_EVERY_S
                if self.stop.is_set():
                    break
                if deadline is not None and status.now >= deadline:
                    self.reason = f"--duration {self.options.duration:g}"
                    break
                if not worker.running():
                    self.reason, code = (
                        f"the worker exited by itself (exit {worker.proc.returncode})",
                        1,
                    )
                    break
                failed = next(
                    (
                        n
                        for n in ("feed", "reader")
                        if tasks[n].done()
                        and (tasks[n].cancelled() or tasks[n].exception() is not None)
                    ),
                    None,
                )
                if failed is not None:
                    error = "cancelled" if tasks[failed].cancelled() else tasks[failed].exception()
                    self.reason, code = f"the {failed} failed: {error}", 1
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), REFRESH_S)
        status.stopping_at = time.monotonic()
        return code

    async def _finish(
        self,
        floor: Floor,
        status: render.Status | None,
        code: int,
        worker: processes.WorkerProcess | None = None,
        tasks: dict[str, asyncio.Task[Any]] | None = None,
        reader: kafka.OutputReader | None = None,
        reading: asyncio.Event | None = None,
    ) -> int:
        """Stop everything this run started, in order, each wait bounded; print the summary."""
        self.say(f"stopping: {self.reason or 'nothing was started yet'}")
        tasks = tasks or {}
        if "feed" in tasks:
            await _cancel(tasks["feed"], 10.0)
            self.say(f"producer stopped after {status.sent.sent if status else 0:,} events")
        if status is not None:
            self._note_processed(status, await kafka.scrape_processed(self.port))
        if worker is not None:
            stopped = await worker.stop(30.0, self.force)
            how = (
                "had already exited"
                if stopped.by_itself
                else ("killed (SIGKILL)" if stopped.killed else "stopped (SIGTERM)")
            )
            self.say(
                f"worker pid {stopped.pid} {how}, exit {stopped.returncode}, "
                f"in {stopped.seconds:.1f} s"
            )
            if code != 0 or stopped.returncode not in (0, -signal.SIGTERM):
                self.say(
                    f"last lines of the worker log ({worker.log}):\n{worker.log_tail()}", err=True
                )
        if reader is not None and reading is not None:
            await asyncio.sleep(0.5)  # what the worker flushed on its way out
            reading.set()
            await _cancel(tasks["reader"], 15.0, cancel=False)  # stopped before its topics go
        await _cancel(tasks.get("metrics"), 1.0)
        if not self.options.keep_topics:
            await self._delete_topics()
        if status is not None:
            status.now = time.monotonic()
            for line in render.summary_lines(floor, status, self.reason or "the end of the run"):
                print(line, flush=True)
        return code

    async def _delete_topics(self) -> None:
        try:
            deleted, left = await asyncio.wait_for(
                kafka.delete_topics(self.bootstrap, self.tag, security=self.security), 30.0
            )
        except Exception as exc:  # best effort: the run is over either way
            self.say(f"could not delete the topics {self.tag}.*: {exc}", err=True)
            return
        self.say(
            f"deleted this run's {len(deleted)} topics ({self.tag}.*; --keep-topics keeps them)"
        )
        if left:
            self.say(f"still on the broker: {', '.join(left)}", err=True)


async def _cancel(task: asyncio.Task[Any] | None, timeout_s: float, cancel: bool = True) -> None:
    """Cancel (or let finish) a task and wait for it, at most ``timeout_s``."""
    if task is None:
        return
    if cancel:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError, Exception):
        await asyncio.wait_for(task, timeout_s)
