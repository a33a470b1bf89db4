"""Local days and reporting intervals in the policy's timezone.

A contact centre reports by its own wall clock: intervals start at local midnight and
every 15 or 30 minutes after, a day runs from local midnight to local midnight (23 or
25 hours on daylight-saving days), and zones such as Asia/Kathmandu (+05:45) put those
boundaries off the UTC quarter-hours. Offsets are memoised per quarter-hour of UTC time,
the finest granularity at which real zones change their offset.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

from auxstream.domain.timefmt import DAY_MS

_QUARTER_MS: Final = 900_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE: Final = date(1970, 1, 1)


class Calendar:
    """Interval and local-day arithmetic for one timezone and interval length."""

    __slots__ = (
        "_day_start",
        "_day_text",
        "_last_day",
        "_last_offset",
        "_last_text",
        "_offsets",
        "interval_ms",
        "tz",
        "tz_name",
    )

    def __init__(self, tz_name: str, interval_minutes: int) -> None:
        self.tz_name = tz_name
        self.tz = ZoneInfo(tz_name)
        self.interval_ms = interval_minutes * 60_000
        self._offsets: dict[int, int] = {}
        self._day_start: dict[int, int] = {}
        self._day_text: dict[int, str] = {}
        # The last (quarter-hour, offset), (local day, start) and (day, text) asked for:
        # nearly every call asks about the moment just handled, and comparing one integer
        # is cheaper than a dict lookup (an int key is compared by value, reading the
        # stored key object). One tuple each, replaced whole: no reader sees half of one.
        self._last_offset: tuple[int, int] = (-(2**62), 0)
        self._last_day: tuple[int, int] = (-(2**62), 0)
        self._last_text: tuple[int, str] = (-(2**62), "")

    def offset_ms(self, t: int) -> int:
        """The zone's UTC offset at instant ``t`` (epoch ms)."""
        bucket = t // _QUARTER_MS
        last = self._last_offset
        if bucket == last[0]:
            return last[1]
        offset = self._offsets.get(bucket)
        if offset is None:
            moment = _EPOCH + timedelta(milliseconds=bucket * _QUARTER_MS)
            delta = moment.astimezone(self.tz).utcoffset()
            offset = 0 if delta is None else int(delta.total_seconds() * 1000)
            self._offsets[bucket] = offset
        self._last_offset = (bucket, offset)
        return offset

    def interval_start(self, t: int) -> int:
        """Start of the reporting interval holding ``t``: a local wall-clock multiple."""
        return t - (t + self.offset_ms(t)) % self.interval_ms

    def day_of(self, t: int) -> int:
        """The local date of instant ``t`` as days since 1970-01-01."""
        return (t + self.offset_ms(t)) // DAY_MS

    def day_start(self, day: int) -> int:
        """The instant (epoch ms) of local midnight opening ``day``."""
        last = self._last_day
        if day == last[0]:
            return last[1]
        start = self._day_start.get(day)
        if start is None:
            local = _EPOCH_DATE + timedelta(days=day)
            aware = datetime(local.year, local.month, local.day, tzinfo=self.tz)
            start = int((aware - _EPOCH).total_seconds() * 1000)
            self._day_start[day] = start
        self._last_day = (day, start)
        return start

    def day_text(self, day: int) -> str:
        last = self._last_text
        if day == last[0]:
            return last[1]
        text = self._day_text.get(day)
        if text is None:
            text = self._day_text[day] = (_EPOCH_DATE + timedelta(days=day)).isoformat()
        self._last_text = (day, text)
        return text

    def local_clock(self, t: int) -> str:
        """'HH:MM' on the local wall clock, for messages a team leader reads."""
        local = t + self.offset_ms(t)
        minutes = (local // 60_000) % 1440
        return f"{minutes // 60:02d}:{minutes % 60:02d}"


@lru_cache(maxsize=64)
def calendar_for(tz_name: str, interval_minutes: int) -> Calendar:
    return Calendar(tz_name, interval_minutes)
