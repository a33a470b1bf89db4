"""Faust's fetch loop without two new tasks per message.

Faust's ``Consumer._drain_messages`` hands every fetched message to the conductor with
``await self.wait_first(callback(message), self.suspend_flow.wait())``: two tasks and an
``asyncio.wait`` per message, so that a delivery blocked by a rebalance can be abandoned.
On a busy worker that was the largest single cost left after batching (docs/performance.md).

A delivery can only block when flow control is suspended (a rebalance), when Faust's
producer buffer is over its limit, or when the receiving queue is full; otherwise the
conductor's handler runs to the end without yielding to the event loop, so nothing can
happen in between and waiting on it directly is the same as racing it against
``suspend_flow``. :class:`DrainConsumer` does exactly that: it awaits the callback directly
when none of those can block it, and falls back to Faust's ``wait_first`` otherwise.

The loop below is faust-streaming 0.15.3's ``Consumer._drain_messages`` with only that
call changed; the rest (read offsets, gap tracking, commit-every, sleep every 100) is kept
as it is, because Faust's commit logic depends on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode import Service


class DrainConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with a cheaper hand-over to the conductor."""

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - Faust's loop
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        suspended = self.suspend_flow.is_set
        may_block: Callable[[], bool] = getattr(self.app, "may_block", None) or _always
        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                ait = cast(AsyncIterator[Any], getmany(timeout=1.0))
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            if suspended() or may_block():
                                await self.wait_first(callback(message), self.suspend_flow.wait())
                            else:
                                await callback(message)  # runs to the end without yielding
                            set_read_offset(tp, offset)
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


def _always() -> bool:
    return True


class WorkerApp(faust.App):
    """The worker's Faust app: its consumer is a :class:`DrainConsumer`."""

    may_block: Callable[[], bool] | None = None
    """Whether a delivery might wait now (:meth:`watch_deliveries`); unset: always assumed."""

    def _new_transport(self) -> Any:
        transport = super()._new_transport()
        if isinstance(transport, faust_aiokafka.Transport):
            transport.Consumer = DrainConsumer  # type: ignore[misc]
        return transport

    def watch_deliveries(self, *queues: Any) -> None:
        """Let :class:`DrainConsumer` skip ``wait_first`` while nothing can block a delivery
        into ``queues`` (the worker's intake; other topics' agents keep Faust's way only
        when flow control or the producer buffer say so, and a full agent queue then
        holds the fetch loop until it has room, which is Faust's back-pressure anyway)."""
        flow = self.flow_control
        buffers: list[Any] = []  # Faust's producer buffer, once the producer exists

        def may_block() -> bool:
            if not buffers:
                buffers.append(self.producer.buffer)
            buffer = buffers[0]
            return (
                not flow.is_active()
                or buffer.pending.qsize() > buffer.max_messages  # its size (not threaded)
                or any(queue.full() for queue in queues)
            )

        self.may_block = may_block
