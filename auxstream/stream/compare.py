"""Compare two sets of output records (replay files, stream topics) as consumers read them.

Consumers de-duplicate by deterministic ids and keep an interval's highest revision, so two
runs agree when, record kind by record kind, they hold the same multiset of records under
that reading:

- segments, durations, check-ins, detections, dead letters: the whole record; dead letters
  without ``source_topic``, ``partition`` and ``offset`` (a file has line numbers, a topic
  has Kafka coordinates);
- intervals: per ``(agent_id, interval_start)`` the record of the highest ``revision``,
  compared without ``revision`` itself (how many provisional versions went before depends
  on how often time moved while the agent was silent, not on what happened).

``horizon`` (epoch ms, optional) leaves out what only time past it decides: intervals ending
after it and detections raised after it. A stream that has not seen the end of its input
stops its watermark at the newest event time minus grace, where a replay carries everyone
to the newest event time itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from auxstream.domain.timefmt import parse_ts

Record = dict[str, Any]
RECORD_NAMES = ("segments", "intervals", "durations", "detections", "checkins", "deadletters")
_KAFKA_PLACE = ("source_topic", "partition", "offset")


def comparable(name: str, records: Iterable[Record], horizon: int | None = None) -> Counter[bytes]:
    """The multiset of one record kind as consumers see it, each record as canonical JSON."""
    if name == "intervals":
        records = _latest_intervals(records)
    out: Counter[bytes] = Counter()
    for record in records:
        if horizon is not None and _after(name, record, horizon):
            continue
        view = dict(record)
        if name == "intervals":
            view.pop("revision", None)
        elif name == "deadletters":
            for field in _KAFKA_PLACE:
                view.pop(field, None)
        out[orjson.dumps(view, option=orjson.OPT_SORT_KEYS)] += 1
    return out


def differences(
    expected: Mapping[str, Iterable[Record]],
    actual: Mapping[str, Iterable[Record]],
    *,
    horizon: int | None = None,
    allow_duplicates: bool = False,
    show: int = 5,
) -> list[str]:
    """What differs, one line per problem (empty when the two agree).

    ``allow_duplicates`` accepts a record seen more often in ``actual`` than in ``expected``
    (at-least-once delivery after a restart), never one that is missing or unknown.
    """
    problems: list[str] = []
    for name in RECORD_NAMES:
        want = comparable(name, expected.get(name, ()), horizon)
        got = comparable(name, actual.get(name, ()), horizon)
        if allow_duplicates:
            missing = Counter({k: 1 for k in want if k not in got})
            extra = Counter({k: 1 for k in got if k not in want})
        else:
            missing, extra = want - got, got - want
        for label, diff in (("missing", missing), ("unexpected", extra)):
            if diff:
                sample = "; ".join(k.decode()[:300] for k in list(diff)[:show])
                problems.append(f"{name}: {sum(diff.values())} {label}, e.g. {sample}")
    return problems


def _latest_intervals(records: Iterable[Record]) -> list[Record]:
    latest: dict[tuple[str, str], Record] = {}
    for record in records:
        key = (record["agent_id"], record["interval_start"])
        kept = latest.get(key)
        if kept is None or record["revision"] > kept["revision"]:
            latest[key] = record
    return list(latest.values())


def _after(name: str, record: Record, horizon: int) -> bool:
    if name == "intervals":
        return parse_ts(record["interval_end"]) > horizon
    if name == "detections":
        return parse_ts(record["ts"]) > horizon
    return False
