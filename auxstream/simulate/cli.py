"""``auxstream simulate``: write a simulated period to a file or a Kafka topic, with a manifest.

A thin shell over ``generator.simulate_messages``: parse options, build the config, write
lines (or produce them, paced, with ``--to-kafka``: see ``auxstream.simulate.kafka``),
write the manifest, print a short summary to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from auxstream.kafka_security import KafkaSecurity
from auxstream.simulate.config import FaultRates, SimulationConfig
from auxstream.simulate.generator import simulate, simulate_messages
from auxstream.simulate.kafka import (
    BrokerUnreachable,
    Pacer,
    ProduceStats,
    Rate,
    TopicMissing,
    check_topic,
    open_producer,
    produce,
)
from auxstream.simulate.manifest import Manifest
from auxstream.simulate.policy import SimPolicy, load_policy

DEFAULT_START = "2026-05-12T07:00:00Z"
PROGRESS_EVERY_S = 10.0


def next_minute(now: datetime | None = None) -> datetime:
    """The next whole minute (UTC) after ``now``: what ``--start now`` means."""
    now = datetime.now(UTC) if now is None else now
    return now.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)


def _start(text: str) -> datetime:
    if text.strip().lower() == "now":
        return next_minute()
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 timestamp: {text!r}") from exc
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"--start needs a UTC offset (e.g. Z): {text!r}")
    return value


def _rate(text: str) -> Rate:
    try:
        return Rate.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _teams(text: str) -> tuple[str, ...]:
    teams = tuple(t.strip() for t in text.split(",") if t.strip())
    if not teams:
        raise argparse.ArgumentTypeError("--teams needs at least one name")
    return teams


def add_parser(subparsers: Any) -> None:
    """Register ``simulate`` on the top-level ``auxstream`` parser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="generate a realistic, deterministic contact-centre period of agent events",
        description="Write a simulated contact-centre period as canonical agent events, "
        "one JSON object per line in delivery order. The same options and seed give "
        "byte-identical output.",
    )
    p.add_argument("--agents", type=int, required=True, help="number of agents (A00001, ...)")
    p.add_argument("--hours", type=float, required=True, help="length of the period in hours")
    p.add_argument("--seed", type=int, required=True, help="random seed; same seed, same bytes")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="output file ('-' for standard output)")
    where.add_argument(
        "--to-kafka",
        action="store_true",
        help="produce the lines to a Kafka topic instead, keyed by agent_id, at --rate",
    )
    p.add_argument(
        "--broker",
        help="with --to-kafka: kafka://host:port (default AUXSTREAM_BROKER or kafka://127.0.0.1:9092)",
    )
    p.add_argument(
        "--topic",
        help="with --to-kafka: the topic (default AUXSTREAM_INPUT_TOPIC or acd.agent-events); "
        "it must exist (`auxstream topics create`)",
    )
    p.add_argument(
        "--rate",
        type=_rate,
        help="with --to-kafka: realtime, Nx (N times real time, paced by event time, e.g. 60x) "
        "or max (as fast as possible; the default)",
    )
    p.add_argument(
        "--start",
        type=_start,
        default=_start(DEFAULT_START),
        help=f"start of the period, RFC 3339 with offset, or 'now' (the next whole minute); "
        f"default {DEFAULT_START}",
    )
    p.add_argument(
        "--teams",
        type=_teams,
        default=("north", "south", "collections"),
        help="comma-separated teams, assigned round-robin (default north,south,collections)",
    )
    p.add_argument(
        "--policy",
        help="policy YAML whose codes and thresholds to follow "
        "(default: the contract's example policy)",
    )
    p.add_argument("--manifest", help="write a JSON manifest of injected behaviours and faults")
    p.add_argument("--gzip", action="store_true", help="gzip the output (reproducibly: no mtime)")
    p.add_argument(
        "--no-faults",
        action="store_true",
        help="deliver every event exactly once, in order, with no malformed lines",
    )
    p.add_argument(
        "--profile-fraction",
        type=float,
        default=0.03,
        help="share of agents given each behaviour profile (default 0.03)",
    )
    p.set_defaults(func=run)


class _Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


def _copy(lines: Iterable[bytes], sink: _Sink) -> None:
    batch: list[bytes] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= 4096:
            sink.write(b"\n".join(batch) + b"\n")
            batch.clear()
    if batch:
        sink.write(b"\n".join(batch) + b"\n")


def _write(lines: Iterable[bytes], raw: BinaryIO, compress: bool) -> None:
    """Write lines; gzip without a name or time in its header, so the bytes are reproducible."""
    if compress:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as packed:
            _copy(lines, packed)
    else:
        _copy(lines, raw)
    raw.flush()


def _summary(doc: dict[str, Any], wall_s: float, cpu_s: float) -> str:
    counts = doc["counts"]
    rate = counts["events"] / wall_s if wall_s > 0 else float("inf")
    profiles = ", ".join(f"{name} {len(ids)}" for name, ids in doc["profiles"].items())
    return "\n".join(
        (
            f"simulate: {counts['events']} events in {counts['lines']} lines, "
            f"{counts['agents']} agents, {wall_s:.1f} s ({cpu_s:.1f} s CPU, {rate:,.0f} events/s)",
            f"  profiles: {profiles or 'none'}",
            f"  faults: {counts['duplicates']} duplicates, {counts['swaps']} swaps, "
            f"{counts['late']} late, {counts['malformed']} malformed",
            f"  expected detections: {len(doc['expected_detections'])}, "
            f"check-ins: {len(doc['checkins'])}",
        )
    )


def _misplaced(args: argparse.Namespace) -> str | None:
    """An option that does not apply to the chosen destination, as a message."""
    if args.to_kafka:
        return "--gzip applies to --out only" if args.gzip else None
    given = [f"--{name}" for name in ("broker", "topic", "rate") if getattr(args, name) is not None]
    return f"{', '.join(given)} only apply with --to-kafka" if given else None


def run(args: argparse.Namespace) -> int:
    """Generate the file or topic (and manifest).

    Exit 0; 2 on a bad option, policy, broker or topic; 130 when interrupted (Ctrl-C).
    """
    problem = _misplaced(args)
    if problem:
        print(f"simulate: {problem}", file=sys.stderr)
        return 2
    try:
        policy = load_policy(args.policy) if args.policy else SimPolicy()
        config = SimulationConfig(
            agents=args.agents,
            hours=args.hours,
            seed=args.seed,
            start=args.start,
            teams=args.teams,
            policy=policy,
            faults=None if args.no_faults else FaultRates(),
            profile_fraction=args.profile_fraction,
        )
    except (OSError, ValueError) as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    manifest = Manifest()
    began, began_cpu = time.perf_counter(), time.process_time()
    if args.to_kafka:
        code = _to_kafka(args, config, manifest)
        if code:
            return code
    elif args.out == "-":
        try:
            _write(simulate(config, manifest), sys.stdout.buffer, args.gzip)
        except BrokenPipeError:  # e.g. `| head`: the reader has what it wanted
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps interpreter exit quiet
            return 0
    else:
        with Path(args.out).open("wb") as raw:
            _write(simulate(config, manifest), raw, args.gzip)
    wall_s, cpu_s = time.perf_counter() - began, time.process_time() - began_cpu
    doc = manifest.to_dict()
    doc["config"]["policy"] = args.policy
    if args.manifest:
        text = json.dumps(doc, indent=1, sort_keys=False) + "\n"
        Path(args.manifest).write_text(text, encoding="utf-8")
    print(_summary(doc, wall_s, cpu_s), file=sys.stderr)
    return 0


# ---------------------------------------------------------------------- --to-kafka
def _to_kafka(args: argparse.Namespace, config: SimulationConfig, manifest: Manifest) -> int:
    """Produce the period; 0 when every message was acknowledged, else the exit status."""
    from auxstream.stream.settings import Settings, SettingsError

    try:
        settings = Settings.from_overrides({"broker": args.broker, "input_topic": args.topic})
    except SettingsError as exc:
        for line in str(exc).splitlines():
            print(f"simulate: {line}", file=sys.stderr)
        return 2
    bootstrap, topic = settings.bootstrap_servers, settings.input_topic
    rate = args.rate or Rate(None)
    stats = ProduceStats()
    began = time.perf_counter()
    try:
        asyncio.run(
            _produce(bootstrap, topic, rate, config, manifest, stats, settings.kafka_security)
        )
    except (BrokerUnreachable, TopicMissing) as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        sent = _sent(stats, time.perf_counter() - began)
        print(f"simulate: interrupted: {sent}", file=sys.stderr)
        return 130
    sent = _sent(stats, time.perf_counter() - began)
    print(f"simulate: to {topic} on {bootstrap} at {rate}: {sent}", file=sys.stderr)
    return 0


def _sent(stats: ProduceStats, wall_s: float) -> str:
    return (
        f"{stats.sent} messages ({stats.bytes:,} bytes) acknowledged in {wall_s:.1f} s "
        f"({stats.rate():,.0f}/s)"
    )


async def _produce(
    bootstrap: str,
    topic: str,
    rate: Rate,
    config: SimulationConfig,
    manifest: Manifest,
    stats: ProduceStats,
    security: KafkaSecurity,
) -> None:
    await check_topic(bootstrap, topic, security)
    async with open_producer(bootstrap, rate, security) as producer:
        pacer = Pacer(rate, config.start_ts, time.monotonic())
        progress = asyncio.create_task(_progress(stats))
        try:
            await produce(producer, topic, simulate_messages(config, manifest), pacer, stats)
        finally:
            progress.cancel()


async def _progress(stats: ProduceStats) -> None:
    """A line on stderr every PROGRESS_EVERY_S while producing."""
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        clock = ""
        if stats.newest_ts is not None:
            clock = f", simulated time {datetime.fromtimestamp(stats.newest_ts, UTC):%H:%M:%S}Z"
        rate = stats.rate(time.monotonic())
        print(f"simulate: {stats.sent:,} messages sent ({rate:,.0f}/s){clock}", file=sys.stderr)
