"""Output files in a canonical order, in bounded memory.

Replay sorts every record file by event time (then agent), so the same events give the
same bytes however their delivery was shuffled within the grace window. Records are
buffered and, past a bound, spilled as sorted runs to temporary files and merged at the
end: memory stays flat however long the input is.

An entry is one flat tuple ``(*sort_key, line)`` with the newline-terminated JSON line
last. Sorting flat tuples orders exactly as sorting ``(sort_key, line)`` pairs (every key
of one file has the same length) while allocating and comparing one tuple less.

A spilled run is a sequence of chunks, each holding up to ``_RUN_BATCH`` entries in
columns: the first keys (event times), the second keys (agents), any third keys, the
lines' end offsets (one ``marshal`` header), then the lines themselves as one block of
bytes. Merging compares the key columns and writes whole slices of a block, so no line
becomes an object of its own again after the spill.
"""

from __future__ import annotations

import marshal
import tempfile
from array import array
from collections.abc import Iterator
from itertools import accumulate
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, Final

Entry = tuple[Any, ...]

_RUN_BATCH: Final = 4096
_HEADER: Final = 16  # two 8-byte little-endian lengths: the marshal header, the block
_FIRST: Final = itemgetter(0)


class SortedFile:
    """One JSONL output file whose lines are written in sort-key order at close.

    ``add`` is the buffer's own ``append`` (one C call per record); the driver calls
    ``check`` every so often to spill a full buffer, so the bound is ``spill_at`` plus
    whatever arrived since the last check.
    """

    def __init__(self, path: Path, spill_dir: Path, spill_at: int) -> None:
        self.path = path
        self._spill_dir = spill_dir
        self._spill_at = spill_at
        self._buffer: list[Entry] = []
        self._runs: list[Path] = []
        self._spilled = 0
        self.add = self._buffer.append

    @property
    def count(self) -> int:
        return self._spilled + len(self._buffer)

    def check(self) -> None:
        if len(self._buffer) >= self._spill_at:
            self._spill()

    def _spill(self) -> None:
        buffer = self._buffer
        sort_entries(buffer)
        handle, name = tempfile.mkstemp(
            prefix=f"{self.path.stem}-", suffix=".run", dir=self._spill_dir
        )
        with open(handle, "wb") as run:
            for i in range(0, len(buffer), _RUN_BATCH):
                run.write(encode_chunk(buffer[i : i + _RUN_BATCH]))
        self._runs.append(Path(name))
        self._spilled += len(buffer)
        buffer.clear()  # the same list: ``add`` stays bound to it

    def close(self) -> None:
        buffer = self._buffer
        sort_entries(buffer)
        with open(self.path, "wb") as out:
            if not self._runs:
                out.writelines([entry[-1] for entry in buffer])
            else:
                memory = [
                    Chunk.of(buffer[i : i + _RUN_BATCH]) for i in range(0, len(buffer), _RUN_BATCH)
                ]
                merge_runs([iter(memory), *(read_chunks(run) for run in self._runs)], out)
        for run in self._runs:
            run.unlink(missing_ok=True)
        buffer.clear()
        self._runs = []


def sort_entries(entries: list[Entry]) -> None:
    """Sort ``entries`` as ``entries.sort()`` would.

    A sort on the first key alone compares floats in C without the equality pass tuple
    comparison makes on every pair; only the runs of equal first keys (records of one
    instant) are then sorted as whole tuples. Stable sorting makes the two the same order.
    """
    entries.sort(key=_FIRST)
    n = len(entries)
    i = 0
    while i < n:
        first = entries[i][0]
        j = i + 1
        while j < n and entries[j][0] == first:
            j += 1
        if j - i > 1:
            entries[i:j] = sorted(entries[i:j])
        i = j


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


def encode_chunk(entries: list[Entry]) -> bytes:
    """A chunk as written to a run: two lengths, the marshalled columns, the block."""
    lines = [entry[-1] for entry in entries]
    header = marshal.dumps((
        [entry[0] for entry in entries],
        _rests(entries),
        array("q", accumulate(map(len, lines))).tobytes(),
    ))  # fmt: skip
    block = b"".join(lines)
    return len(header).to_bytes(8, "little") + len(block).to_bytes(8, "little") + header + block


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
