"""The quick fault tests (issue 6 items 1, 7, 8): one worker, input damaged before it is sent.

Each runs the same lines through Kafka and through ``auxstream replay`` (the oracle) and
compares as consumers read: per record kind, de-duplicated by deterministic identity,
intervals at their highest revision, up to the horizon an event-time worker reaches at the
end of its input (newest event time minus grace; see ``auxstream.stream.compare``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from auxstream.stream.compare import differences
from tests.integration.test_stream_support import (
    StreamSetup,
    newest_event_time,
    produce_lines,
    read_outputs,
    worker,
)
from tests.reliability.support import (
    GRACE_MS,
    Row,
    clean_day,
    group_of,
    inputs_of,
    negative_durations,
    oracle,
    out_of_order,
    wait_lag_zero,
    with_duplicates,
)

AGENTS, HOURS = 40, 9


def through_kafka(setup: StreamSetup, policy: Path, lines: list[bytes], row: Row) -> dict:
    """Produce ``lines`` (keyed by agent), run one worker over them, read every output topic."""
    assert setup.cli("topics", "create").returncode == 0
    asyncio.run(produce_lines(setup.broker, setup.topics["input"], lines))
    with worker(setup, "--policy", str(policy)) as running:
        row.recover_s = round(
            running.wait_log("Worker ready")
            + wait_lag_zero(setup.broker, group_of(setup), inputs_of(setup)),
            1,
        )
        actual = asyncio.run(read_outputs(setup.broker, setup.topics))
        assert running.proc.poll() is None, running.text()[-3000:]
    row.events_in = len(lines)
    return actual


def test_golden_day_equals_the_oracle(
    kafka_broker: str, tmp_path: Path, shared_examples: Path, row: Row
) -> None:
    row.scenario = "1 golden run"
    setup = StreamSetup(kafka_broker, tmp_path)
    policy = shared_examples / "policy.yaml"
    lines = clean_day(setup, AGENTS, HOURS, seed=61)
    expected = oracle(setup, lines, policy)
    actual = through_kafka(setup, policy, lines, row)
    horizon = newest_event_time(lines) - GRACE_MS
    row.tally(expected, actual, horizon)
    row.note = "recover_s: start to caught up (all input committed)"
    problems = differences(expected, actual, horizon=horizon)
    assert not problems, "\n".join(problems)
    assert row.lost == row.duplicated == row.unexpected == 0


def test_duplicate_deliveries_at_once_and_hours_later_equal_the_oracle(
    kafka_broker: str, tmp_path: Path, shared_examples: Path, row: Row
) -> None:
    row.scenario = "7 duplicate deliveries"
    setup = StreamSetup(kafka_broker, tmp_path)
    policy = shared_examples / "policy.yaml"
    clean = clean_day(setup, AGENTS, HOURS, seed=71)
    lines, copies = with_duplicates(clean, 71, immediate=150, later=150, later_by_ms=4 * 3_600_000)
    expected = oracle(setup, lines, policy)
    actual = through_kafka(setup, policy, lines, row)
    horizon = newest_event_time(lines) - GRACE_MS
    row.tally(expected, actual, horizon)
    row.note = f"{copies} repeated deliveries (150 at once, the rest 4 h of event time later)"
    problems = differences(expected, actual, horizon=horizon)
    assert not problems, "\n".join(problems)
    # A repeat changes nothing: the same records as the clean day, and no dead letter.
    problems = differences(oracle(setup, clean, policy), actual, horizon=horizon)
    assert not problems, "\n".join(problems)
    assert actual["deadletters"] == []


def test_out_of_order_within_grace_and_late_beyond_it(
    kafka_broker: str, tmp_path: Path, shared_examples: Path, row: Row
) -> None:
    row.scenario = "8 out of order and late"
    setup = StreamSetup(kafka_broker, tmp_path)
    policy = shared_examples / "policy.yaml"
    clean = clean_day(setup, AGENTS, HOURS, seed=81)
    lines, swaps, late = out_of_order(clean, 81, swaps=60, late=12)
    assert swaps >= 20 and late >= 6, (swaps, late)
    expected = oracle(setup, lines, policy)
    actual = through_kafka(setup, policy, lines, row)
    horizon = newest_event_time(lines) - GRACE_MS
    row.tally(expected, actual, horizon)
    late_letters = [d for d in actual["deadletters"] if d["reason"] == "late"]
    row.note = f"{swaps} pairs swapped within grace, {late} events moved >= 10 min late"
    problems = differences(expected, actual, horizon=horizon)
    assert not problems, "\n".join(problems)
    # Swapped pairs are put back in place: the segments of the clean day, none missing.
    clean_segments = oracle(setup, clean, policy)["segments"]
    assert not negative_durations(actual), negative_durations(actual)[:5]
    expected_late = [d for d in expected["deadletters"] if d["reason"] == "late"]
    assert len(late_letters) == len(expected_late) >= late // 2
    assert all(d["source_topic"] == setup.topics["input"] for d in late_letters)
    assert len(actual["segments"]) <= len(clean_segments)
