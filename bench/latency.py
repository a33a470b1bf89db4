"""Pure helpers of the Kafka benchmark: percentiles, rates, ratios and the Markdown table.

Nothing here touches Kafka or the clock, so ``tests/unit/test_bench_latency.py`` checks it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be between 0 and 100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize_ms(values: Sequence[float]) -> dict[str, float]:
    """p50, p95, p99 and max of latencies in milliseconds, with the sample count."""
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 50), 2),
        "p95_ms": round(percentile(values, 95), 2),
        "p99_ms": round(percentile(values, 99), 2),
        "max_ms": round(max(values), 2),
    }


def rate(count: int, seconds: float) -> float:
    """Events per second; 0 when no time passed."""
    return count / seconds if seconds > 0 else 0.0


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def hours_for(events: int, agents: int, per_agent_hour: float = 14.8) -> float:
    """Simulated hours that give at least ``events`` for ``agents`` (with a 25% margin).

    14.8 events per agent-hour is what the simulator delivers over a 12-hour day.
    """
    hours = events / (agents * per_agent_hour) * 1.25
    return min(48.0, max(0.1, round(hours, 2)))


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        text = f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return f"{text}{unit}"


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows of {measure, value, target, result} as a Markdown table."""
    lines = ["| measure | value | target | result |", "|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['measure']} | {_fmt(row.get('value'), row.get('unit', ''))} "
            f"| {row.get('target', '')} | {row.get('result', '')} |"
        )
    return "\n".join(lines)


def contract_releases(produced: Sequence[float], grace_s: float) -> list[float]:
    """When the contract lets each of one agent's events be applied, from their production
    times (in order, and their event times, as the benchmark re-times events on production).

    Contract §2: an event is held until one of its agent's events at least ``grace_s`` newer
    arrives, or ``grace_s`` passes with nothing new for that agent. So an event followed by
    others less than ``grace_s`` apart waits for the grace after the last of them, unless one
    ``grace_s`` newer than it comes first. Latency beyond this moment is the worker's own.
    """
    out: list[float] = []
    n = len(produced)
    for i, at in enumerate(produced):
        j = i
        while True:
            if j + 1 >= n or produced[j + 1] > produced[j] + grace_s:
                out.append(produced[j] + grace_s)  # nothing new for grace_s after event j
                break
            if produced[j + 1] >= at + grace_s:
                out.append(produced[j + 1])  # an event grace_s newer than this one
                break
            j += 1
    return out


def boundary_shift(now_s: float, at_s: float, interval_s: float) -> float:
    """Seconds (0 <= shift < ``interval_s``) to add to event times produced from ``now_s`` on
    so that the event time ``at_s`` seconds from now is an interval boundary (UTC-aligned,
    as are the quarter hours of every whole-hour timezone)."""
    moment = now_s + at_s
    return math.ceil(moment / interval_s) * interval_s - moment


def by_second(samples: Sequence[tuple[float, float, float]], since: float) -> list[list[float]]:
    """Per second of production from ``since``: [second, count, p50, p99, max, p99 of the
    hand-over] of the event-to-output latency (ms) of ``(produced, handed over, arrived)``
    samples (the hand-over: the moment the worker gave the record to its producer)."""
    seconds: dict[int, tuple[list[float], list[float]]] = {}
    for produced, handed, arrived in samples:
        total, part = seconds.setdefault(int(produced - since), ([], []))
        total.append((arrived - produced) * 1000)
        part.append((handed - produced) * 1000)
    return [
        [
            second,
            len(total),
            round(percentile(total, 50), 2),
            round(percentile(total, 99), 2),
            round(max(total), 2),
            round(percentile(part, 99), 2),
        ]
        for second, (total, part) in sorted(seconds.items())
    ]
