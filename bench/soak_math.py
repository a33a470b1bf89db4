"""The soak test's arithmetic and verdict (``make soak``, ``bench/soak.py``), without I/O.

A sample is one dict of the run's JSON lines file (``t_s`` seconds since the feed started,
``phase`` ``feed`` or ``drain``, ``rss_mb``, ``lag`` ...). The verdict looks at the feed
phase after a warm-up only: the worker's first minutes (imports, the first agents' state,
Python's allocator filling its arenas, the broker's page cache) are growth nobody should
extrapolate.

Thresholds, and why (docs/soak.md repeats them):

* **RSS slope under 10 MB per hour** of soak. The feed runs at 20 times real time, so one
  soak hour is 20 hours of a centre's events: a leak that grows with events and stays under
  this bound costs at most 0.5 MB per hour in production (12 MB a day, against a worker of
  a few hundred MB that is restarted at every deploy). It is also about the smallest slope
  two hours of samples resolve: the state of a local day (totals per agent and code) grows
  until local midnight and is let go after, which moves RSS by a few MB per simulated day.
* **After the state's retention horizon.** The core keeps every event id of an agent for at
  least 24 hours of event time to catch duplicates (contract §2), pruned hourly: for the
  first 25 simulated hours of a run (75 minutes at 20x) memory grows by design, with every
  event (1,500 agents: about 130 MB). A leak is growth after that, so a run long enough to
  judge a third of it past the horizon (the two-hour run) is judged from the horizon on;
  shorter runs after 10 minutes (their verdict then includes that growth).
* **Lag slope under 1% of the input rate** (events per hour), and never under 1,000 events
  per hour: a worker that keeps up has a lag that goes up and down with the offered load
  and the commit interval, not one that climbs. 1% of the input is a worker that falls
  behind by one event in a hundred, which two hours show plainly.
* **Lag drains to 0** after the producer stops, within the drain time (default 300 s):
  whatever the slope, everything produced is processed and committed.
* **The worker is still running** at the end (it stops itself when its consumer stalls).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

Sample = Mapping[str, Any]

RSS_SLOPE_MB_PER_H = 10.0
LAG_SLOPE_SHARE = 0.01
LAG_SLOPE_FLOOR = 1_000.0
WARMUP_MAX_S = 600.0
WARMUP_SHARE = 0.25
DEFAULT_SPEED = 20.0
RETENTION_H = 25.0
"""Event time over which an agent's state grows by design: the ids of its events are kept at
least 24 hours to catch duplicates (contract §2) and pruned hourly, so the state only stops
growing 25 hours of event time into a run."""


def warmup_s(duration_s: float, speed: float = DEFAULT_SPEED) -> float:
    """The warm-up left out of the slopes.

    10 minutes (a quarter of a shorter run), or, when the run is long enough to watch the
    agents' state stop growing and still judge a third of it after that, the state
    retention horizon at the run's speed (RETENTION_H of event time: 75 minutes at 20x).
    """
    duration = max(0.0, duration_s)
    short = min(WARMUP_MAX_S, WARMUP_SHARE * duration)
    retention = RETENTION_H * 3600.0 / speed
    if duration >= 1.5 * retention:
        return max(short, retention)
    return short


def slope_per_hour(points: Iterable[tuple[float, float]]) -> float | None:
    """Least-squares slope of ``(seconds, value)`` points, in value per hour.

    None with fewer than two points or when every point has the same time.
    """
    pts = [(float(t), float(v)) for t, v in points if t is not None and v is not None]
    n = len(pts)
    if n < 2:
        return None
    mean_t = math.fsum(t for t, _ in pts) / n
    mean_v = math.fsum(v for _, v in pts) / n
    var_t = math.fsum((t - mean_t) ** 2 for t, _ in pts)
    if var_t == 0:
        return None
    cov = math.fsum((t - mean_t) * (v - mean_v) for t, v in pts)
    return cov / var_t * 3600.0


def series(
    samples: Iterable[Sample], key: str, *, since_s: float = 0.0
) -> list[tuple[float, float]]:
    """``(t_s, sample[key])`` of the feed phase from ``since_s`` on, where the value is known."""
    return [
        (float(s["t_s"]), float(s[key]))
        for s in samples
        if s.get("phase", "feed") == "feed"
        and float(s["t_s"]) >= since_s
        and isinstance(s.get(key), int | float)
    ]


@dataclass(frozen=True)
class Thresholds:
    """What a passing soak must stay under (module docstring: why these)."""

    rss_slope_mb_per_h: float = RSS_SLOPE_MB_PER_H
    lag_slope_share: float = LAG_SLOPE_SHARE
    """Of the mean input rate, per hour."""
    lag_slope_floor: float = LAG_SLOPE_FLOOR
    """Events per hour the lag bound never goes under (a quiet centre)."""

    def lag_slope_max(self, input_per_h: float | None) -> float:
        return max(self.lag_slope_floor, self.lag_slope_share * (input_per_h or 0.0))


@dataclass
class Summary:
    """The figures a verdict is drawn from."""

    warmup_s: float
    samples: int
    """Feed-phase samples after the warm-up (the slopes' points)."""
    rss_slope_mb_per_h: float | None
    lag_slope_per_h: float | None
    rss_slope_last_half_mb_per_h: float | None
    """The RSS slope over the second half of those samples only (not judged): equal to the
    whole slope for a leak, near 0 for growth that levelled off (a cache filling up)."""
    lag_slope_last_half_per_h: float | None
    rss_less_wal_slope_mb_per_h: float | None
    """Slope of RSS minus the RocksDB write-ahead logs' bytes (not judged): RSS without what
    the memtables hold until they are flushed, which is bounded by the store's options."""
    input_per_h: float | None
    """Mean rate of messages produced during the feed, per hour."""
    rss_first_mb: float | None
    rss_last_mb: float | None
    rss_max_mb: float | None
    lag_max: int | None
    lag_mean: float | None
    final_lag: int | None
    """Committed lag at the end of the drain (None if never measured)."""
    drain_s: float | None
    """Seconds from the producer's stop until the lag was 0 (None: it never was)."""
    worker_alive: bool
    passed: bool = False
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _feed(samples: Sequence[Sample]) -> list[Sample]:
    return [s for s in samples if s.get("phase", "feed") == "feed"]


def summarize(
    samples: Sequence[Sample],
    *,
    warmup: float,
    final_lag: int | None,
    drain_s: float | None,
    worker_alive: bool,
) -> Summary:
    """Slopes after ``warmup`` seconds, maxima over the whole feed, the drain's outcome."""
    feed = _feed(samples)
    rss = series(feed, "rss_mb", since_s=warmup)
    lag = series(feed, "lag", since_s=warmup)
    all_rss = [v for _, v in series(feed, "rss_mb")]
    all_lag = [v for _, v in series(feed, "lag")]
    produced = series(feed, "produced")
    half = (warmup + max((t for t, _ in rss), default=warmup)) / 2
    input_per_h = slope_per_hour(produced) if len(produced) >= 2 else None
    return Summary(
        warmup_s=warmup,
        samples=len(rss),
        rss_slope_mb_per_h=slope_per_hour(rss),
        lag_slope_per_h=slope_per_hour(lag),
        rss_slope_last_half_mb_per_h=slope_per_hour(p for p in rss if p[0] >= half),
        lag_slope_last_half_per_h=slope_per_hour(p for p in lag if p[0] >= half),
        rss_less_wal_slope_mb_per_h=slope_per_hour(series(feed, "rss_less_wal_mb", since_s=warmup)),
        input_per_h=input_per_h,
        rss_first_mb=rss[0][1] if rss else None,
        rss_last_mb=rss[-1][1] if rss else None,
        rss_max_mb=max(all_rss) if all_rss else None,
        lag_max=int(max(all_lag)) if all_lag else None,
        lag_mean=math.fsum(v for _, v in lag) / len(lag) if lag else None,
        final_lag=final_lag,
        drain_s=drain_s,
        worker_alive=worker_alive,
    )


MIN_POINTS = 5
"""Fewer post-warm-up samples than this and no slope is trusted: the run fails."""


def judge(summary: Summary, limits: Thresholds | None = None) -> Summary:
    """Fill ``passed`` and ``reasons`` (one line per failed check) and return the summary."""
    limits = limits or Thresholds()
    reasons: list[str] = []
    if summary.samples < MIN_POINTS:
        reasons.append(
            f"only {summary.samples} samples after the warm-up (need {MIN_POINTS}): "
            "run longer or sample more often"
        )
    rss = summary.rss_slope_mb_per_h
    if rss is None:
        reasons.append("no RSS slope (no RSS samples after the warm-up)")
    elif rss > limits.rss_slope_mb_per_h:
        reasons.append(f"RSS grows {rss:.1f} MB/h (limit {limits.rss_slope_mb_per_h:g} MB/h)")
    lag = summary.lag_slope_per_h
    bound = limits.lag_slope_max(summary.input_per_h)
    if lag is None:
        reasons.append("no lag slope (no lag samples after the warm-up)")
    elif lag > bound:
        reasons.append(f"lag grows {lag:,.0f} events/h (limit {bound:,.0f} events/h)")
    if summary.final_lag is None:
        reasons.append("lag never measured after the producer stopped")
    elif summary.final_lag != 0:
        reasons.append(f"lag did not drain: {summary.final_lag:,} events left")
    if not summary.worker_alive:
        reasons.append("the worker exited during the run")
    summary.reasons = reasons
    summary.passed = not reasons
    return summary


def rows_every(samples: Sequence[Sample], every_s: float) -> list[Sample]:
    """One sample per ``every_s`` of the feed (the first at or after each step), plus the
    last feed sample and the last drain sample: the report's table."""
    feed = _feed(samples)
    picked: list[Sample] = []
    next_t = 0.0
    for s in feed:
        if float(s["t_s"]) >= next_t:
            picked.append(s)
            next_t = float(s["t_s"]) + every_s
    if feed and (not picked or picked[-1] is not feed[-1]):
        picked.append(feed[-1])
    drain = [s for s in samples if s.get("phase") == "drain"]
    if drain:
        picked.append(drain[-1])
    return picked
