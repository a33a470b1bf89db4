"""The worker's intake: what Faust's conductor delivers, taken in batches, cleared on rebalance."""

from __future__ import annotations

import asyncio

from faust.types.tuples import Message

from auxstream.stream.intake import Intake


def message(offset: int, partition: int = 0) -> Message:
    return Message("acd.agent-events", partition, offset, 0.0, 0, None, b"A1", b"{}", None)


def test_batches_come_in_arrival_order_and_at_most_the_asked_size() -> None:
    async def run() -> list[list[int]]:
        intake = Intake(maxsize=100)
        for offset in range(7):
            intake.put_nowait_enhanced(value=message(offset))
        batches = []
        for _ in range(3):
            _, batch = await intake.take(3, timeout_s=0.01)
            batches.append([m.offset for m in batch])
        return batches

    assert asyncio.run(run()) == [[0, 1, 2], [3, 4, 5], [6]]


def test_take_waits_for_the_first_message_and_times_out_empty() -> None:
    async def run() -> tuple[list[int], list[int]]:
        intake = Intake(maxsize=10)
        _, empty = await intake.take(5, timeout_s=0.01)
        asyncio.get_running_loop().call_soon(lambda: intake.put_nowait_enhanced(value=message(42)))
        _, got = await intake.take(5, timeout_s=5.0)
        return [m.offset for m in empty], [m.offset for m in got]

    assert asyncio.run(run()) == ([], [42])


def test_a_full_intake_holds_the_conductor_until_the_worker_takes() -> None:
    async def run() -> tuple[bool, bool, list[int]]:
        intake = Intake(maxsize=2)
        intake.put_nowait_enhanced(value=message(0))
        intake.put_nowait_enhanced(value=message(1))
        full = intake.full()
        waiting = asyncio.ensure_future(intake.put(message(2)))
        await asyncio.sleep(0)
        held = not waiting.done()
        _, first = await intake.take(2, timeout_s=0.01)
        await asyncio.wait_for(waiting, timeout=5.0)
        _, second = await intake.take(2, timeout_s=0.01)
        return full, held, [m.offset for m in first + second]

    assert asyncio.run(run()) == (True, True, [0, 1, 2])


def test_clearing_drops_waiting_messages_and_marks_batches_taken_before_it() -> None:
    async def run() -> tuple[bool, int, list[int]]:
        intake = Intake(maxsize=10)
        intake.put_nowait_enhanced(value=message(0))
        generation, batch = await intake.take(10, timeout_s=0.01)
        intake.put_nowait_enhanced(value=message(1))
        intake.clear()  # Faust's flow control, on a rebalance
        stale = generation != intake.generation
        left = len(intake)
        intake.put_nowait_enhanced(value=message(5))
        _, after = await intake.take(10, timeout_s=0.01)
        return stale, left, [m.offset for m in batch + after]

    assert asyncio.run(run()) == (True, 0, [0, 5])
