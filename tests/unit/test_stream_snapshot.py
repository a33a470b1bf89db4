"""A flush's snapshot stores every agent as it was at the flush, however encoding and later
changes interleave (auxstream/stream/snapshot.py)."""

from __future__ import annotations

import asyncio
import gzip
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from auxstream.domain.state import AgentState
from auxstream.policy import load_policy
from auxstream.stream.snapshot import Snapshot, save_before_change
from auxstream.stream.store import decode_state, encode_state
from tests.unit.test_stream_processor import Harness


def test_agents_changed_while_the_snapshot_encodes_are_stored_as_they_were() -> None:
    states = [AgentState(f"a{i}", team="before") for i in range(10)]
    unsaved: dict[str, Snapshot] = {}
    snapshot = Snapshot([(i % 3, s) for i, s in enumerate(states)], encode_state, unsaved)
    assert set(unsaved) == {s.agent_id for s in states}

    async def change_them() -> None:
        for state in states:  # between the snapshot's chunks
            save_before_change(unsaved, state.agent_id)
            state.team = "after"
            await asyncio.sleep(0)

    async def both() -> list[tuple[int, bytes, bytes]]:
        encoded, _ = await asyncio.gather(snapshot.fill(chunk=2), change_them())
        return encoded

    encoded = asyncio.run(both())
    assert sorted(key for _, key, _ in encoded) == sorted(s.agent_id.encode() for s in states)
    assert {decode_state(value).team for _, _, value in encoded} == {"before"}
    assert {(p, key) for p, key, _ in encoded} == {
        (i % 3, s.agent_id.encode()) for i, s in enumerate(states)
    }
    assert not unsaved
    assert all(s.team == "after" for s in states)


def test_an_agent_in_two_flushes_is_stored_at_each_flush() -> None:
    state = AgentState("a1", team="first")
    unsaved: dict[str, Snapshot] = {}
    first = Snapshot([(0, state)], encode_state, unsaved)
    save_before_change(unsaved, "a1")
    state.team = "second"
    second = Snapshot([(0, state)], encode_state, unsaved)
    state_after = asyncio.run(second.fill())
    assert unsaved == {}
    assert [decode_state(v).team for _, _, v in asyncio.run(first.fill())] == ["first"]
    assert [decode_state(v).team for _, _, v in state_after] == ["second"]


def test_the_processor_saves_an_unencoded_agent_before_it_changes(
    tmp_path: Path, shared_examples: Path
) -> None:
    """A simulated day through the processor, with snapshots filled only well after they
    were taken: each stores what encoding at the flush would have stored."""
    day = tmp_path / "day.jsonl"
    subprocess.run(
        [sys.executable, "-m", "auxstream", "simulate", "--agents", "12", "--hours", "2",
         "--seed", "5", "--out", str(day)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    harness = Harness(load_policy(shared_examples / "policy.yaml"))
    processor = harness.processor
    waiting: list[tuple[Snapshot, dict[bytes, bytes]]] = []
    compared = saved_early = 0
    for i, line in enumerate(day.read_bytes().splitlines(), start=1):
        harness.send_line(line)
        harness.now += 0.01
        if i % 10 == 0:
            harness.tick(caught_up=True)
            changed = processor.take_dirty()
            at_flush = {s.agent_id.encode(): encode_state(s) for _, s in changed}
            waiting.append((Snapshot(changed, encode_state, processor.unsaved), at_flush))
        if len(waiting) > 3:  # filled three flushes later
            snapshot, at_flush = waiting.pop(0)
            saved_early += len(snapshot.encoded)
            encoded = asyncio.run(snapshot.fill(chunk=4))
            assert {key: value for _, key, value in encoded} == at_flush
            compared += len(encoded)
    assert compared > 200
    assert saved_early > 20, "no agent changed before its snapshot encoded it"


def test_states_stored_in_format_1_still_load_and_format_3_round_trips() -> None:
    """Format 1 kept the duplicate ids as a dict of times; a worker upgraded over a
    changelog written by the previous release reads those states, ids included."""
    from tests.unit.test_native import FIXTURES, _states_after

    expected = _states_after(20)
    blobs = pickle.loads((FIXTURES / "agent-states-before-reduce.pickle").read_bytes())  # noqa: S301 - our fixture
    loaded = {key: decode_state(b"\x01" + blob) for key, blob in blobs.items()}
    assert loaded == expected
    assert any(state.seen for state in loaded.values())
    for state in loaded.values():
        again = decode_state(encode_state(state))
        assert encode_state(state)[:1] == b"\x03"
        assert again == state
        assert again.seen.ids() == state.seen.ids()


def test_an_unknown_state_format_is_refused_by_name() -> None:
    refused = r"format b'\\x07', this worker reads .*b'\\x02' and b'\\x03'"
    with pytest.raises(ValueError, match=refused):
        decode_state(b"\x07" + pickle.dumps(AgentState("a1")))


@pytest.mark.parametrize(
    ("ids", "joined"),
    [
        ([], False),
        (["e1"], True),
        (["e1", "e2", "é3"], True),
        (["e1", "has\x00nul", "e3"], False),
    ],
)
def test_duplicate_ids_are_stored_joined_unless_an_id_holds_the_separator(
    ids: list[str], joined: bool
) -> None:
    state = AgentState("a1")
    for event_id in ids:
        state.seen.append(event_id)
    data = encode_state(state)
    assert ("\x00".join(ids).encode() in data) is joined or not ids
    again = decode_state(data)
    assert again.seen.ids() == ids
    assert all(event_id in again.seen for event_id in ids)
    assert again == state


def test_states_stored_in_format_2_carry_on_exactly_as_if_never_stored() -> None:
    """Format 2 kept each agent's time by day then code, and the last hour's stretches as
    (start, end) tuples. The fixture holds the states a format-2 worker (cec1e4e) stored
    after the first ``cut`` lines of three days of six agents, with days pruned and codes
    used on every day: loaded here, the rest of the input gives the same records,
    durations and daily limits included, as a replay that never stopped."""
    from auxstream.domain.state import CodeTime
    from auxstream.replay.runner import Replayer
    from tests.unit.test_native import FIXTURES, POLICY

    lines = gzip.decompress((FIXTURES / "three-days.jsonl.gz").read_bytes()).splitlines()
    stored = pickle.loads((FIXTURES / "agent-states-format-2.pickle").read_bytes())  # noqa: S301 - our fixture
    cut: int = stored["cut"]
    policy = load_policy(POLICY)

    def replayer(into: list[tuple[str, bytes]]) -> Replayer:
        return Replayer(policy, lambda name, key, line: into.append((name, line)))

    whole: list[tuple[str, bytes]] = []
    never_stopped = replayer(whole)
    for line in lines[:cut]:
        never_stopped.feed_line(line)
    before = len(whole)

    resumed_out: list[tuple[str, bytes]] = []
    resumed = replayer(resumed_out)
    resumed.states = {key: decode_state(blob) for key, blob in stored["states"].items()}
    assert {blob[:1] for blob in stored["states"].values()} == {b"\x02"}
    assert set(resumed.states) == set(never_stopped.states)
    for state in resumed.states.values():
        assert state.by_code and all(isinstance(t, CodeTime) for t in state.by_code.values())
        assert all(len(t.hour) % 2 == 0 for t in state.by_code.values())
        resumed._reschedule(state)
    resumed._newest = never_stopped._newest
    resumed.stats.lines = cut  # dead letters name their line
    for replay in (never_stopped, resumed):
        for line in lines[cut:]:
            replay.feed_line(line)
        replay.finish()
    after = whole[before:]
    assert sum(name == "durations" for name, _ in after) > 100
    assert resumed_out == after


def test_unset_times_are_stored_as_none_as_in_earlier_formats() -> None:
    """The core keeps unset times as NO_TIME (a machine integer); stored states keep None
    for them, as when they were optional, so a loaded state is the same either way."""
    from auxstream.domain import engine
    from auxstream.domain.events import event_from_dict
    from auxstream.domain.state import NO_TIME
    from tests.unit.test_native import POLICY

    fresh = AgentState("a1")
    stored = fresh.__reduce__()[2]
    for name in ("committed", "advanced_to", "iv_start", "last_key"):
        assert stored[name] is None
    assert decode_state(encode_state(fresh)) == fresh
    assert decode_state(encode_state(fresh)).committed == NO_TIME
    policy = load_policy(POLICY)
    event = {"event_id": "e1", "agent_id": "a1", "ts": "2026-05-12T08:00:00Z", "type": "login"}
    engine.apply(fresh, event_from_dict(event), policy)
    engine.release(fresh, policy)
    stored = fresh.__reduce__()[2]
    assert stored["committed"] == stored["iv_start"] == 1_778_572_800_000
    assert stored["last_key"] == (1_778_572_800_000, -1)
    assert stored["advanced_to"] is None
    assert decode_state(encode_state(fresh)) == fresh
