"""The agent table: one entry per agent (the core's ``AgentState``), changelog-backed.

**Codec.** A state is pickled (protocol 5) behind a one-byte format version. Pickle is fast
(about 35 µs each way for a day's state of one agent, ~2.5 KB) and keeps every field of our
own slotted dataclasses without a hand-kept field list that could fall out of step with
``auxstream.domain.state``. Unpickling runs code named in the data, so it is only ever
applied to this table's own changelog topic, which only the workers write: whoever can
write to that topic can already change every agent's state. Input from the ACD never
goes near pickle (it is parsed with orjson and validated field by field).

**Partitions.** A Faust table writes a key to the changelog partition (and local RocksDB
shard) of the event being processed, found through ``faust.streams.current_event()``. The
worker also changes agents from a timer, and stores a batch of agents from many
partitions at once, where no single event is current. So each write runs inside
:func:`in_partition`, which makes a stand-in event of the agent's home partition current
for the duration of the write: the table then behaves exactly as inside an agent
processing that partition. This relies on Faust's private ``faust.streams._current_event``
context variable (present, unchanged, since Faust 1.0); if it ever moves, the writes fail
loudly with Faust's own "Cannot modify table outside of agent/stream" error.
"""

from __future__ import annotations

import contextlib
import pickle
import weakref
from collections.abc import Iterable, Iterator
from typing import Any, Final

import faust
from faust.streams import _current_event
from faust.types import TP
from faust.types.tuples import Message

from auxstream.domain.state import AgentState
from auxstream.stream.processor import Outbound, home_partition
from auxstream.stream.snapshot import Encoded

FORMAT = b"\x03"
"""First byte of every stored state; bump it when AgentState changes incompatibly.
2: the duplicate ids in acceptance order (``seen_order``, one NUL-joined string) instead
of a dict of times. 3: each not-ready code's time in one ``CodeTime`` (``by_code``)
instead of tables by day and code and the last hour's stretches. An older worker cannot
read a newer format, so the byte tells it so plainly."""
READS: Final = (b"\x01", b"\x02", FORMAT)
"""Formats this worker reads: 1 and 2 are converted on loading (``AgentState.__setstate__``)."""


def encode_state(state: AgentState) -> bytes:
    return FORMAT + pickle.dumps(state, protocol=5)


def decode_state(data: bytes) -> AgentState:
    if data[:1] not in READS:
        raise ValueError(
            f"stored agent state has format {data[:1]!r}, this worker reads"
            f" {' and '.join(repr(f) for f in READS)}"
        )
    state = pickle.loads(data[1:])  # noqa: S301 - our own changelog; see the module docstring
    if not isinstance(state, AgentState):
        raise TypeError(f"stored agent state is a {type(state).__name__}")
    return state


class AgentStore:
    """The ``agents`` table, read and written by agent_id on the agent's home partition."""

    def __init__(
        self,
        app: faust.App,
        source_topic: str,
        partitions: int,
        rocksdb_options: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.source_topic = source_topic
        self.partitions = partitions
        self.table = app.Table(
            "agents",
            partitions=partitions,
            key_type=bytes,
            value_type=bytes,
            # RocksDB (one database per partition): without these, Faust's defaults allow
            # three 64 MB memtables, a 2 GB block cache and a 500 MB compressed cache per
            # partition, and a worker's memory grows for hours as they fill.
            options=dict(rocksdb_options or {}),
            help="One entry per agent: the core's AgentState (auxstream.stream.store).",
        )
        self._stand_ins: dict[int, faust.Event] = {}

    def get(self, agent_id: str) -> AgentState | None:
        key = agent_id.encode()
        with self.in_partition(home_partition(agent_id, self.partitions)):
            data = self.table.get(key)
        return None if data is None else decode_state(data)

    def put(self, partition: int, key: bytes, value: bytes) -> None:
        """Write one encoded agent through Faust's table (its changelog send included)."""
        with self.in_partition(partition):
            self.table[key] = value

    def stage(self, encoded: Iterable[Encoded]) -> list[tuple[str, Outbound]]:
        """Write agents to the local store; return their changelog records, for the caller
        to send in batches (:class:`~auxstream.stream.sender.BatchSender`).

        This is what ``table[key] = value`` does per key (``Table.on_key_set``: the store
        write, then a changelog record on the key's partition), without a Faust send per
        agent. The caller reports each delivered batch to :meth:`changelog_delivered`, as
        Faust's ``_on_changelog_sent`` does, so a kept RocksDB store knows from which
        changelog offset to recover. Faust commits input offsets only after flushing the
        producer, so after these records are in Kafka.
        """
        data = self.table.data
        topic = self.changelog_topic
        records: list[tuple[str, Outbound]] = []
        for partition, key, value in encoded:
            with self.in_partition(partition):
                data[key] = value
            records.append((topic, Outbound("changelog", key, value, partition)))
        return records

    def changelog_delivered(self, partition: int, offset: int) -> None:
        """Remember the changelog offset the local store holds (a kept RocksDB store resumes
        its recovery after it)."""
        store: Any = self.table.data
        store.set_persisted_offset(TP(self.changelog_topic, partition), offset)

    @property
    def changelog_topic(self) -> str:
        return str(self.table.changelog_topic.get_topic_name())

    def stored(self, partitions: Iterable[int]) -> Iterator[AgentState]:
        """Every stored agent whose home is one of ``partitions`` (after recovery)."""
        wanted = set(partitions)
        for key, data in self.table.items():
            agent_id = key.decode() if isinstance(key, bytes) else str(key)
            if data is not None and home_partition(agent_id, self.partitions) in wanted:
                yield decode_state(data)

    @contextlib.contextmanager
    def in_partition(self, partition: int) -> Iterator[None]:
        """Make the table read and write ``partition``, as while processing an event of it."""
        event = self._stand_ins.get(partition)
        if event is None:
            event = self._stand_ins[partition] = _stand_in(self.app, self.source_topic, partition)
        token = _current_event.set(weakref.ref(event))
        try:
            yield
        finally:
            _current_event.reset(token)


def _stand_in(app: Any, topic: str, partition: int) -> faust.Event:
    message = Message(topic, partition, -1, 0.0, 0, None, None, None, None)
    return faust.Event(app, None, None, None, message)
