"""``auxstream simulate``: write a simulated period to a file, with an optional manifest.

A thin shell over ``generator.simulate_messages``: parse options, build the config, write
lines, write the manifest, print a short summary to stderr.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from auxstream.simulate.config import FaultRates, SimulationConfig
from auxstream.simulate.generator import simulate
from auxstream.simulate.manifest import Manifest
from auxstream.simulate.policy import SimPolicy, load_policy

DEFAULT_START = "2026-05-12T07:00:00Z"


def _start(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 timestamp: {text!r}") from exc
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"--start needs a UTC offset (e.g. Z): {text!r}")
    return value


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
    p.add_argument("--out", required=True, help="output file ('-' for standard output)")
    p.add_argument(
        "--start",
        type=_start,
        default=_start(DEFAULT_START),
        help=f"start of the period, RFC 3339 with offset (default {DEFAULT_START})",
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


def run(args: argparse.Namespace) -> int:
    """Generate the file (and manifest); return 0, or 2 on a bad option or policy."""
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
    lines = simulate(config, manifest)
    if args.out == "-":
        try:
            _write(lines, sys.stdout.buffer, args.gzip)
        except BrokenPipeError:  # e.g. `| head`: the reader has what it wanted
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps interpreter exit quiet
            return 0
    else:
        with Path(args.out).open("wb") as raw:
            _write(lines, raw, args.gzip)
    wall_s, cpu_s = time.perf_counter() - began, time.process_time() - began_cpu
    doc = manifest.to_dict()
    doc["config"]["policy"] = args.policy
    if args.manifest:
        text = json.dumps(doc, indent=1, sort_keys=False) + "\n"
        Path(args.manifest).write_text(text, encoding="utf-8")
    print(_summary(doc, wall_s, cpu_s), file=sys.stderr)
    return 0
