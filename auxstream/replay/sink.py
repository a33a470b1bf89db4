"""Output files in a canonical order, in bounded memory.

Replay sorts every record file by event time (then agent), so the same events give the
same bytes however their delivery was shuffled within the grace window. Records are
buffered and, past a bound, spilled as sorted runs to temporary files and merged at the
end: memory stays flat however long the input is.

An entry is one flat tuple ``(*sort_key, line)`` with the newline-terminated JSON line
last. Sorting flat tuples orders exactly as sorting ``(sort_key, line)`` pairs (every key
of one file has the same length) while allocating and comparing one tuple less.
"""

from __future__ import annotations

import pickle
import tempfile
from bisect import bisect_right
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

Entry = tuple[Any, ...]

_RUN_BATCH: Final = 4096


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
        buffer.sort()
        handle, name = tempfile.mkstemp(
            prefix=f"{self.path.stem}-", suffix=".run", dir=self._spill_dir
        )
        with open(handle, "wb") as run:
            pickler = pickle.Pickler(run, protocol=pickle.HIGHEST_PROTOCOL)
            # No memo: entries hold no shared or recursive objects worth it, and the memo
            # costs a third of the time.
            pickler.fast = True
            for i in range(0, len(buffer), _RUN_BATCH):
                pickler.dump(buffer[i : i + _RUN_BATCH])
        self._runs.append(Path(name))
        self._spilled += len(buffer)
        buffer.clear()  # the same list: ``add`` stays bound to it

    def close(self) -> None:
        buffer = self._buffer
        buffer.sort()
        with open(self.path, "wb") as out:
            if not self._runs:
                out.writelines([entry[-1] for entry in buffer])
            else:
                _merge([iter([buffer]), *(_read_batches(run) for run in self._runs)], out)
        for run in self._runs:
            run.unlink(missing_ok=True)
        buffer.clear()
        self._runs = []


def _read_batches(path: Path) -> Iterator[list[Entry]]:
    with open(path, "rb") as run:
        while True:
            try:
                batch = pickle.load(run)  # noqa: S301 - our own spill file, written above
            except EOFError:
                return
            yield batch


def _merge(runs: list[Iterator[list[Entry]]], out: IO[bytes]) -> None:
    """Write the lines of sorted runs (each given as sorted batches) in merged order.

    Runs are spilled as time goes on, so they barely overlap: rather than one heap step
    per line, take from the run with the smallest head every entry up to the smallest head
    of the others (a C-level bisect) and write that slice at once. Entries equal across
    runs are equal lines, so which run gives them first does not change the bytes.
    """
    heads: list[tuple[list[Entry], int, Iterator[list[Entry]]]] = []
    for run in runs:
        first = _next_batch(run)
        if first is not None:
            heads.append((first, 0, run))
    while len(heads) > 1:
        firsts = [batch[pos] for batch, pos, _ in heads]
        low = firsts.index(min(firsts))
        bound = min(first for i, first in enumerate(firsts) if i != low)
        batch, pos, run = heads[low]
        end = bisect_right(batch, bound, pos)
        out.writelines([entry[-1] for entry in batch[pos:end]])
        if end < len(batch):
            heads[low] = (batch, end, run)
            continue
        following = _next_batch(run)
        if following is None:
            del heads[low]
        else:
            heads[low] = (following, 0, run)
    for batch, pos, run in heads:
        out.writelines([entry[-1] for entry in batch[pos:]])
        for rest in run:
            out.writelines([entry[-1] for entry in rest])


def _next_batch(run: Iterator[list[Entry]]) -> list[Entry] | None:
    """The run's next non-empty batch, or None at its end."""
    for batch in run:
        if batch:
            return batch
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
