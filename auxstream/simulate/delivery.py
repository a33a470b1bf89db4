"""Delivery faults: what a real ACD feed does to an otherwise clean, time-ordered stream.

Two stages. ``agent_deliveries`` works on one agent's events (so it stays lazy and small):
it swaps some 1-second pairs (within the engine's 2 s grace) and holds some contact_start
events back 10-20 minutes so they arrive late. ``deliver`` works on the merged stream: it
repeats some lines (at once or a few hundred lines later) and inserts malformed lines. Every
fault is recorded in the manifest with its 1-based line numbers.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator

from auxstream.simulate.config import FaultRates
from auxstream.simulate.manifest import Manifest
from auxstream.simulate.shift import CONTACT_END, CONTACT_START, READY, AgentPlan
from auxstream.simulate.wire import Delivery, LineFormat, Message, SimEvent, dumps, wire_ts

LATE_DELAY_S = (600, 1200)
"""A late event is delivered this long after its event time (and after 2 later events)."""
MALFORMED_KINDS = ("not_json", "missing_agent_id", "ts_without_offset", "not_ready_without_reason")


def _ordered(
    events: Iterator[SimEvent], rng: random.Random, faults: FaultRates | None, force: bool
) -> Iterator[tuple[int, SimEvent, str | None]]:
    """(delivery key, event, fault) in the agent's delivery order.

    ``force`` makes the first opportunity of each fault happen, so a run has at least one.
    """
    pushed: list[SimEvent] = []
    held: tuple[int, SimEvent] | None = None  # (release key, late event)
    after_held = 0
    last_key = 0
    swap_due = late_due = force

    while (event := pushed.pop() if pushed else next(events, None)) is not None:
        out: list[tuple[int, SimEvent, str | None]] = [(event.ts, event, None)]
        if faults is not None and event.type in (READY, CONTACT_END):
            nxt = next(events, None)  # nothing is pushed back here: a push is always pulled next
            if nxt is not None:
                pair = nxt.type == CONTACT_START and nxt.ts - event.ts == 1
                if pair and (swap_due or rng.random() < faults.swap):
                    out = [(event.ts, nxt, "swap"), (event.ts, event, "swap")]
                    swap_due = False
                else:
                    pushed.append(nxt)
        elif (
            faults is not None
            and event.type == CONTACT_START
            and held is None
            and (late_due or rng.random() < faults.late)
        ):
            held, after_held, late_due = (event.ts + rng.randint(*LATE_DELAY_S), event), 0, False
            continue
        if held is not None and out[0][0] >= held[0] and after_held >= 2:
            last_key = max(held[0], last_key)
            yield last_key, held[1], "late"
            held = None
        for key, ev, fault in out:
            yield key, ev, fault
            last_key = key
            after_held += 1
    if held is not None:
        # A held contact_start is always followed by its contact_end and one more event
        # (ready, logout or the next contact), so ``after_held`` is 2 by now: it is late.
        yield max(held[0], last_key), held[1], "late"


def agent_deliveries(
    plan: AgentPlan,
    events: Iterator[SimEvent],
    rng: random.Random,
    faults: FaultRates | None,
    force: bool,
    source: str,
) -> Iterator[Delivery]:
    """One agent's lines with sortable keys; faults only for agents without a profile."""
    agent_faults = faults if plan.profile is None else None
    index, agent_id, fmt = plan.index, plan.agent_id, LineFormat(plan.agent_id, plan.team, source)
    for sub, (key, event, fault) in enumerate(_ordered(events, rng, agent_faults, force)):
        line = fmt.line(event)
        yield Delivery(key, index, sub, line, event.event_id, agent_id, event.ts, fault)


def _malformed(kind: str, n: int, seed: int, near: Delivery) -> tuple[str, bytes]:
    event_id = f"sim-{seed}-bad-{n}"
    obj: dict[str, object] = {"event_id": event_id, "agent_id": near.agent_id}
    if kind == "missing_agent_id":
        del obj["agent_id"]
    obj["ts"] = wire_ts(near.ts, offset=kind != "ts_without_offset")
    obj["type"] = "not_ready" if kind == "not_ready_without_reason" else "ready"
    obj["source"] = "simulator"
    line = dumps(obj)
    return event_id, line[:-12] if kind == "not_json" else line


def deliver(
    merged: Iterator[Delivery],
    faults: FaultRates | None,
    rng: random.Random,
    seed: int,
    manifest: Manifest,
) -> Iterator[Message]:
    """Number the lines, add duplicates and malformed lines, and record every fault."""
    line = 0
    later: list[tuple[int, int, Delivery]] = []  # (due line, original line, delivery)
    kinds = list(MALFORMED_KINDS)
    rng.shuffle(kinds)
    next_dup = rng.randint(1, 300) if faults and faults.duplicate else -1
    next_bad = rng.randint(20, 400) if faults and faults.malformed else -1
    bad_count = 0

    def gap(rate: float) -> int:
        return 1 + int(rng.expovariate(rate))

    def repeat(original: int, item: Delivery) -> Message:
        manifest.duplicates.append(
            {
                "event_id": item.event_id,
                "agent_id": item.agent_id,
                "line": original,
                "duplicate_line": line,
            }
        )
        return Message(item.agent_id.encode(), item.line, item.ts)

    def bad(near: Delivery) -> Message:
        nonlocal bad_count
        kind = kinds[bad_count] if bad_count < len(kinds) else rng.choice(MALFORMED_KINDS)
        bad_count += 1
        event_id, value = _malformed(kind, bad_count, seed, near)
        key = None if kind == "missing_agent_id" else near.agent_id.encode()
        manifest.malformed.append(
            {"kind": kind, "line": line, "event_id": event_id, "agent_id": key and near.agent_id}
        )
        return Message(key, value, near.ts)

    item: Delivery | None = None
    for item in merged:
        while later and later[0][0] <= line + 1:
            _, original, old = heapq.heappop(later)
            line += 1
            yield repeat(original, old)
        line += 1
        yield Message(item.agent_id.encode(), item.line, item.ts)
        if item.fault == "late":
            manifest.late.append(
                {
                    "event_id": item.event_id,
                    "agent_id": item.agent_id,
                    "ts": item.ts,
                    "line": line,
                    "delay_s": item.key - item.ts,
                }
            )
        elif item.fault == "swap":
            pair = f"{item.agent_id}@{item.key}"
            manifest.add_swap_line(pair, item.agent_id, item.event_id, item.ts, line)
        elif faults is not None and line >= next_dup > 0:
            next_dup = line + gap(faults.duplicate)
            if rng.random() < 0.5:
                line += 1
                yield repeat(line - 1, item)
            else:
                heapq.heappush(later, (line + rng.randint(100, 500), line, item))
        if faults is not None and line >= next_bad > 0:
            next_bad = line + (rng.randint(50, 500) if bad_count < 3 else gap(faults.malformed))
            line += 1
            yield bad(item)
    while later:
        _, original, old = heapq.heappop(later)
        line += 1
        yield repeat(original, old)
    while item is not None and faults is not None and faults.malformed and bad_count < len(kinds):
        line += 1
        yield bad(item)
    manifest.lines = line
