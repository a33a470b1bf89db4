"""The benchmark's pure helpers: percentiles, rates, ratios, sizes and the table."""

from __future__ import annotations

import pytest

from bench.latency import (
    boundary_shift,
    by_second,
    hours_for,
    markdown_table,
    percentile,
    rate,
    ratio,
    summarize_ms,
)


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(list(range(101)), 99) == 99


def test_percentile_of_one_value_and_bad_input() -> None:
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], 101)


def test_summary_names_the_percentiles_and_counts() -> None:
    summary = summarize_ms([float(v) for v in range(1, 101)])
    assert summary["count"] == 100
    assert summary["p50_ms"] == 50.5
    assert summary["p99_ms"] == 99.01
    assert summary["max_ms"] == 100
    assert summarize_ms([]) == {"count": 0}


def test_rate_and_ratio_guard_against_zero() -> None:
    assert rate(1000, 2.0) == 500
    assert rate(10, 0.0) == 0.0
    assert ratio(30.0, 10.0) == 3.0
    assert ratio(None, 10.0) is None
    assert ratio(1.0, 0.0) is None


def test_hours_for_gives_a_margin_and_stays_in_the_simulators_range() -> None:
    assert hours_for(1_000_000, 5_000) == pytest.approx(16.89, abs=0.01)
    assert hours_for(10, 5_000) == 0.1
    assert hours_for(10**9, 10) == 48.0


def test_markdown_table_formats_numbers() -> None:
    table = markdown_table(
        [{"measure": "floor", "value": 435123.4, "unit": " ev/s", "target": "", "result": "met"}]
    )
    assert table.splitlines()[2] == "| floor | 435,123 ev/s |  | met |"


def test_contract_releases_follow_the_grace_rules() -> None:
    from bench.latency import contract_releases

    # alone: released when the grace ran out
    assert contract_releases([0.0], 2.0) == [2.0]
    # a close follower keeps the first waiting until the grace after the follower
    assert contract_releases([0.0, 1.5], 2.0) == [3.5, 3.5]
    # a chain of close events: all wait for the grace after the last, unless one is 2 s newer
    assert contract_releases([0.0, 1.5, 2.5, 9.0], 2.0) == [2.5, 4.5, 4.5, 11.0]
    # grace 0: applied on arrival
    assert contract_releases([0.0, 0.0, 1.0], 0.0) == [0.0, 0.0, 1.0]


def test_boundary_shift_puts_an_interval_end_where_asked() -> None:
    now = 1_795_485_000.25  # 01:50:00.25 UTC
    for at_s in (0.0, 30.0, 70.0, 899.75):
        shift = boundary_shift(now, at_s, 900.0)
        assert 0 <= shift < 900
        moment = now + at_s + shift
        assert abs(moment / 900 - round(moment / 900)) < 1e-9
    assert boundary_shift(900.0 * 10, 0.0, 900.0) == 0.0  # already on a boundary


def test_by_second_groups_samples_by_second_of_production() -> None:
    since = 100.0
    samples = [
        (100.1, 100.1005, 100.103),  # second 0: 3 ms, handed over after 0.5 ms
        (100.9, 100.901, 100.905),  # second 0: 5 ms
        (102.5, 102.52, 102.6),  # second 2: 100 ms, handed over after 20 ms
    ]
    rows = by_second(samples, since)
    assert [row[:2] for row in rows] == [[0, 2], [2, 1]]
    second_0, second_2 = rows
    assert second_0[4] == pytest.approx(5.0, abs=0.01)  # max
    assert second_0[2] == pytest.approx(4.0, abs=0.01)  # p50 of 3 and 5
    assert second_2[3] == pytest.approx(100.0, abs=0.01)
    assert second_2[5] == pytest.approx(20.0, abs=0.01)  # p99 of the hand-over


def test_the_table_judges_latency_against_the_hop_at_the_offered_load() -> None:
    from bench.report import rows

    result = {
        "bare_hop": {"count": 1000, "p50_ms": 0.5, "p95_ms": 0.7, "p99_ms": 1.0},
        "bare_hop_loaded": {"count": 9000, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0},
        "latency_grace_0": {"count": 9000, "p50_ms": 3.0, "p95_ms": 6.0, "p99_ms": 9.0},
    }
    table = rows(result)
    assert "| p99 grace 0 / bare-hop p99 at the offered load | 3.00x | <= 4x | met |" in table
    assert "| p99 grace 0 / bare-hop p99 one record at a time | 9.00x | (shown) |" in table
    del result["bare_hop_loaded"]  # results of older runs: the one hop there is
    assert "| p99 grace 0 / bare-hop p99 | 9.00x | <= 4x | **missed** |" in rows(result)
