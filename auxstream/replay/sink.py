"""Output files in a canonical order, in bounded memory.

Replay sorts every record file by event time (then agent), so the same events give the
same bytes however their delivery was shuffled within the grace window. Records are
buffered and, past a bound, spilled as sorted runs to temporary files and merged at the
end: memory stays flat however long the input is.
"""

from __future__ import annotations

import heapq
import pickle  # noqa: S403 - only reads back runs this process wrote itself
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

SortKey = tuple[Any, ...]
Entry = tuple[SortKey, bytes]

_RUN_BATCH = 4096


class SortedFile:
    """One JSONL output file whose lines are written in sort-key order at close."""

    def __init__(self, path: Path, spill_dir: Path, spill_at: int) -> None:
        self.path = path
        self._spill_dir = spill_dir
        self._spill_at = spill_at
        self._buffer: list[Entry] = []
        self._runs: list[Path] = []
        self.count = 0

    def add(self, key: SortKey, line: bytes) -> None:
        # ``line + b"\n"`` also makes a compact copy: orjson's own result can carry
        # kilobytes of spare capacity, which a buffer of 200,000 lines cannot afford.
        self._buffer.append((key, line + b"\n"))
        self.count += 1
        if len(self._buffer) >= self._spill_at:
            self._spill()

    def _spill(self) -> None:
        self._buffer.sort()
        handle, name = tempfile.mkstemp(prefix=f"{self.path.stem}-", suffix=".run", dir=self._spill_dir)
        with open(handle, "wb") as run:
            for i in range(0, len(self._buffer), _RUN_BATCH):
                pickle.dump(self._buffer[i : i + _RUN_BATCH], run, protocol=pickle.HIGHEST_PROTOCOL)
        self._runs.append(Path(name))
        self._buffer = []

    def close(self) -> None:
        self._buffer.sort()
        with open(self.path, "wb") as out:
            if not self._runs:
                out.writelines(line for _, line in self._buffer)
            else:
                streams = [_read_run(run) for run in self._runs]
                merged = heapq.merge(iter(self._buffer), *streams)
                out.writelines(line for _, line in merged)
        for run in self._runs:
            run.unlink(missing_ok=True)
        self._buffer = []
        self._runs = []


def _read_run(path: Path) -> Iterator[Entry]:
    with open(path, "rb") as run:
        while True:
            try:
                batch = pickle.load(run)  # noqa: S301 - our own spill file
            except EOFError:
                return
            yield from batch


class PlainFile:
    """An output file written in arrival order (dead letters keep input order)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._out: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.count = 0

    def add(self, key: SortKey, line: bytes) -> None:
        self._out.write(line + b"\n")
        self.count += 1

    def close(self) -> None:
        self._out.close()
