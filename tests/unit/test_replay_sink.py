"""The sorted output files: spilled runs merge into exactly the order of one big sort."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auxstream.replay.sink import (
    Chunk,
    SortedFile,
    merge_runs,
    read_chunks,
    sort_entries,
    sort_order,
    write_chunk,
)

entries = st.tuples(
    st.integers(0, 20),
    st.sampled_from(["a", "b", "ab"]),
    st.integers(0, 3),
    st.integers(0, 5).map(lambda n: b"%d\n" % n),
)
# The shape replay gives segments: (event time as a float, agent id, line); ties on both
# keys with different lines are allowed here although replay never makes them.
flat_entries = st.tuples(
    st.integers(0, 20).map(float),
    st.sampled_from(["a", "b", "ab", ""]),
    st.integers(0, 5).map(lambda n: b"{%d}\n" % n),
)


@given(st.lists(entries | flat_entries.map(lambda e: (e[0], e[1], 0, e[2]))))
def test_sort_entries_equals_sort(items: list[tuple[object, ...]]) -> None:
    wanted = sorted(items)  # type: ignore[type-var]
    sort_entries(items)
    assert items == wanted


@given(
    st.lists(st.tuples(st.lists(entries, max_size=30), st.integers(1, 8)), min_size=1, max_size=6)
)
def test_merge_equals_one_sort(runs: list[tuple[list[tuple[object, ...]], int]]) -> None:
    chunked = []
    everything: list[tuple[object, ...]] = []
    for run, size in runs:
        run.sort()  # type: ignore[type-var]
        everything += run
        chunks = [Chunk.of([]), *(Chunk.of(run[i : i + size]) for i in range(0, len(run), size))]
        chunked.append(iter(chunks))
    out = io.BytesIO()
    merge_runs(chunked, out)
    assert out.getvalue() == b"".join(entry[-1] for entry in sorted(everything))  # type: ignore[misc, type-var]


@settings(max_examples=50)
@given(st.lists(flat_entries, max_size=60), st.integers(1, 9))
def test_spilled_runs_read_back(items: list[tuple[object, ...]], size: int) -> None:
    items.sort()  # type: ignore[type-var]
    buffer = io.BytesIO()
    for i in range(0, len(items), size):
        write_chunk(Chunk.of(items[i : i + size]), buffer)
    data = buffer.getvalue()
    path = Path(f"/tmp/auxstream-test-run-{id(items)}.run")  # noqa: S108 - removed below
    try:
        path.write_bytes(data)
        chunks = list(read_chunks(path))
    finally:
        path.unlink()
    assert [chunk.key(i) for chunk in chunks for i in range(chunk.n)] == items
    out = io.BytesIO()
    merge_runs([iter(chunks)], out)
    assert out.getvalue() == b"".join(entry[-1] for entry in items)  # type: ignore[misc]


@settings(max_examples=50)
@given(st.lists(flat_entries | entries, max_size=80), st.integers(1, 12))
def test_sorted_file_equals_one_sort(items: list[tuple[object, ...]], spill_at: int) -> None:
    items = [e for e in items if len(e) == len(items[0])] if items else []
    base = Path(f"/tmp/auxstream-test-sink-{id(items)}")  # noqa: S108 - removed below
    base.mkdir()
    try:
        sink = SortedFile(base / "out.jsonl", base, spill_at)
        for entry in items:
            line = entry[-1][:-1]  # type: ignore[index]
            sink.add(entry[0], entry[1] if len(entry) == 3 else entry[1:-1], line)  # type: ignore[arg-type]
            sink.check()
        assert sink.count == len(items)
        sink.close()
        assert (base / "out.jsonl").read_bytes() == b"".join(
            e[-1]  # type: ignore[misc]
            for e in sorted(items)  # type: ignore[type-var]
        )
        assert sorted(p.name for p in base.iterdir()) == ["out.jsonl"]
    finally:
        for p in base.iterdir():
            p.unlink()
        base.rmdir()


def test_spilled_file_is_sorted(tmp_path: Path) -> None:
    sink = SortedFile(tmp_path / "out.jsonl", tmp_path, spill_at=7)
    wanted = [(t % 13, f"A{t % 3}", t, b"%d\n" % t) for t in range(100)]
    for first, agent, more, line in wanted:
        sink.add(first, (agent, more), line[:-1])
        sink.check()
    assert sink.count == 100
    sink.close()
    assert (tmp_path / "out.jsonl").read_bytes() == b"".join(e[-1] for e in sorted(wanted))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_float_keys_and_agents(tmp_path: Path) -> None:
    """The shape replay gives: float times, agent ids, records of one instant in any order,
    spilled across several runs."""
    sink = SortedFile(tmp_path / "out.jsonl", tmp_path, spill_at=10)
    wanted = [
        (
            float(1_778_569_203_000 + (t * 7919 % 23) * 1000),
            f"A{t * 31 % 17:03d}",
            b'{"n":%d}\n' % t,
        )
        for t in range(200)
    ]
    for first, agent, line in wanted:
        sink.add(first, agent, line[:-1])
        sink.check()
    sink.close()
    assert (tmp_path / "out.jsonl").read_bytes() == b"".join(e[-1] for e in sorted(wanted))


def test_a_line_holding_a_newline_is_refused(tmp_path: Path) -> None:
    sink = SortedFile(tmp_path / "out.jsonl", tmp_path, spill_at=1)
    sink.add(1.0, "a", b"x\ny")
    with pytest.raises(ValueError, match="a buffered line holds a newline"):
        sink.check()


@given(
    st.lists(
        st.tuples(
            st.sampled_from([0.0, -0.0, 0.5, 1.0, -3.0, 2.0**52, 2.0**53, 1e300]),
            st.sampled_from(["a", "b", "ab", ""]),
            st.integers(0, 3).map(lambda n: b"{%d}\n" % n),
        )
    )
)
def test_sort_order_any_float_keys(items: list[tuple[float, str, bytes]]) -> None:
    """Whole, fractional, huge and negative times: one float per record only when exact."""
    order = sort_order([e[0] for e in items], [e[1] for e in items], [e[2] for e in items])
    assert [items[k] for k in order] == sorted(items)
