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

import heapq
import pickle
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

Entry = tuple[Any, ...]

_RUN_BATCH = 4096


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
        handle, name = tempfile.mkstemp(prefix=f"{self.path.stem}-", suffix=".run", dir=self._spill_dir)
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
                streams = [_read_run(run) for run in self._runs]
                merged = heapq.merge(iter(buffer), *streams)
                out.writelines(entry[-1] for entry in merged)
        for run in self._runs:
            run.unlink(missing_ok=True)
        buffer.clear()
        self._runs = []


def _read_run(path: Path) -> Iterator[Entry]:
    with open(path, "rb") as run:
        while True:
            try:
                batch = pickle.load(run)
            except EOFError:
                return
            yield from batch


class PlainFile:
    """An output file written in arrival order (dead letters keep input order)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._out: IO[bytes] = open(path, "wb")
        self.count = 0

    def add(self, entry: Entry) -> None:
        self._out.write(entry[-1])
        self.count += 1

    def check(self) -> None:
        pass

    def close(self) -> None:
        self._out.close()
