"""``auxstream demo``: the main job in one command (see ``auxstream.demo``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auxstream.simulate.kafka import Rate

if TYPE_CHECKING:
    from auxstream.demo.floor import FloorPolicy
    from auxstream.demo.run import DemoOptions

EXAMPLE_POLICY = Path(__file__).resolve().parents[2] / "examples" / "policy.yaml"


def _speed(text: str) -> Rate:
    try:
        return Rate.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("rate", "speed", 1)) from None


def _positive(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
        return value

    return parse


def add_parser(subparsers: Any) -> None:
    """Register ``demo`` on the top-level ``auxstream`` parser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on a local broker with a simulated centre and a live view",
        description=(
            "Check the broker, create this run's topics, start one worker, feed it a simulated "
            "contact centre at --speed and show the floor live: agents by state per team, time by "
            "code today, the latest detections and check-ins, counters and the worker's metrics "
            "URL. "
            "Ctrl-C (or --duration) stops everything it started and prints a summary. Without a "
            "terminal (or with --no-live) it prints a plain line every few seconds instead."
        ),
    )
    p.add_argument(
        "--broker",
        help="Kafka bootstrap servers (default AUXSTREAM_BROKER or kafka://127.0.0.1:9092)",
    )
    p.add_argument(
        "--agents", type=_positive(int), default=200, help="agents on the floor (default 200)"
    )
    p.add_argument(
        "--speed",
        type=_speed,
        default=Rate(60.0),
        help="simulated time per real time: Nx (default 60x: a minute a second), realtime, or max "
        "(one period as fast as the producer can send it)",
    )
    p.add_argument(
        "--duration",
        type=_positive(float),
        help="stop after this many seconds (default: at Ctrl-C)",
    )
    p.add_argument(
        "--policy",
        type=Path,
        default=EXAMPLE_POLICY,
        help="policy YAML (default examples/policy.yaml)",
    )
    p.add_argument(
        "--no-live",
        dest="live",
        action="store_false",
        help="plain progress lines instead of the live view",
    )
    p.add_argument(
        "--hours",
        type=_positive(float),
        default=9.0,
        help="length of one simulated period (default 9)",
    )
    p.add_argument(
        "--seed", type=int, default=1, help="seed of the first simulated period (default 1)"
    )
    p.add_argument(
        "--store",
        choices=("memory://", "rocksdb://"),
        default="memory://",
        help="the worker's table store (default memory://, in a temporary folder)",
    )
    p.add_argument(
        "--keep-topics",
        action="store_true",
        help="keep this run's topics (deleted at the end by default)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 when the run ended as asked (Ctrl-C or --duration); 2 on a bad option, policy or broker;
    1 when something it started failed."""
    started = time.monotonic()
    from auxstream.demo.floor import FloorPolicy
    from auxstream.demo.run import DemoOptions
    from auxstream.policy import PolicyError, load_policy
    from auxstream.stream.settings import SettingsError

    try:
        policy = load_policy(args.policy)
    except PolicyError as exc:
        for line in str(exc).splitlines():
            print(f"demo: {line}", file=sys.stderr)
        return 2
    if args.hours > 48:
        print("demo: --hours must be at most 48", file=sys.stderr)
        return 2
    labels = {code: entry.label or code for code, entry in policy.codes.items()}
    floor_policy = FloorPolicy(policy.timezone, policy.after_contact_code, labels)
    options = DemoOptions(
        broker=args.broker,
        agents=args.agents,
        speed=args.speed,
        duration=args.duration,
        policy=args.policy,
        live=args.live and sys.stdout.isatty(),
        hours=args.hours,
        seed=args.seed,
        store=args.store,
        keep_topics=args.keep_topics,
    )
    try:
        return asyncio.run(_run(options, started, floor_policy))
    except SettingsError as exc:
        for line in str(exc).splitlines():
            print(f"demo: {line}", file=sys.stderr)
        return 2


async def _run(options: DemoOptions, started: float, floor_policy: FloorPolicy) -> int:
    from auxstream.demo.run import Demo

    return await Demo(options, started).run(floor_policy)
