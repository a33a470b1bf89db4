"""The soak test's pure parts (bench/soak_math.py): slopes, warm-up, verdict, report rows."""

from __future__ import annotations

import math
import random

import pytest

from bench.soak import parse_metrics
from bench.soak_math import (
    Thresholds,
    judge,
    rows_every,
    series,
    slope_per_hour,
    summarize,
    warmup_s,
)


def test_slope_of_a_line_is_its_rise_per_hour() -> None:
    points = [(t, 100 + 5 * t / 3600) for t in range(0, 7200, 30)]
    assert slope_per_hour(points) == pytest.approx(5.0)


def test_slope_of_a_flat_series_is_zero_and_noise_does_not_make_a_slope() -> None:
    rng = random.Random(3)  # noqa: S311 - reproducible test noise
    flat = [(float(t), 300.0) for t in range(0, 7200, 30)]
    assert slope_per_hour(flat) == pytest.approx(0.0, abs=1e-9)
    noisy = [(float(t), 300.0 + rng.uniform(-10, 10)) for t in range(0, 7200, 30)]
    assert abs(slope_per_hour(noisy) or 0.0) < 2.0


def test_slope_needs_two_distinct_times() -> None:
    assert slope_per_hour([]) is None
    assert slope_per_hour([(0.0, 1.0)]) is None
    assert slope_per_hour([(10.0, 1.0), (10.0, 5.0)]) is None


def test_slope_is_least_squares_not_first_to_last() -> None:
    # An early spike must not dominate: least squares over all points.
    points = [(0.0, 0.0), (3600.0, 10.0), (7200.0, 0.0)]
    assert slope_per_hour(points) == pytest.approx(0.0)


def test_warmup_is_the_state_retention_horizon_when_the_run_can_show_it() -> None:
    # 25 h of event time at 20x is 75 min; a 2-hour run judges its last 45 minutes
    assert warmup_s(7200) == 4500
    assert warmup_s(7200, speed=40.0) == 2250
    # too short to watch the state stop growing: 10 minutes, or a quarter of a short run
    assert warmup_s(6000) == 600
    assert warmup_s(360) == 90
    assert warmup_s(0) == 0


def _samples(rss_per_h: float, lag_per_h: float, minutes: int = 120) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for n in range(minutes * 2 + 1):
        t = n * 30.0
        # warm-up: RSS climbs 100 MB in the first 10 minutes, then follows the given slope
        warm = min(t, 600.0) / 600.0 * 100
        out.append(
            {
                "t_s": t,
                "phase": "feed",
                "rss_mb": 200 + warm + rss_per_h * max(0.0, t - 600) / 3600,
                "lag": 300 + int(lag_per_h * t / 3600) + (n % 3) * 100,
                "produced": int(150 * t),
            }
        )
    out.append({"t_s": minutes * 60 + 5.0, "phase": "drain", "lag": 0, "produced": 0})
    return out


def test_a_flat_run_passes_and_the_warmup_is_left_out() -> None:
    samples = _samples(rss_per_h=1.0, lag_per_h=0.0)
    summary = judge(
        summarize(samples, warmup=600, final_lag=0, drain_s=4.0, worker_alive=True), Thresholds()
    )
    assert summary.passed, summary.reasons
    assert summary.rss_slope_mb_per_h == pytest.approx(1.0, abs=0.01)
    assert abs(summary.lag_slope_per_h or 0) < 100
    assert summary.input_per_h == pytest.approx(150 * 3600)
    assert summary.lag_max == 500
    assert summary.samples == 221  # t = 600 s .. 7200 s, the drain sample left out
    # With the warm-up in, the 100 MB start-up climb reads as growth.
    with_warmup = summarize(samples, warmup=0, final_lag=0, drain_s=4.0, worker_alive=True)
    assert (with_warmup.rss_slope_mb_per_h or 0) > 10


def test_a_leak_fails_on_rss() -> None:
    summary = judge(
        summarize(_samples(25.0, 0.0), warmup=600, final_lag=0, drain_s=3.0, worker_alive=True)
    )
    assert not summary.passed
    assert summary.reasons == ["RSS grows 25.0 MB/h (limit 10 MB/h)"]


def test_a_worker_falling_behind_fails_on_lag_slope_relative_to_the_input() -> None:
    # Input 540,000 events/h: the bound is 1% of it, 5,400 events/h.
    slow = judge(
        summarize(_samples(0, 8000), warmup=600, final_lag=0, drain_s=9, worker_alive=True)
    )
    assert not slow.passed
    assert slow.lag_slope_per_h == pytest.approx(8000, abs=50)
    assert slow.reasons[0].startswith("lag grows ")
    assert "limit 5,400 events/h" in slow.reasons[0]
    ok = judge(summarize(_samples(0, 4000), warmup=600, final_lag=0, drain_s=9, worker_alive=True))
    assert ok.passed, ok.reasons


def test_the_lag_bound_has_a_floor_for_a_quiet_centre() -> None:
    assert Thresholds().lag_slope_max(10_000) == 1_000
    assert Thresholds().lag_slope_max(None) == 1_000
    assert Thresholds().lag_slope_max(1_000_000) == 10_000


def test_undrained_lag_a_dead_worker_and_too_few_samples_fail() -> None:
    summary = judge(
        summarize(_samples(0, 0), warmup=600, final_lag=1234, drain_s=None, worker_alive=False)
    )
    assert summary.reasons == [
        "lag did not drain: 1,234 events left",
        "the worker exited during the run",
    ]
    short = judge(
        summarize(_samples(0, 0, 2), warmup=600, final_lag=0, drain_s=1, worker_alive=True)
    )
    assert not short.passed
    assert short.reasons[0].startswith("only 0 samples after the warm-up")
    never = judge(
        summarize(_samples(0, 0), warmup=600, final_lag=None, drain_s=None, worker_alive=True)
    )
    assert never.reasons == ["lag never measured after the producer stopped"]


def test_series_skips_missing_values_and_the_drain() -> None:
    samples = [
        {"t_s": 0, "phase": "feed", "lag": 5},
        {"t_s": 30, "phase": "feed", "errors": ["offsets: timeout"]},
        {"t_s": 60, "phase": "feed", "lag": 7},
        {"t_s": 90, "phase": "drain", "lag": 0},
    ]
    assert series(samples, "lag") == [(0.0, 5.0), (60.0, 7.0)]
    assert series(samples, "lag", since_s=30) == [(60.0, 7.0)]


def test_rows_every_picks_one_per_step_and_the_ends() -> None:
    samples = _samples(0, 0, minutes=60)
    rows = rows_every(samples, 600)
    feed_times = [r["t_s"] for r in rows if r["phase"] == "feed"]
    assert feed_times == [0, 600, 1200, 1800, 2400, 3000, 3600]
    assert rows[-1]["phase"] == "drain"
    odd = rows_every(samples[:-1][:25], 600)  # ends at 720 s, no drain
    assert [r["t_s"] for r in odd] == [0, 600, 720]


def test_metrics_are_summed_over_their_labels() -> None:
    text = "\n".join(
        [
            "# HELP auxstream_events_total Input messages",
            "# TYPE auxstream_events_total counter",
            'auxstream_events_total{outcome="applied",type="ready"} 10.0',
            'auxstream_events_total{outcome="late",type="ready"} 2.0',
            'auxstream_events_created{outcome="late",type="ready"} 1.7e9',
            'auxstream_consumer_lag_messages{partition="0",topic="t"} 3.0',
            'auxstream_consumer_lag_messages{partition="1",topic="t"} 4.0',
            "auxstream_held_agents 1.0",
            "auxstream_agents_bogus NaN",
        ]
    )
    got = parse_metrics(text)
    assert got == {"processed": 12.0, "worker_lag": 7.0, "held_agents": 1.0}
    assert not any(math.isnan(v) for v in got.values())
