"""The agents one flush stores, encoded after the flush, a few at a time (copy on write).

A flush must store every agent it covers as that agent was at the flush: the records
already handed to Kafka came from that state. Encoding them all at the flush (about 20 µs
each, a few hundred agents per flush on a busy floor) held every message arriving
meanwhile for several milliseconds, the largest part of the worker's latency tail
(docs/performance.md). A :class:`Snapshot` only takes references at the flush. Its
:meth:`fill` encodes them in small chunks, letting the event loop handle messages between
chunks; and before an agent it has not encoded yet changes again, the processor has it
encoded first (:meth:`save`), so every agent is stored as it was at the flush however the
two interleave.

The states are the core's mutable ``AgentState`` objects; nothing here reads a clock or
Kafka, so the interleavings are tested without either (tests/unit/test_stream_snapshot.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping

from auxstream.domain.state import AgentState

Encoded = tuple[int, bytes, bytes]
"""(home partition, key, encoded state) of one agent to store."""

CHUNK = 32
"""Agents encoded per turn of the event loop (about 0.7 ms of pickling)."""


class Snapshot:
    """The agents changed up to one flush; :attr:`encoded` once :meth:`fill` returned."""

    def __init__(
        self,
        changed: list[tuple[int, AgentState]],
        encode: Callable[[AgentState], bytes],
        unsaved: MutableMapping[str, Snapshot],
    ) -> None:
        self._encode = encode
        self._unsaved = unsaved
        self._todo: dict[str, tuple[int, AgentState]] = {}
        self.encoded: list[Encoded] = []
        for partition, state in changed:
            self._todo[state.agent_id] = (partition, state)
            unsaved[state.agent_id] = self

    def __len__(self) -> int:
        return len(self._todo) + len(self.encoded)

    def save(self, agent_id: str) -> None:
        """Encode ``agent_id`` now, before it changes (the caller removed it from unsaved)."""
        partition, state = self._todo.pop(agent_id)
        self.encoded.append((partition, agent_id.encode(), self._encode(state)))

    def encode_some(self, most: int) -> bool:
        """Encode up to ``most`` of the agents left; True when none is left."""
        todo, unsaved, encoded, encode = self._todo, self._unsaved, self.encoded, self._encode
        for _ in range(min(most, len(todo))):
            agent_id, (partition, state) = todo.popitem()
            if unsaved.get(agent_id) is self:
                del unsaved[agent_id]
            encoded.append((partition, agent_id.encode(), encode(state)))
        return not todo

    async def fill(self, chunk: int = CHUNK) -> list[Encoded]:
        """Encode every agent left, ``chunk`` at a time with a turn of the loop between."""
        while not self.encode_some(chunk):  # noqa: ASYNC110 - a turn for messages, not a poll
            await asyncio.sleep(0)
        return self.encoded


def save_before_change(unsaved: MutableMapping[str, Snapshot], agent_id: str) -> None:
    """Called before ``agent_id``'s state changes: a snapshot still holding it encodes it."""
    snapshot = unsaved.pop(agent_id, None)
    if snapshot is not None:
        snapshot.save(agent_id)
