"""Stream time without Kafka: the watermark over partitions, idleness, releasing held events."""

from __future__ import annotations

import pytest

from auxstream.stream.watermark import EVENT_TIME, WALL_CLOCK, HeldAgents, Watermark

GRACE = 2.0
A, B = ("in", 0), ("in", 1)
T0 = 1_778_572_800_000  # 2026-05-12T08:00:00Z
NOW_MS = T0 + 3_600_000  # the wall clock, an hour after the events


def caught_up(mark: Watermark, *sources: tuple[str, int]) -> None:
    for source in sources:
        clock = mark.sources[source]
        mark.set_highwater(source, clock.next_offset or 0, 0)


def lagging(mark: Watermark, source: tuple[str, int], behind: int = 10) -> None:
    clock = mark.sources[source]
    mark.set_highwater(source, (clock.next_offset or 0) + behind, 0)


def test_the_watermark_is_the_slowest_busy_partition_minus_grace() -> None:
    mark = Watermark(GRACE, EVENT_TIME)
    mark.assign([A, B], now=0.0)
    mark.observe(A, 0, T0 + 60_000, now=1.0)
    assert mark.value(1.0, NOW_MS) is None  # B has not delivered anything and is not caught up
    mark.observe(B, 0, T0 + 10_000, now=1.0)
    lagging(mark, A)
    lagging(mark, B)
    assert mark.value(1.0, NOW_MS) == T0 + 10_000 - 2000


def test_a_partition_racing_ahead_cannot_carry_a_lagging_one() -> None:
    mark = Watermark(GRACE, EVENT_TIME)
    mark.assign([A, B], now=0.0)
    mark.observe(A, 99, T0 + 3_600_000, now=1.0)  # A caught up an hour of backlog
    mark.observe(B, 0, T0, now=1.0)  # B is still at its start
    caught_up(mark, A)
    lagging(mark, B, behind=5000)
    assert mark.value(1.5, NOW_MS) == T0 - 2000
    # Even long after A went quiet, B's backlog holds time back.
    assert mark.value(30.0, NOW_MS) == T0 - 2000


def test_an_idle_partition_is_left_out() -> None:
    mark = Watermark(GRACE, EVENT_TIME)
    mark.assign([A, B], now=0.0)
    mark.observe(A, 0, T0 + 60_000, now=1.0)
    mark.observe(B, 0, T0, now=1.0)
    caught_up(mark, B)
    lagging(mark, A)
    assert mark.value(2.0, NOW_MS) == T0 - 2000  # B caught up, but quiet for only 1 s
    assert mark.value(3.0, NOW_MS) == T0 + 60_000 - 2000  # B idle: A alone decides


def test_a_quiet_caught_up_worker_follows_the_wall_clock_only_in_wall_clock_mode() -> None:
    for mode, expected in ((WALL_CLOCK, NOW_MS - 2000), (EVENT_TIME, T0 + 5_000 - 2000)):
        mark = Watermark(GRACE, mode)
        mark.assign([A], now=0.0)
        mark.observe(A, 0, T0 + 5_000, now=1.0)
        caught_up(mark, A)
        assert mark.value(2.0, NOW_MS) == T0 + 5_000 - 2000  # caught up but not quiet yet
        assert mark.value(3.5, NOW_MS) == expected
        assert mark.all_idle(3.5)


def test_the_watermark_never_goes_back_within_an_assignment_but_restarts_with_a_new_one() -> None:
    mark = Watermark(GRACE, EVENT_TIME)
    mark.assign([A, B], now=0.0)
    mark.observe(A, 0, T0 + 60_000, now=1.0)
    mark.observe(B, 0, T0 + 60_000, now=1.0)
    lagging(mark, A)
    lagging(mark, B)
    assert mark.value(1.0, NOW_MS) == T0 + 58_000
    mark.observe(B, 1, T0, now=1.1)  # an older event does not pull time back
    assert mark.value(1.2, NOW_MS) == T0 + 58_000
    mark.assign([A, B], now=5.0)  # after a rebalance nothing is known about the backlog
    assert mark.value(5.0, NOW_MS) is None


def test_a_rekeyed_event_on_its_way_holds_time_back_until_it_arrives() -> None:
    mark = Watermark(GRACE, EVENT_TIME)
    mark.assign([A], now=0.0)
    mark.observe(A, 0, T0 + 60_000, now=1.0)
    lagging(mark, A)
    mark.forwarded("e-1", T0 + 10_000, now=1.0)
    assert mark.value(1.0, NOW_MS) == T0 + 8_000
    mark.arrived("e-1")
    assert mark.value(1.1, NOW_MS) == T0 + 58_000


def test_caught_up_needs_every_topic_of_the_partition() -> None:
    mark = Watermark(GRACE, EVENT_TIME)
    mark.assign([("in", 0), ("rekeyed", 0)], now=0.0)
    mark.set_highwater(("in", 0), 10, 10)
    assert not mark.caught_up(0)  # the repartition topic's lag is still unknown
    mark.set_highwater(("rekeyed", 0), 0, 0)
    assert mark.caught_up(0)
    assert not mark.caught_up(1)


def test_lag_counts_from_the_last_processed_offset_once_there_is_one() -> None:
    mark = Watermark(GRACE, EVENT_TIME)
    mark.assign([A], now=0.0)
    assert mark.needs_position(A)
    mark.set_highwater(A, 100, 100)  # nothing processed: the consumer position stands in
    assert mark.caught_up(0)
    mark.observe(A, 41, T0, now=1.0)
    assert not mark.needs_position(A)
    mark.set_highwater(A, 100, 100)  # the position is ignored now: 58 messages still to process
    assert not mark.caught_up(0)
    assert mark.sources[A].lag == 58


def test_bad_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="wall-clock or event-time"):
        Watermark(GRACE, "sometimes")


def test_held_agents_are_released_after_grace_only_on_caught_up_partitions() -> None:
    held = HeldAgents()
    held.update("a1", 0, True, now=10.0)
    held.update("a2", 1, True, now=10.5)
    held.update("a3", 0, True, now=11.5)
    assert held.due(11.9, GRACE, {0: True, 1: True}) == []
    assert held.due(12.0, GRACE, {0: True, 1: False}) == ["a1"]  # a2's partition is catching up
    assert held.due(20.0, GRACE, {0: True, 1: False}) == ["a3"]
    assert held.due(20.0, GRACE, {0: True, 1: True}) == ["a2"]
    assert len(held) == 0


def test_a_newer_event_restarts_the_agents_grace_and_applying_everything_forgets_it() -> None:
    held = HeldAgents()
    held.update("a1", 0, True, now=10.0)
    held.update("a1", 0, True, now=11.0)  # its newest event arrived later
    assert held.due(12.5, GRACE, {0: True}) == []
    assert held.due(13.0, GRACE, {0: True}) == ["a1"]
    held.update("a2", 0, True, now=10.0)
    held.update("a2", 0, False, now=10.5)  # a newer own event released everything it held
    assert held.due(99.0, GRACE, {0: True}) == []
    held.update("a3", 2, True, now=0.0)
    held.drop_partitions([2])
    assert held.due(99.0, GRACE, {2: True}) == []


def test_a_partition_with_messages_waiting_and_no_progress_is_stalled() -> None:
    mark = Watermark(GRACE, EVENT_TIME)
    mark.assign([A, B], now=0.0)
    mark.observe(A, 9, T0, now=1.0)
    mark.observe(B, 9, T0, now=1.0)
    lagging(mark, A)  # messages waiting on A
    caught_up(mark, B)  # B has nothing to do: quiet, not stalled
    assert mark.stalled(30.0, after_s=60.0) == []
    assert mark.stalled(61.0, after_s=60.0) == [A]
    mark.observe(A, 10, T0 + 1, now=61.5)  # progress again
    assert mark.stalled(62.0, after_s=60.0) == []
