"""Opening the replay input: a path, a gzip file, or standard input, read as a stream."""

from __future__ import annotations

import gzip
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast


class InputError(Exception):
    """The input cannot be read; the message says which file and why."""


@dataclass
class Source:
    """An open input with what a progress bar needs to know."""

    name: str
    stream: IO[bytes]
    size: int | None
    """Bytes on disk, when known (not for standard input)."""
    raw: IO[bytes] | None
    """The underlying file, whose position tracks progress through a compressed input."""

    def position(self) -> int:
        return self.raw.tell() if self.raw is not None else 0

    def lines(self) -> Iterator[bytes]:
        try:
            for line in self.stream:
                yield line[:-1] if line.endswith(b"\n") else line
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"cannot read {self.name}: {exc}") from None

    def batches(self, size_hint: int = 1 << 20) -> Iterator[list[bytes]]:
        """The lines in lists of about ``size_hint`` bytes, each line still ending in its
        newline (the last may not): read in C, without a Python step per line."""
        try:
            while True:
                batch = self.stream.readlines(size_hint)
                if not batch:
                    return
                yield batch
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"cannot read {self.name}: {exc}") from None


@contextmanager
def open_input(name: str) -> Iterator[Source]:
    if name == "-":
        yield Source("standard input", sys.stdin.buffer, None, None)
        return
    path = Path(name)
    try:
        # A 1 MB buffer: the default 8 KB one made a system call per 8 KB of input.
        raw = open(path, "rb", buffering=1 << 20)  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise InputError(f"input file {name} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"input {name} is a directory, not a file") from None
    except OSError as exc:
        raise InputError(f"cannot open input file {name}: {exc.strerror}") from None
    try:
        size = path.stat().st_size
        magic = raw.read(2)
        raw.seek(0)
        stream = (
            cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")) if magic == b"\x1f\x8b" else raw
        )
        yield Source(name, stream, size, raw)
    finally:
        raw.close()
