"""Event time as integer milliseconds since the Unix epoch, and its text forms.

The core counts time in whole milliseconds so that sums are exact: interval seconds add up
to the last millisecond, and no float drift separates replay from the stream.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MS_PER_S: Final = 1000
HOUR_MS: Final = 3_600_000
DAY_MS: Final = 86_400_000


class TimestampError(ValueError):
    """A timestamp that is not RFC 3339 with an offset."""


TS_PARSED: Final[dict[str, int]] = {}
"""text -> epoch ms of valid timestamps; cleared, never replaced, when full (events.py
keeps a bound ``TS_PARSED.get``)."""
_PARSED_MAX: Final = 100_000


def parse_ts(text: str) -> int:
    """RFC 3339 text with an offset -> epoch milliseconds (sub-millisecond digits dropped).

    A timestamp without an offset is refused: we cannot know which clock the ACD meant.
    Input carries the same timestamp text many times (a busy floor changes state several
    times a second), so valid texts are memoised in a bounded table.
    """
    ms = TS_PARSED.get(text)
    if ms is None:
        ms = _parse_new(text)
        if len(TS_PARSED) >= _PARSED_MAX:
            TS_PARSED.clear()
        TS_PARSED[text] = ms
    return ms


def _parse_new(text: str) -> int:
    if len(text) < 19 or text[10] not in "Tt ":
        raise TimestampError(f"ts {text!r} is not an RFC 3339 timestamp")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise TimestampError(f"ts {text!r} is not an RFC 3339 timestamp") from None
    offset = parsed.utcoffset()
    if offset is None:
        raise TimestampError(f"ts {text!r} has no UTC offset (add Z or +hh:mm)")
    # Exact integer arithmetic (floor to the millisecond), no float rounding.
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


_DAY_TEXT: Final[dict[int, str]] = {}
"""days since 1970-01-01 -> '2026-05-12T' (strftime's own date text)."""
TS_TEXT: Final[dict[int, str]] = {}
"""epoch ms -> its text, for hot loops: ``TS_TEXT.get(ms) or format_ts(ms)``. Cleared, never
replaced, when full, so a bound ``TS_TEXT.get`` stays valid."""
_DAY_TEXT_MAX: Final = 10_000
_TS_TEXT_MAX: Final = 100_000
"""About 15 MB when full; an agent's next event (which reuses the text) comes minutes later."""


def format_ts(ms: int) -> str:
    """Epoch milliseconds -> '2026-05-12T09:15:00.000Z' (UTC, millisecond precision).

    Output records repeat the same moments many times (a segment's end is the next one's
    start), so the text is memoised per millisecond in a bounded table. A new moment costs
    integer arithmetic for the time of day; only the date goes through ``strftime``, once
    per day (formatting every new second with datetime was about 5% of a replay).
    """
    text = TS_TEXT.get(ms)
    if text is None:
        whole, frac = divmod(ms, 1000)
        day, second = divmod(whole, 86_400)
        date_text = _DAY_TEXT.get(day)
        if date_text is None:
            if len(_DAY_TEXT) >= _DAY_TEXT_MAX:
                _DAY_TEXT.clear()
            date_text = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
            _DAY_TEXT[day] = date_text
        minutes, second = divmod(second, 60)
        hour, minute = divmod(minutes, 60)
        if len(TS_TEXT) >= _TS_TEXT_MAX:
            TS_TEXT.clear()
        text = TS_TEXT[ms] = f"{date_text}{hour:02d}:{minute:02d}:{second:02d}.{frac:03d}Z"
    return text


def seconds(ms: int) -> float:
    """Milliseconds -> seconds as a number rounded to the millisecond."""
    return ms / 1000 if ms % 1000 else float(ms // 1000)
