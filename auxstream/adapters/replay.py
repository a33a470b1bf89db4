"""``auxstream replay --format VENDOR``: raw vendor records -> canonical lines -> the engine.

A thin step in front of the unchanged :class:`~auxstream.replay.runner.Replayer`: each input
record is converted by the vendor's adapter and every canonical event it gives is fed as a
JSON line. The line numbers in dead letters stay those of the vendor file:

* a record the adapter refuses is a dead letter ``invalid`` with the adapter's reason and the
  record's own text;
* an event the engine refuses (late, invalid) is a dead letter naming the vendor record's
  line and carrying the vendor record's text; the canonical event is in the error.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from auxstream.adapters import Adapter, AdapterError
from auxstream.domain.outputs import INVALID
from auxstream.domain.policy import Policy
from auxstream.records import raw_text
from auxstream.replay.run import RECORD_FILES
from auxstream.replay.runner import Emit, Replayer, ReplayStats

_DOCUMENT_STARTS = (b"<Update", b"<?xml")


def records_of(
    lines: Iterable[bytes], multiline_end: bytes | None = None
) -> Iterator[tuple[int, bytes]]:
    """(line number, record) pairs. With ``multiline_end`` (``</Update>`` for Finesse), lines
    are gathered until one contains it, so pretty-printed XML notifications can be replayed;
    the record is numbered by its first line. A line that starts a new document (``<Update``,
    ``<?xml``) ends an unfinished one, so a truncated notification cannot swallow the next."""
    if multiline_end is None:
        yield from enumerate(lines, 1)
        return
    pending: list[bytes] = []
    first = 0
    for number, line in enumerate(lines, 1):
        if not pending and not line.strip():
            yield number, line
            continue
        starts = line.lstrip().startswith(_DOCUMENT_STARTS)
        if starts and pending and not all(p.lstrip().startswith(b"<?xml") for p in pending):
            yield first, b"\n".join(pending)
            pending = []
        if not pending:
            first = number
        pending.append(line)
        if multiline_end in line:
            yield first, b"\n".join(pending)
            pending = []
    if pending:
        yield first, b"\n".join(pending)


class AdaptedFeed:
    """Feeds vendor records to a Replayer through an adapter (see the module docstring)."""

    def __init__(self, adapter: Adapter, make_replayer: Any) -> None:
        self.adapter = adapter
        self._record = b""
        self._number = 0
        self._canonical = b""
        self.replayer: Replayer = make_replayer(self._emit_filter)
        self._emit: Emit | None = None

    def bind(self, emit: Emit) -> None:
        self._emit = emit

    def _emit_filter(self, kind: str, key: tuple[object, ...], line: bytes) -> None:
        """Engine dead letters of the record being fed carry the vendor record, not the event."""
        if self._emit is None:
            raise RuntimeError("AdaptedFeed.bind(emit) was not called")
        if kind == "deadletters" and key == (self._number,) and self._canonical:
            record = orjson.loads(line)
            record["error"] = f"{record['error']} (canonical event {self._canonical.decode()})"
            record["raw"] = raw_text(self._record)
            line = orjson.dumps(record) + (b"\n" if line.endswith(b"\n") else b"")
        self._emit(kind, key, line)

    def feed(self, records: Iterable[tuple[int, bytes]]) -> None:
        replayer = self.replayer
        stats = replayer.stats
        convert = self.adapter.convert
        source = self.adapter.source
        for number, record in records:
            self._number, self._record = number, record
            if not record.strip():
                stats.lines = number - 1
                replayer.feed_line(record)  # counted as a blank line, as in canonical replay
                continue
            try:
                events = convert(record)
            except AdapterError as exc:
                stats.lines = number
                # The Replayer's own dead-letter writer, so the record format stays one.
                replayer._dead_letter(INVALID, f"{source}: {exc}", record, number)
                continue
            for event in events:
                self._canonical = orjson.dumps(event)
                stats.lines = number - 1  # feed_line counts the line and names it by this number
                replayer.feed_line(self._canonical)
            self._canonical = b""
            stats.lines = number


def replay_records(
    records: Iterable[tuple[int, bytes]], adapter: Adapter, policy: Policy, out_dir: Path
) -> tuple[ReplayStats, float]:
    """Like :func:`auxstream.replay.run.replay_file`, for vendor records.

    The record files are written in the same order as a canonical replay's (sort key, then
    line), from memory: vendor exports are a day or a week of one site, not the billions of
    lines the canonical path's spilling sinks are built for; this also keeps the vendor path
    apart from the canonical one's hot-path machinery.
    """
    started = time.perf_counter()
    sorted_records: dict[str, list[tuple[tuple[object, ...], bytes]]] = {
        name: [] for name in RECORD_FILES
    }

    def emit(kind: str, key: tuple[object, ...], line: bytes) -> None:
        sorted_records[kind].append((key, line if line.endswith(b"\n") else line + b"\n"))

    feed = AdaptedFeed(adapter, lambda emit_filter: Replayer(policy, emit_filter))
    feed.bind(emit)
    feed.feed(records)
    feed.replayer.finish()
    for name, entries in sorted_records.items():
        if name != "deadletters":  # dead letters keep input order
            entries.sort()
        with open(out_dir / f"{name}.jsonl", "wb") as out:
            out.writelines(line for _, line in entries)
    return feed.replayer.stats, time.perf_counter() - started


def vendor_adapter(vendor: str, policy_path: str, mapping_path: str | None) -> Adapter:
    """The adapter for ``replay --format``: the policy's ``adapters.<vendor>`` over its defaults.

    Raises PolicyError (policy), MappingError (csv mapping) or ValueError (arguments)."""
    from auxstream.adapters import make_adapter, policy_targets
    from auxstream.adapters.csv_export import load_csv_mapping
    from auxstream.policy.loader import load_policy_file

    targets = policy_targets(load_policy_file(policy_path), vendor)
    if vendor == "csv":
        if mapping_path is None:
            raise ValueError("--format csv needs --mapping FILE (the column mapping)")
        return make_adapter(vendor, targets, load_csv_mapping(mapping_path))
    if mapping_path is not None:
        raise ValueError("--mapping is only for --format csv")
    return make_adapter(vendor, targets)


def replay_vendor_source(
    source: Any, adapter: Adapter, policy: Policy, out_dir: Path
) -> tuple[ReplayStats, float]:
    """Replay an open input (:class:`~auxstream.replay.files.Source`) of vendor records."""
    multiline_end = b"</Update>" if adapter.source == "finesse" else None
    return replay_records(records_of(source.lines(), multiline_end), adapter, policy, out_dir)


def adapter_summary(adapter: Adapter) -> dict[str, Any]:
    """What summary.json adds for a vendor replay: the format and the unmapped status names."""
    summary: dict[str, Any] = {
        "format": adapter.source,
        "unmapped_states": dict(sorted(adapter.states.unmapped.items())),
    }
    reasons = getattr(adapter, "unmapped_reasons", None)
    if reasons is not None:
        summary["unmapped_reasons"] = dict(sorted(reasons.items()))
    return summary
