"""One replay from an open input to the files in an output directory."""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from auxstream.domain.policy import Policy
from auxstream.replay.files import Source
from auxstream.replay.runner import Replayer, ReplayStats
from auxstream.replay.sink import PlainFile, RecordFile, SortedFile

RECORD_FILES = ("segments", "intervals", "durations", "detections", "checkins", "deadletters")
SPILL_AT = 50_000  # records per file: a buffered record is about 250 bytes of its block
RECORD_BYTES = 256
"""What a record is taken to weigh when ``spill_at`` becomes the C sink's bound in bytes."""

_CSortedFile: Callable[[Path, Path, int], RecordFile] | None
try:
    from auxstream.replay.sortfile import SortedFile as _CSortedFile
except ImportError:  # no fresh native build (make native), or AUXSTREAM_PURE=1
    _CSortedFile = None
_PROGRESS_EVERY = 20_000
_CHECK_MASK = 1023  # check the sinks for a spill every 1,024 lines


def replay_file(
    source: Source,
    policy: Policy,
    out_dir: Path,
    *,
    show_progress: bool = False,
    spill_at: int = SPILL_AT,
) -> tuple[ReplayStats, float]:
    """Replay ``source`` into ``out_dir``; returns the statistics and the seconds taken."""
    started = time.perf_counter()
    # The core and the driver make no reference cycles (tests/unit/test_replay_gc.py), so
    # the cyclic collector would only re-scan the growing output buffers and agent states
    # over and over (about a tenth of replay's time): it is paused for the run.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _replay(source, policy, out_dir, show_progress, spill_at, started)
    finally:
        if gc_was_enabled:
            gc.enable()


def _replay(
    source: Source,
    policy: Policy,
    out_dir: Path,
    show_progress: bool,
    spill_at: int,
    started: float,
) -> tuple[ReplayStats, float]:
    with tempfile.TemporaryDirectory(prefix="auxstream-replay-", dir=out_dir) as spill:
        sorted_files = {
            name: sorted_file(out_dir / f"{name}.jsonl", Path(spill), spill_at)
            for name in RECORD_FILES[:-1]
        }
        dead_letters = PlainFile(out_dir / "deadletters.jsonl")
        sinks: dict[str, RecordFile | PlainFile] = {**sorted_files, "deadletters": dead_letters}
        try:
            # Only dead letters come through ``emit`` (the other records go to the sinks'
            # ``add``), but any record name is routed to its file.
            replayer = Replayer(
                policy,
                partial(_emit, sorted_files, dead_letters),
                {name: sink.add for name, sink in sorted_files.items()},
            )
            checks = [sink.check for sink in sinks.values()]
            if show_progress:
                _feed_with_progress(replayer, source, checks)
            else:
                _feed(replayer, source, checks)
            replayer.finish()
        finally:
            for sink in sinks.values():
                sink.close()
    return replayer.stats, time.perf_counter() - started


def sorted_file(path: Path, spill_dir: Path, spill_at: int) -> RecordFile:
    """The C sink when it is built (the same bytes, about a third of the cost: see
    ``sortfile.c``), else the Python one."""
    if _CSortedFile is None:
        return SortedFile(path, spill_dir, spill_at)
    return _CSortedFile(path, spill_dir, spill_at * RECORD_BYTES)


def _emit(
    sorted_files: dict[str, RecordFile],
    dead_letters: PlainFile,
    kind: str,
    key: tuple[object, ...],
    line: bytes,
) -> None:
    if kind == "deadletters":
        dead_letters.add((*key, line))
    else:
        sorted_files[kind].add(key[0], key[1] if len(key) == 2 else key[1:], line[:-1])


def _feed(replayer: Replayer, source: Source, checks: list[Callable[[], None]]) -> None:
    # The Python sink's ``add`` never spills by itself (see SortedFile): checked after each
    # batch (the C one spills in ``add``).
    feed = replayer.feed_line
    for batch in source.batches():
        for line in batch:
            feed(line)
        for check in checks:
            check()


def _feed_with_progress(
    replayer: Replayer, source: Source, checks: list[Callable[[], None]]
) -> None:
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = [
        TextColumn("[bold]replay[/] {task.fields[lines]:>12,} lines"),
        BarColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("replay", total=source.size, lines=0)
        feed = replayer.feed_line
        for count, line in enumerate(source.lines(), 1):
            feed(line)
            if not count & _CHECK_MASK:
                for check in checks:
                    check()
            if count % _PROGRESS_EVERY == 0:
                progress.update(task, completed=source.position(), lines=count)
        progress.update(task, completed=source.size, lines=replayer.stats.lines)
