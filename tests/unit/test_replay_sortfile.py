"""The C sorted file (auxstream/replay/sortfile.c) writes exactly the bytes of one Python
sort of its records, as the Python SortedFile does, however its runs are spilled."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auxstream import _native
from auxstream.replay import run
from auxstream.replay.sink import SortedFile as PySortedFile

if _native._check()[0] is None:
    pytest.skip("no fresh native build (make native builds it)", allow_module_level=True)

from auxstream.replay.sortfile import SortedFile  # only importable once built

# Text that stresses the byte encoding of keys: prefixes of each other, NUL, a control
# character below '"', non-ASCII across UTF-8 lengths, and a lone surrogate.
texts = st.sampled_from(["", "a", "a\x00", "a\x00b", "a\x01", "ab", "b", "é", "a é", "\ud800", "𝄞"])
ints = st.integers(-(2**63), 2**63 - 1) | st.integers(-3, 3)
# Lines go in without their newline (the file adds it).
lines = st.binary(max_size=12).map(lambda b: b.replace(b"\n", b""))
one_line = lines
firsts = st.integers(-3, 3).map(float) | st.floats(allow_nan=False, allow_infinity=True)

shapes: dict[str, Any] = {
    "agent": st.tuples(firsts, texts, lines),
    "agent and revision": st.tuples(firsts, st.tuples(texts, ints), lines),
    "agent and rule": st.tuples(firsts, st.tuples(texts, texts), lines),
}


def _written(sink_type: Any, items: list[tuple[Any, Any, bytes]], spill: int) -> bytes:
    with tempfile.TemporaryDirectory(prefix="auxstream-test-sortfile-") as tmp:
        base = Path(tmp)
        sink = sink_type(base / "out.jsonl", base, spill)
        for first, rest, line in items:
            sink.add(first, rest, line)
            sink.check()
        assert sink.count == len(items)
        sink.close()
        assert sorted(p.name for p in base.iterdir()) == ["out.jsonl"]
        return (base / "out.jsonl").read_bytes()


@settings(max_examples=150)
@given(
    st.sampled_from(sorted(shapes)).flatmap(lambda shape: st.lists(shapes[shape], max_size=60)),
    st.integers(1, 400),
)
def test_c_sorted_file_equals_one_python_sort(items: list[Any], spill_bytes: int) -> None:
    wanted = b"".join(line + b"\n" for *_, line in sorted(items))
    assert _written(SortedFile, items, spill_bytes) == wanted


@settings(max_examples=40)
@given(
    st.lists(st.tuples(firsts, st.tuples(texts, ints), one_line), max_size=60), st.integers(1, 12)
)
def test_c_and_python_sorted_files_write_the_same_bytes(items: list[Any], spill_at: int) -> None:
    assert _written(SortedFile, items, spill_at * 20) == _written(PySortedFile, items, spill_at)


def test_it_spills_runs_past_its_bound_and_removes_them(tmp_path: Path) -> None:
    sink = SortedFile(tmp_path / "out.jsonl", tmp_path, 100)
    for n in range(50, 0, -1):
        sink.add(float(n % 7), f"A{n:03d}", b'{"n":%d}' % n)
    assert sink.runs >= 5
    assert len(list(tmp_path.glob("run-*"))) == sink.runs
    sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
    numbers = [int(line[5:-1]) for line in (tmp_path / "out.jsonl").read_bytes().splitlines()]
    assert numbers == sorted(range(1, 51), key=lambda n: (n % 7, f"A{n:03d}"))


def test_replay_uses_it_when_built() -> None:
    assert run._CSortedFile is SortedFile


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("x", "A1", b"l\n"), TypeError, "must be real number"),
        ((1.0, 1.5, b"l\n"), TypeError, "must be a str or an int, not float"),
        ((1.0, ("A1", None), b"l\n"), TypeError, "not NoneType"),
        ((1.0, ("A1", 2**64), b"l\n"), OverflowError, "beyond 64 bits"),
        ((1.0, "A1", "l\n"), TypeError, "a line must be bytes, not str"),
        ((float("nan"), "A1", b"l\n"), ValueError, "NaN"),
    ],
)
def test_bad_records_are_refused_and_leave_nothing_behind(
    tmp_path: Path, args: tuple[Any, ...], error: type[Exception], message: str
) -> None:
    sink = SortedFile(tmp_path / "out.jsonl", tmp_path, 1 << 20)
    sink.add(2.0, "A2", b"kept")
    with pytest.raises(error, match=message):
        sink.add(*args)
    assert sink.count == 1
    sink.close()
    assert (tmp_path / "out.jsonl").read_bytes() == b"kept\n"


def test_a_missing_spill_folder_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    sink = SortedFile(tmp_path / "out.jsonl", missing, 10)
    with pytest.raises(FileNotFoundError, match="gone/run-"):
        sink.add(1.0, "A1", b"a line longer than ten bytes")


def test_add_after_close_is_an_error(tmp_path: Path) -> None:
    sink = SortedFile(tmp_path / "out.jsonl", tmp_path, 10)
    sink.close()
    assert (tmp_path / "out.jsonl").read_bytes() == b""
    with pytest.raises(ValueError, match="add after close"):
        sink.add(1.0, "A1", b"l")
