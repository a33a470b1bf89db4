"""The worker's input path: Faust's consumer hands messages over in bulk, not one by one.

A Faust agent pays for every message: an ``Event`` object, a queue put and get, sensor
calls, several turns of the event loop and an ``await`` into our code; measured on the
two-core machine that was most of a worker's time (docs/performance.md). So the input
topics are not given to an agent. :class:`IntakeTopic` is a Faust topic like any other
for everything that keeps the worker safe (the conductor subscribes it, the assignor
co-partitions it with the agents table, the consumer tracks acks and commits offsets,
``flow_control`` clears it on a rebalance), but the conductor's delivery lands in an
:class:`Intake`: a plain list of Faust ``Message`` objects. One task takes up to
``batch_max`` of them at a time and hands the whole batch to the shell.

Messages are acked to Faust's consumer (``Consumer.ack``) only after the shell's flush,
exactly as the agent's events were, so Faust commits nothing the worker has not finished.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.types.tuples import Message


class Intake:
    """Messages delivered by Faust's conductor, waiting for the worker, in arrival order.

    ``generation`` counts the clears: Faust clears its queues when partitions are revoked
    (and again when it resumes), and a batch taken before a clear must not be processed
    after it (the consumer seeks back and delivers those messages again).
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.generation = 0
        self._items: list[Message] = []
        self._ready = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()

    def __len__(self) -> int:
        return len(self._items)

    # --- the conductor's side (faust.transport.conductor's compiled message handler)
    def full(self) -> bool:
        return len(self._items) >= self.maxsize

    def put_nowait_enhanced(self, value: Message, **_pressure_callbacks: Any) -> None:
        """Accept one message (the conductor checked :meth:`full` first).

        Called as ``put_nowait_enhanced(value=..., on_pressure_high=..., on_pressure_drop=...)``
        by Faust's compiled conductor; the pressure callbacks are not needed, :meth:`put`
        waiting is the back-pressure.
        """
        self._items.append(value)
        self._ready.set()
        if len(self._items) >= self.maxsize:
            self._space.clear()

    async def put(self, message: Message) -> None:
        """Wait for room, then accept: the conductor's path when :meth:`full` said so.

        Waiting here holds up Faust's fetch loop, which is the back-pressure we want.
        """
        while len(self._items) >= self.maxsize:
            self._space.clear()
            await self._space.wait()
        self.put_nowait_enhanced(value=message)

    # --- flow control (app.flow_control.clear() on revocation and on resume)
    def clear(self) -> None:
        self._items.clear()
        self.generation += 1
        self._ready.clear()
        self._space.set()

    # --- the worker's side
    async def take(self, most: int, timeout_s: float) -> tuple[int, list[Message]]:
        """Up to ``most`` messages, waiting at most ``timeout_s`` for the first one.

        Returns the generation the batch belongs to with it (an empty list on timeout).
        """
        if not self._items:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout_s)
            except TimeoutError:
                return self.generation, []
        batch = self._items[:most]
        del self._items[:most]
        if not self._items:
            self._ready.clear()
        if len(self._items) < self.maxsize:
            self._space.set()
        return self.generation, batch


class IntakeTopic(faust.Topic):
    """A Faust topic whose conductor deliveries go, undecoded, into an :class:`Intake`."""

    intake: Intake

    @property
    def queue(self) -> Any:  # the conductor calls full, put and put_nowait_enhanced
        return self.intake

    def _compile_decode(self) -> None:
        """Decoding hands the raw message on: the processor validates values itself (and
        dead-letters the bad ones). Faust sets ``decode`` per instance here."""
        self.decode = _raw  # type: ignore[method-assign,assignment]


async def _raw(message: Message, *, propagate: bool = False) -> Message:
    return message


def intake_topic(app: faust.App, topics: list[str], maxsize: int) -> IntakeTopic:
    """Subscribe ``topics`` through Faust, delivering into a new :class:`Intake`."""
    topic = IntakeTopic(app, topics=topics, key_serializer="raw", value_serializer="raw")
    topic.intake = Intake(maxsize)
    app.flow_control.manage_queue(topic.intake)  # type: ignore[arg-type]
    app.topics.add(topic)
    return topic
