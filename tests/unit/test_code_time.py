"""One code's kept time (``CodeTime``): two local days, the newest and the one before it."""

from __future__ import annotations

import pickle

from auxstream.domain.state import CodeTime


def test_a_new_day_moves_the_newest_to_the_day_before() -> None:
    tally = CodeTime()
    tally.add(20_000, 60_000)
    tally.day_count += 1
    tally.add(20_000, 30_000)
    assert (tally.day, tally.day_ms, tally.ms_on(20_000)) == (20_000, 90_000, 90_000)
    tally.add(20_001, 5_000)
    assert (tally.prior_day, tally.prior_ms, tally.prior_count) == (20_000, 90_000, 1)
    assert (tally.day, tally.day_ms, tally.day_count) == (20_001, 5_000, 0)
    assert tally.ms_on(20_000) == 90_000
    assert tally.ms_on(20_001) == 5_000
    assert tally.ms_on(19_999) == 0
    assert tally.ms_on(20_002) == 0


def test_time_for_the_day_before_is_added_to_it_and_older_days_are_not_kept() -> None:
    tally = CodeTime()
    tally.add(20_000, 1_000)
    tally.add(20_003, 2_000)
    tally.add(20_000, 500)  # the day before the newest one kept (days may be skipped)
    assert (tally.ms_on(20_000), tally.ms_on(20_003)) == (1_500, 2_000)
    tally.add(19_990, 7_000)
    assert (tally.ms_on(19_990), tally.ms_on(20_000), tally.ms_on(20_003)) == (0, 1_500, 2_000)


def test_a_code_time_pickles_as_its_fields() -> None:
    tally = CodeTime(20_001, 5_000, 2, 20_000, 90_000, 3, [1_000, 61_000], 60_000)
    again = pickle.loads(pickle.dumps(tally, protocol=5))  # noqa: S301 - our own bytes
    assert again == tally
    assert again.hour == [1_000, 61_000]
