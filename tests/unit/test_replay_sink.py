"""The sorted output files: spilled runs merge into exactly the order of one big sort."""

from __future__ import annotations

import io
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from auxstream.replay.sink import SortedFile, _merge

entries = st.tuples(
    st.integers(0, 20),
    st.sampled_from(["a", "b", "ab"]),
    st.integers(0, 3),
    st.integers(0, 5).map(lambda n: b"%d\n" % n),
)


@given(
    st.lists(st.tuples(st.lists(entries, max_size=30), st.integers(1, 8)), min_size=1, max_size=6)
)
def test_merge_equals_one_sort(runs: list[tuple[list[tuple[object, ...]], int]]) -> None:
    batched = []
    everything: list[tuple[object, ...]] = []
    for run, size in runs:
        run.sort()
        everything += run
        batched.append(iter([[], *(run[i : i + size] for i in range(0, len(run), size))]))
    out = io.BytesIO()
    _merge(batched, out)  # type: ignore[arg-type]
    assert out.getvalue() == b"".join(entry[-1] for entry in sorted(everything))  # type: ignore[misc]


def test_spilled_file_is_sorted(tmp_path: Path) -> None:
    sink = SortedFile(tmp_path / "out.jsonl", tmp_path, spill_at=7)
    wanted = [(t % 13, f"A{t % 3}", t, b"%d\n" % t) for t in range(100)]
    for entry in wanted:
        sink.add(entry)
        sink.check()
    assert sink.count == 100
    sink.close()
    assert (tmp_path / "out.jsonl").read_bytes() == b"".join(e[-1] for e in sorted(wanted))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
