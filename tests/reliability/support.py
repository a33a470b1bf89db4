"""What the fault tests share beyond the integration helpers: tallies, lag, fault injection.

The worker, feeding and reading helpers are ``tests.integration.test_stream_support``'s;
this module only adds what a fault test reports (events in, records out, lost, duplicated,
time to recover) and the deterministic ways the input is damaged.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from auxstream.stream.compare import RECORD_NAMES, comparable
from tests.integration.kafka_helpers import ConditionNotMet
from tests.integration.test_stream_support import PARTITIONS, StreamSetup

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(
    os.environ.get("AUXSTREAM_RELIABILITY_RESULTS")
    or ROOT / ".cache" / "reliability" / "results.jsonl"
)
GRACE_MS = 2000  # examples/policy.yaml: grace_s 2

Records = Mapping[str, Sequence[dict[str, Any]]]


@dataclass
class Row:
    """One line of docs/reliability.md."""

    test: str
    scenario: str = ""
    """The issue's item, e.g. ``3 SIGTERM and restart``."""
    events_in: int = 0
    records_out: int = 0
    """Output records read from the topics, duplicates included."""
    expected: int = 0
    """Records of the oracle (``auxstream replay``), compared as consumers read them."""
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    recover_s: float | None = None
    """Seconds from the fault (or start) until the worker was caught up again."""
    note: str = ""
    outcome: str = ""
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def tally(self, expected: Records, actual: Records, horizon: int | None) -> None:
        """Fill records_out, expected, lost, duplicated and unexpected from two record sets."""
        self.records_out = sum(len(actual.get(name, ())) for name in RECORD_NAMES)
        self.expected = self.lost = self.duplicated = self.unexpected = 0
        for name in RECORD_NAMES:
            want = comparable(name, expected.get(name, ()), horizon)
            got = comparable(name, actual.get(name, ()), horizon)
            self.expected += sum(want.values())
            self.lost += sum((want - got).values())
            self.unexpected += sum(n for k, n in got.items() if k not in want)
            repeats = _copies(actual.get(name, ())) - _copies(expected.get(name, ()))
            self.duplicated += max(0, repeats)


def _copies(records: Sequence[dict[str, Any]]) -> int:
    """Records that are an exact repeat of an earlier one (Kafka coordinates aside)."""
    seen: Counter[bytes] = Counter()
    for record in records:
        view = {k: v for k, v in record.items() if k not in ("source_topic", "partition", "offset")}
        seen[orjson.dumps(view, option=orjson.OPT_SORT_KEYS)] += 1
    return sum(n - 1 for n in seen.values())


def append_row(row: Row) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("ab") as out:
        out.write(orjson.dumps(asdict(row)) + b"\n")


# ---------------------------------------------------------------------- outputs
def without(records: Records, *names: str) -> dict[str, list[dict[str, Any]]]:
    return {k: list(v) for k, v in records.items() if k not in names}


def negative_durations(records: Records) -> list[str]:
    """Every record with a negative duration or an end before its start."""
    bad = []
    for s in records.get("segments", ()):
        if s["duration_s"] < 0 or s["end"] < s["start"]:
            bad.append(f"segment {s}")
    for i in records.get("intervals", ()):
        values = [i["logged_in_s"], i["ready_s"], i["on_contact_s"], i["not_ready_s"]]
        if min(values + list(i["not_ready_by_code"].values()) or [0]) < 0:
            bad.append(f"interval {i}")
    for d in records.get("durations", ()):
        if d["today_s"] < 0 or d["last_hour_s"] < 0:
            bad.append(f"duration {d}")
    return bad


# ---------------------------------------------------------------------- lag
async def end_offsets(
    broker: str, topics: Sequence[str], partitions: int = PARTITIONS
) -> dict[TopicPartition, int]:
    """The broker's end offset of each partition of ``topics``."""
    reader = AIOKafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False)
    await reader.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        return dict(await reader.end_offsets(tps))
    finally:
        await reader.stop()


async def committed_offsets(broker: str, group: str) -> dict[TopicPartition, int]:
    """What ``group`` has committed, per partition (partitions with no commit left out)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=broker, request_timeout_ms=10_000)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}


async def committed_lag(
    broker: str, group: str, topics: Sequence[str], partitions: int = PARTITIONS
) -> int:
    """Messages of ``topics`` (each of ``partitions``) not yet committed by ``group``."""
    committed = await committed_offsets(broker, group)
    ends = await end_offsets(broker, topics, partitions)
    return sum(end - committed.get(tp, 0) for tp, end in ends.items())


def wait_lag_zero(broker: str, group: str, topics: Sequence[str], timeout_s: float = 90.0) -> float:
    """Seconds until ``group`` has committed everything on ``topics`` (ConditionNotMet after)."""
    began = time.monotonic()
    lag = -1
    while time.monotonic() - began < timeout_s:
        lag = asyncio.run(committed_lag(broker, group, topics))
        if lag == 0:
            return time.monotonic() - began
        time.sleep(0.5)
    raise ConditionNotMet(f"lag of {group} still {lag} after {timeout_s}s")


# ---------------------------------------------------------------------- faults
def _ts_agent(line: bytes) -> tuple[int, str]:
    from auxstream.domain.timefmt import parse_ts

    obj = orjson.loads(line)
    return parse_ts(obj["ts"]), obj["agent_id"]


def with_duplicates(
    lines: Sequence[bytes], seed: int, *, immediate: int, later: int, later_by_ms: int
) -> tuple[list[bytes], int]:
    """The lines with ``immediate`` lines repeated at once and ``later`` lines of the first
    hour repeated once event time has moved ``later_by_ms`` on. Returns (lines, copies)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test input, not secrets
    times = [_ts_agent(line)[0] for line in lines]
    again = set(rng.sample(range(len(lines)), immediate))
    first_hour = [i for i, t in enumerate(times) if t < times[0] + 3_600_000]
    old = sorted(rng.sample(first_hour, min(later, len(first_hour))))
    cut = next((i for i, t in enumerate(times) if t >= times[0] + later_by_ms), len(lines))
    out: list[bytes] = []
    for i, line in enumerate(lines):
        if i == cut:
            out.extend(lines[j] for j in old)
        out.append(line)
        if i in again:
            out.append(line)
    if cut == len(lines):
        out.extend(lines[j] for j in old)
    return out, immediate + len(old)


def out_of_order(
    lines: Sequence[bytes], seed: int, *, swaps: int, late: int, late_by_ms: int = 600_000
) -> tuple[list[bytes], int, int]:
    """Per agent, ``swaps`` pairs of its consecutive events less than grace apart delivered in
    the wrong order, and ``late`` events delivered after the agent's events ``late_by_ms``
    newer (beyond grace). Returns (lines, swaps made, late events made)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test input, not secrets
    parsed = [_ts_agent(line) for line in lines]
    by_agent: dict[str, list[int]] = defaultdict(list)
    for i, (_, agent) in enumerate(parsed):
        by_agent[agent].append(i)
    order = list(range(len(lines)))
    position = {i: i for i in order}
    pairs = [
        (a, b)
        for seq in by_agent.values()
        for a, b in itertools.pairwise(seq[1:])
        if 0 < parsed[b][0] - parsed[a][0] < GRACE_MS
    ]
    made_swaps = 0
    touched: set[int] = set()
    for a, b in rng.sample(pairs, min(swaps * 3, len(pairs))):
        if made_swaps == swaps or {a, b} & touched:
            continue
        touched |= {a, b}
        pa, pb = position[a], position[b]
        order[pa], order[pb] = b, a
        position[a], position[b] = pb, pa
        made_swaps += 1
    candidates = [
        i
        for seq in by_agent.values()
        for n, i in enumerate(seq[1:-3], start=1)
        if i not in touched and parsed[seq[-1]][0] - parsed[i][0] > late_by_ms + GRACE_MS
    ]
    made_late = 0
    moves: dict[int, int] = {}
    for i in rng.sample(candidates, min(late * 4, len(candidates))):
        if made_late == late or i in moves or i in moves.values():
            continue
        agent = parsed[i][1]
        later = [j for j in by_agent[agent] if parsed[j][0] >= parsed[i][0] + late_by_ms]
        if len(later) < 2 or later[1] in moves or later[1] in touched or later[1] in moves.values():
            continue
        moves[i] = later[1]
        touched.add(i)
        made_late += 1
    out: list[bytes] = []
    after: dict[int, list[int]] = defaultdict(list)
    for i, j in moves.items():
        after[j].append(i)
    for i in order:
        if i in moves:
            continue
        out.append(lines[i])
        out.extend(lines[k] for k in after.get(i, ()))
    return out, made_swaps, made_late


# ---------------------------------------------------------------------- runs
def clean_day(setup: Any, agents: int, hours: float, seed: int) -> list[bytes]:
    """A simulated period delivered once each, in order (``simulate --no-faults``)."""
    day = setup.tmp / f"clean-{agents}x{hours}-{seed}.jsonl"
    done = setup.cli(
        "simulate", "--agents", str(agents), "--hours", str(hours), "--seed", str(seed),
        "--out", str(day), "--no-faults",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return day.read_bytes().splitlines()


def oracle(setup: Any, lines: Sequence[bytes], policy: Path) -> dict[str, list[dict[str, Any]]]:
    """``auxstream replay`` of exactly these lines (the integration helper, on a file)."""
    from tests.integration.test_stream_support import replay

    path = setup.tmp / f"delivered-{os.urandom(3).hex()}.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return replay(setup, path, policy)


def group_of(setup: Any) -> str:
    return str(setup.env()["AUXSTREAM_APP_ID"])


def inputs_of(setup: Any) -> list[str]:
    return [setup.topics["input"], setup.topics["repartition"]]


def day_with_topics(
    broker: str, tmp: Path, examples: Path, seed: int, agents: int = 40, hours: float = 6
) -> tuple[StreamSetup, Path, list[bytes], dict[str, list[dict[str, Any]]]]:
    """What a fault test starts from: the run's setup with its topics created, the example
    policy, a clean simulated day and the oracle's records for it."""
    setup = StreamSetup(broker, tmp)
    policy = examples / "policy.yaml"
    lines = clean_day(setup, agents, hours, seed)
    expected = oracle(setup, lines, policy)
    assert setup.cli("topics", "create").returncode == 0
    return setup, policy, lines, expected
