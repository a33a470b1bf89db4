"""Output files in a canonical order, in bounded memory.

Replay sorts every record file by event time (then agent), so the same events give the
same bytes however their delivery was shuffled within the grace window. Records are
buffered and, past a bound, spilled as sorted runs to temporary files and merged at the
end: memory stays flat however long the input is.

A buffered record is not an object: its first key goes into an array of floats, the rest
of its key into a list (usually the agent id, shared with the agent's state) and its line
is copied into one block of bytes. A spill splits the block into lines, sorts positions
and writes sorted chunks of up to ``_RUN_BATCH`` records in columns: the first keys, the
other keys and the lines' end offsets (one ``marshal`` header), then the lines as one
block. Merging compares the key columns and writes whole slices of a block, so no line
becomes an object of its own again after the spill.
"""

from __future__ import annotations

import marshal
import tempfile
from array import array
from collections.abc import Iterator
from itertools import accumulate
from pathlib import Path
from typing import IO, Any, Final, Protocol

Entry = tuple[Any, ...]


class RecordFile(Protocol):
    """A sorted output file as replay uses it: this module's ``SortedFile`` or the C one
    (``sortfile.c``), which writes the same bytes."""

    def add(self, first: Any, rest: Any, line: bytes, /) -> None:
        """One record: its first sort key, the rest of its key, its line without a newline."""

    def check(self) -> None: ...

    def close(self) -> None: ...

    @property
    def count(self) -> int: ...


_RUN_BATCH: Final = 4096
_EXACT: Final = 2**53
"""Integers below this in size are exact as floats (and keep their order)."""
_HEADER: Final = 16  # two 8-byte little-endian lengths: the marshal header, the block


class SortedFile:
    """One JSONL output file whose lines are written in sort-key order at close.

    ``add(first, rest, line)`` takes one record: its first sort key (a float, an int
    event time, or another value all of one type), the rest of its key (one value, or a
    tuple of them) and its line, without a newline (the file adds it). The first keys go
    into an array, the lines are copied into one block of bytes at once, so a buffered
    record keeps no object of its own. The driver calls ``check`` every so often to spill
    a full buffer, so the bound is ``spill_at`` plus whatever arrived since the last check.
    """

    def __init__(self, path: Path, spill_dir: Path, spill_at: int) -> None:
        self.path = path
        self._spill_dir = spill_dir
        self._spill_at = spill_at
        self._firsts: list[Any] | array[float] = array("d")
        self._rests: list[Any] = []
        self._block = bytearray()
        self._runs: list[Path] = []
        self._spilled = 0

    def add(self, first: Any, rest: Any, line: bytes) -> None:
        firsts = self._firsts
        if type(first) is not float:
            if type(first) is int and -_EXACT < first < _EXACT:
                first = float(first)  # an event time: exact as a float
            elif type(firsts) is array:
                # Another kind of key: keys kept as objects from now on.
                firsts = self._firsts = list(firsts)
        firsts.append(first)
        self._rests.append(rest)
        self._block += line
        self._block += b"\n"

    @property
    def count(self) -> int:
        return self._spilled + len(self._rests)

    def check(self) -> None:
        if len(self._rests) >= self._spill_at:
            self._spill()

    def _spill(self) -> None:
        handle, name = tempfile.mkstemp(
            prefix=f"{self.path.stem}-", suffix=".run", dir=self._spill_dir
        )
        with open(handle, "wb") as run:
            for chunk in self._take_sorted():
                write_chunk(chunk, run)
        self._runs.append(Path(name))

    def _take_sorted(self) -> Iterator[Chunk]:
        """The buffered records as sorted chunks, made one at a time (only the lines stay
        in memory meanwhile); the buffer is left empty at once."""
        firsts = self._firsts
        keys: list[Any] = firsts.tolist() if isinstance(firsts, array) else firsts
        rests = self._rests
        data = bytes(self._block)
        self._firsts = array("d")
        self._rests = []
        self._block = bytearray()
        self._spilled += len(rests)
        lines = data.split(b"\n")
        del data
        if len(lines) != len(rests) + 1:
            raise ValueError(f"{self.path.name}: a buffered line holds a newline")
        return _chunks(keys, rests, lines, sort_order(keys, rests, lines))

    def close(self) -> None:
        memory = self._take_sorted()
        with open(self.path, "wb") as out:
            if not self._runs:
                for chunk in memory:
                    out.write(chunk.block)
            else:
                merge_runs([iter(memory), *(read_chunks(run) for run in self._runs)], out)
        for run in self._runs:
            run.unlink(missing_ok=True)
        self._runs = []


def _chunks(
    keys: list[Any], rests: list[Any], lines: list[bytes], order: list[int]
) -> Iterator[Chunk]:
    for i in range(0, len(order), _RUN_BATCH):
        picked = order[i : i + _RUN_BATCH]
        parts = [lines[k] for k in picked]
        ends = array("q", accumulate([len(part) + 1 for part in parts]))
        parts.append(b"")  # the last line's newline
        yield Chunk([keys[k] for k in picked], [rests[k] for k in picked], ends, b"\n".join(parts))


def sort_order(keys: list[Any], rests: list[Any], lines: list[bytes]) -> list[int]:
    """The positions of the records ``(keys[i], *rests[i], lines[i])`` in sorted order.

    One sort on the first keys alone (floats compare in C, with no tuple and no equality
    pass), then each run of equal first keys (records of one instant) by the rest of the
    key, then any run equal in both by the line: stable sorts, so the same order as one
    sort of the whole tuples.
    """
    order = sorted(range(len(keys)), key=keys.__getitem__)
    for i, j in _equal_runs([keys[k] for k in order]):
        order[i:j] = _sort_group(order[i:j], rests, lines)
    return order


def _sort_group(group: list[int], rests: list[Any], lines: list[bytes]) -> list[int]:
    """Positions of one instant sorted by the rest of the key, then the line."""
    group.sort(key=rests.__getitem__)
    for g, h in _equal_runs([rests[k] for k in group]):
        group[g:h] = sorted(group[g:h], key=lines.__getitem__)
    return group


def _equal_runs(ordered: list[Any]) -> list[tuple[int, int]]:
    """``(start, end)`` of every run of two or more equal neighbours in ``ordered``."""
    runs: list[tuple[int, int]] = []
    n = len(ordered)
    i = 0
    while i < n:
        first = ordered[i]
        j = i + 1
        while j < n and ordered[j] == first:
            j += 1
        if j - i > 1:
            runs.append((i, j))
        i = j
    return runs


def sort_entries(entries: list[Entry]) -> None:
    """Sort flat ``(first, *rest, line)`` tuples as ``entries.sort()`` would (as
    ``sort_order`` does for the columns)."""
    keys = [entry[0] for entry in entries]
    rests = _rests(entries)
    lines = [entry[-1] for entry in entries]
    entries[:] = [entries[k] for k in sort_order(keys, rests, lines)]


class Chunk:
    """Sorted entries in columns: keys by position, lines as one block of bytes."""

    def __init__(self, firsts: list[Any], rests: list[Any], ends: array[int], block: bytes) -> None:
        self.firsts = firsts
        """The first key of every entry."""
        self.rests = rests
        """The keys between the first and the line: the second key itself when there is only
        one (the agent id), otherwise a tuple of them."""
        self.ends = ends
        """ends[i] is where line i ends in ``block`` (ends[-1] is the block's length)."""
        self.block = block
        self.n = len(firsts)

    @staticmethod
    def of(entries: list[Entry]) -> Chunk:
        lines = [entry[-1] for entry in entries]
        return Chunk(
            [entry[0] for entry in entries],
            _rests(entries),
            array("q", accumulate(map(len, lines))),
            b"".join(lines),
        )

    def start(self, i: int) -> int:
        return self.ends[i - 1] if i else 0

    def line(self, i: int) -> bytes:
        return self.block[self.start(i) : self.ends[i]]

    def key(self, i: int) -> Entry:
        """Entry i as the tuple it was (for tests)."""
        rest = self.rests[i]
        if isinstance(rest, tuple):
            return (self.firsts[i], *rest, self.line(i))
        return (self.firsts[i], rest, self.line(i))


def _rests(entries: list[Entry]) -> list[Any]:
    if entries and len(entries[0]) == 3:
        return [entry[1] for entry in entries]
    return [entry[1:-1] for entry in entries]


def write_chunk(chunk: Chunk, run: IO[bytes]) -> None:
    """A chunk as written to a run: two lengths, the marshalled key columns and line ends,
    then the block."""
    header = marshal.dumps((chunk.firsts, chunk.rests, chunk.ends.tobytes()))
    block = chunk.block
    run.write(len(header).to_bytes(8, "little") + len(block).to_bytes(8, "little"))
    run.write(header)
    run.write(block)


def read_chunks(path: Path) -> Iterator[Chunk]:
    with open(path, "rb") as run:
        while True:
            sizes = run.read(_HEADER)
            if len(sizes) < _HEADER:
                return
            header_size = int.from_bytes(sizes[:8], "little")
            block_size = int.from_bytes(sizes[8:], "little")
            firsts, rests, ends = marshal.loads(run.read(header_size))  # noqa: S302 - our own run
            yield Chunk(firsts, rests, array("q", ends), run.read(block_size))


def _less(a: Chunk, i: int, b: Chunk, j: int) -> bool:
    """Whether entry i of a sorts before entry j of b."""
    fa = a.firsts[i]
    fb = b.firsts[j]
    if fa != fb:
        return bool(fa < fb)
    ra = a.rests[i]
    rb = b.rests[j]
    if ra != rb:
        return bool(ra < rb)
    return a.line(i) < b.line(j)


def merge_runs(runs: list[Iterator[Chunk]], out: IO[bytes]) -> None:
    """Write the lines of sorted runs (each given as sorted chunks) in merged order.

    Runs are spilled as time goes on, so they barely overlap: rather than one step per
    line, take from the run with the smallest head every entry up to the smallest head of
    the others (a binary search on the key columns) and write that slice of its block at
    once. Entries equal across runs are equal lines, so which run gives them first does not
    change the bytes.
    """
    chunks: list[Chunk] = []
    positions: list[int] = []
    iterators: list[Iterator[Chunk]] = []
    for run in runs:
        first = _next_chunk(run)
        if first is not None:
            chunks.append(first)
            positions.append(0)
            iterators.append(run)
    while len(chunks) > 1:
        low = 0
        for k in range(1, len(chunks)):
            if _less(chunks[k], positions[k], chunks[low], positions[low]):
                low = k
        second = 1 if low == 0 else 0
        for k in range(len(chunks)):
            if (
                k != low
                and k != second
                and _less(chunks[k], positions[k], chunks[second], positions[second])
            ):
                second = k
        chunk = chunks[low]
        pos = positions[low]
        bound = chunks[second]
        bound_pos = positions[second]
        # The first entry after pos that sorts after the bound (the head itself never does).
        lo = pos + 1
        hi = chunk.n
        while lo < hi:
            mid = (lo + hi) // 2
            if _less(bound, bound_pos, chunk, mid):
                hi = mid
            else:
                lo = mid + 1
        out.write(memoryview(chunk.block)[chunk.start(pos) : chunk.start(lo)])
        if lo < chunk.n:
            positions[low] = lo
            continue
        following = _next_chunk(iterators[low])
        if following is None:
            del chunks[low]
            del positions[low]
            del iterators[low]
        else:
            chunks[low] = following
            positions[low] = 0
    for chunk, pos, run in zip(chunks, positions, iterators, strict=True):
        out.write(memoryview(chunk.block)[chunk.start(pos) :])
        for rest in run:
            out.write(rest.block)


def _next_chunk(run: Iterator[Chunk]) -> Chunk | None:
    """The run's next non-empty chunk, or None at its end."""
    for chunk in run:
        if chunk.n:
            return chunk
    return None


class PlainFile:
    """An output file written in arrival order (dead letters keep input order)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._out: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.count = 0

    def add(self, entry: Entry) -> None:
        self._out.write(entry[-1])
        self.count += 1

    def check(self) -> None:
        pass

    def close(self) -> None:
        self._out.close()
