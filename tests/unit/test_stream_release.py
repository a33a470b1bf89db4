"""The worker wakes its release task when held events wait out their grace, not before
(Shell.arm_release), without a Faust app: the method only needs the processor's clock."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

from auxstream.stream.shell import RELEASE_RETRY_S, Shell


def shell_due_at(due: float | None) -> Any:
    fake = SimpleNamespace(
        processor=SimpleNamespace(next_release=lambda: due),
        release_wake=asyncio.Event(),
        _release_at=None,
        _release_timer=None,
    )
    fake._wake_release = Shell._wake_release.__get__(fake)
    fake.arm_release = Shell.arm_release.__get__(fake)
    return fake


async def woken_after(fake: Any, **kwargs: bool) -> float:
    began = time.monotonic()
    fake.arm_release(**kwargs)
    await asyncio.wait_for(fake.release_wake.wait(), timeout=5.0)
    return time.monotonic() - began


def test_the_release_task_wakes_when_the_grace_runs_out_not_before() -> None:
    async def run() -> float:
        return await woken_after(shell_due_at(time.monotonic() + 0.05))

    assert asyncio.run(run()) >= 0.049


def test_an_earlier_due_time_replaces_a_later_wake_up() -> None:
    async def run() -> tuple[float, Any]:
        fake = shell_due_at(time.monotonic() + 30.0)
        fake.arm_release()
        later = fake._release_timer
        fake.processor.next_release = lambda: time.monotonic()
        return await woken_after(fake), later

    _, later = asyncio.run(run())
    assert later.cancelled()


def test_what_could_not_be_released_is_tried_again_later_not_at_once() -> None:
    async def run() -> float:
        return await woken_after(shell_due_at(time.monotonic() - 1.0), retry=True)

    assert asyncio.run(run()) >= RELEASE_RETRY_S * 0.9


def test_nothing_held_arms_nothing() -> None:
    fake = shell_due_at(None)
    fake.arm_release()
    assert fake._release_timer is None and not fake.release_wake.is_set()


def test_after_a_release_the_next_agent_is_woken_for_at_its_own_moment() -> None:
    """The retry delay is for what is due already and could not be released; an agent due a
    moment later (a busy floor: every millisecond or two) is woken for at its own moment."""

    async def run() -> tuple[float, float | None]:
        due = time.monotonic() + RELEASE_RETRY_S / 5
        fake = shell_due_at(due)
        fake.arm_release(retry=True)
        armed = fake._release_at
        fake._release_timer.cancel()
        return due, armed

    due, armed = asyncio.run(run())
    assert armed == due


def test_quiet_collector_leaves_the_oldest_generation_to_the_worker() -> None:
    import gc

    from auxstream.stream.shell import FULL_PASSES_NEVER, quiet_collector

    before = gc.get_threshold()
    try:
        quiet_collector()
        assert gc.get_threshold() == (before[0], before[1], FULL_PASSES_NEVER)
    finally:
        gc.set_threshold(*before)
