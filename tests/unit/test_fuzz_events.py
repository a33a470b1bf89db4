"""Event input fuzzed (issue 6, security): a bad message is a dead letter, never an exception.

Raw bytes and JSON-shaped values go through the worker's pure processor (as Kafka would
hand them over, keyed or not, on either input topic) and through replay's ``feed_line``.
Whatever comes in, each message ends as records or one dead letter, and time still moves.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auxstream.domain.policy import Policy
from auxstream.policy import load_policy
from auxstream.replay.runner import Replayer
from auxstream.stream.processor import REPARTITION, Inbound, Processor, home_partition
from auxstream.stream.watermark import EVENT_TIME, Watermark

INPUT, REKEYED, PARTITIONS = "in", "by-agent", 4
POLICY_FILE = Path(__file__).resolve().parents[2] / "examples" / "policy.yaml"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
timestamps = st.sampled_from(
    [
        "2026-05-12T08:00:00Z",
        "2026-05-12T08:00:00.123+02:00",
        "2026-05-12T08:00:00",
        "2026-02-30T08:00:00Z",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "2026-05-12T08:00:00+25:00",
        "",
        "yesterday",
    ]
) | st.text(max_size=30)
# Objects that look like events: every field present or not, right or wrong in kind.
event_like = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.text(max_size=300) | json_values,
        "agent_id": st.sampled_from(["A1", "A2", "", "x" * 300]) | json_values,
        "ts": timestamps | json_values,
        "type": st.sampled_from(
            ["login", "logout", "ready", "not_ready", "contact_start", "contact_end", "coffee"]
        )
        | json_values,
        "reason_code": st.sampled_from(["BREAK", "LUNCH", "", "NOPE"]) | json_values,
        "team": st.sampled_from(["north", ""]) | json_values,
        "seq": st.integers(-5, 2**63 - 1) | json_values,
        "site": json_values,
        "source": json_values,
    },
)
messages = (
    st.binary(max_size=300)
    | json_values.map(orjson.dumps)
    | event_like.map(orjson.dumps)
    | st.none()
)
keys = st.none() | st.sampled_from([b"A1", b"A2", b"", b"\xff"]) | st.binary(max_size=8)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(POLICY_FILE)


def processor(policy: Policy) -> Processor:
    p = Processor(policy, PARTITIONS, INPUT, REKEYED, Watermark(policy.grace_s, EVENT_TIME))
    p.assign(range(PARTITIONS), [], now=0.0)
    return p


@FUZZ
@given(batch=st.lists(st.tuples(keys, messages, st.booleans()), min_size=1, max_size=20))
def test_the_worker_processor_never_raises(policy: Policy, batch: list[Any]) -> None:
    proc = processor(policy)
    offsets: Counter[tuple[str, int]] = Counter()
    for n, (key, value, rekeyed) in enumerate(batch):
        topic = REKEYED if rekeyed else INPUT
        partition = home_partition(key.decode(errors="replace"), PARTITIONS) if key else 0
        offset = offsets[(topic, partition)]
        offsets[(topic, partition)] += 1
        out = proc.receive(Inbound(topic, partition, offset, key, value), now=n * 0.01)
        letters = [o for o in out if o.record == "deadletters"]
        for letter in letters:
            record = orjson.loads(letter.value)
            assert record["reason"] in ("invalid", "late")
            assert len(record["raw"].encode()) <= 64 * 1024
        if any(o.record == REPARTITION for o in out):
            assert len(out) == 1
    proc.tick(now=100.0, now_ms=1_800_000_000_000)
    assert proc.counts.messages == len(batch)


@FUZZ
@given(lines=st.lists(messages.filter(lambda m: m is not None), min_size=1, max_size=20))
def test_replay_feed_line_never_raises(policy: Policy, lines: list[bytes]) -> None:
    out: Counter[str] = Counter()

    # Dead letters are checked where they come out (the Replayer may be compiled by mypyc,
    # whose classes do not allow replacing a method on an instance).
    def emit(name: str, key: tuple[object, ...], line: bytes) -> None:
        out.update([name])
        if name == "deadletters":
            record = orjson.loads(line)
            assert record["reason"] in ("invalid", "late") and record["error"]

    replayer = Replayer(policy, emit)
    for line in lines:
        replayer.feed_line(line)
    replayer.finish()
    outcomes = replayer.stats
    assert outcomes.lines == len(lines)


@pytest.mark.parametrize(
    "value",
    [
        b'{"event_id": "e", "agent_id": "A1", "ts": "2026-05-12T08:00:00Z", "type": ["ready"]}',
        b'{"event_id": "e", "agent_id": "A1", "ts": "2026-05-12T08:00:00Z", "type": {"a": 1}}',
        b'{"event_id": "e", "agent_id": "A1", "ts": ["x"], "type": "ready"}',
        b"[" * 2000 + b"]" * 2000,
        b'{"event_id": "e", "agent_id": "A1", "ts": "2026-05-12T08:00:00Z", "type": "ready", '
        b'"seq": 99999999999999999999999}',
    ],
)
def test_known_awkward_values_are_dead_letters(policy: Policy, value: bytes) -> None:
    proc = processor(policy)
    out = proc.receive(Inbound(INPUT, home_partition("A1", PARTITIONS), 0, b"A1", value), 0.0)
    assert [o.record for o in out] == ["deadletters"]
    replayer = Replayer(policy, lambda name, key, line: None)
    replayer.feed_line(value)
    assert replayer.stats.lines == 1
