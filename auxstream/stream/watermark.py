"""Stream time (contract §2) as plain objects: no Kafka, no clock of their own.

The shell feeds them what it sees (an event time read from a partition, a consumer lag,
the time now) and asks two questions each tick: *how far may silent agents be carried?*
(:class:`Watermark`) and *whose held events may be applied now?* (:class:`HeldAgents`).

Two clocks are passed in, never read here: ``now`` is a monotonic wall clock in seconds,
for "nothing new for grace_s"; ``now_ms`` is the epoch wall clock in milliseconds, only
used by the ``wall-clock`` mode to move the watermark while the floor is quiet.

**The watermark is the minimum over partitions that are not idle.** The contract's
stream watermark is "the newest event time seen minus grace". A worker reads its
partitions at different speeds while it catches up a backlog: taking the newest time of
*any* partition would let one that races ahead carry the agents of a lagging partition
past events that are still unread (raising limits that never happened, closing intervals
that will have to be revised). So each assigned topic partition keeps its own newest
event time, and the worker watermark is the smallest of them, minus grace. A partition
that is caught up (no consumer lag) and has had nothing new for ``grace_s`` is *idle*:
it holds nothing back and is left out. When every partition is idle the worker is
caught up and quiet: the watermark is the newest event time seen minus grace, and in
``wall-clock`` mode at least the wall clock minus grace.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

WALL_CLOCK = "wall-clock"
EVENT_TIME = "event-time"

Source = tuple[str, int]
"""A topic partition the worker reads events from: (topic, partition)."""


@dataclass(slots=True)
class SourceClock:
    """What the worker knows about one assigned topic partition."""

    assigned_at: float
    """Monotonic time of the assignment: a partition that never delivers is quiet since then."""
    newest_ts: int | None = None
    """Newest event time (epoch ms) of a valid event read from it since the assignment."""
    last_arrival: float | None = None
    """Monotonic time the last message was read from it."""
    next_offset: int | None = None
    """Offset after the last message processed since the assignment."""
    lag: int | None = None
    """Messages in the partition not yet processed (None until the consumer knows)."""

    def caught_up(self) -> bool:
        return self.lag is not None and self.lag <= 0

    def idle(self, now: float, grace_s: float) -> bool:
        """Caught up, and nothing new for ``grace_s``."""
        quiet_since = self.assigned_at if self.last_arrival is None else self.last_arrival
        return self.caught_up() and now - quiet_since >= grace_s


class Watermark:
    """The worker's watermark over the partitions it is assigned."""

    def __init__(self, grace_s: float, mode: str = WALL_CLOCK) -> None:
        if mode not in (WALL_CLOCK, EVENT_TIME):
            raise ValueError(f"watermark mode must be {WALL_CLOCK} or {EVENT_TIME}, not {mode!r}")
        self.grace_s = grace_s
        self.mode = mode
        self.sources: dict[Source, SourceClock] = {}
        self._floor: int | None = None
        self._in_flight: dict[str, tuple[int, float]] = {}

    # -------------------------------------------------------------- what the shell saw
    def assign(self, sources: Iterable[Source], now: float) -> None:
        """A new assignment: start every partition afresh (their backlog is unknown)."""
        self.sources = {source: SourceClock(now) for source in sources}
        self._floor = None

    def observe(self, source: Source, offset: int, event_ts: int | None, now: float) -> None:
        """The message at ``offset`` was processed; ``event_ts`` when it was a valid event."""
        clock = self.sources.get(source)
        if clock is None:
            clock = self.sources[source] = SourceClock(now)
        clock.last_arrival = now
        clock.next_offset = offset + 1
        if event_ts is not None and (clock.newest_ts is None or event_ts > clock.newest_ts):
            clock.newest_ts = event_ts

    def needs_position(self, source: Source) -> bool:
        """Nothing processed yet: the lag needs the consumer's position instead."""
        clock = self.sources.get(source)
        return clock is not None and clock.next_offset is None

    def set_highwater(
        self, source: Source, highwater: int | None, position: int | None = None
    ) -> None:
        """The partition's end offset; ``position`` stands in until a message was processed."""
        clock = self.sources.get(source)
        if clock is None:
            return
        done = clock.next_offset if clock.next_offset is not None else position
        clock.lag = None if highwater is None or done is None else highwater - done

    def forwarded(self, event_id: str, event_ts: int, now: float) -> None:
        """An event was re-keyed to the repartition topic: hold time back until it is read."""
        self._in_flight[event_id] = (event_ts, now)

    def arrived(self, event_id: str) -> None:
        """A re-keyed event was read back."""
        self._in_flight.pop(event_id, None)

    # -------------------------------------------------------------- what the tick asks
    def caught_up(self, partition: int) -> bool:
        """No lag on any assigned topic of ``partition`` (input and repartition alike)."""
        clocks = [c for (_, p), c in self.sources.items() if p == partition]
        return bool(clocks) and all(c.caught_up() for c in clocks)

    def nearly_caught_up(self, partition: int, slack: int, now: float, flowing_s: float) -> bool:
        """Each assigned topic of ``partition`` caught up, or at most ``slack`` messages behind
        while messages keep being processed (one within ``flowing_s``): what is in flight
        from the producer on a busy floor, not a backlog nor a stuck consumer."""
        clocks = [c for (_, p), c in self.sources.items() if p == partition]
        return bool(clocks) and all(
            c.lag is not None
            and (
                c.lag <= 0
                or (
                    c.lag <= slack
                    and c.last_arrival is not None
                    and now - c.last_arrival <= flowing_s
                )
            )
            for c in clocks
        )

    def stalled(self, now: float, after_s: float) -> list[Source]:
        """Partitions with messages waiting but nothing processed for ``after_s``."""
        out = []
        for source, clock in self.sources.items():
            quiet_since = clock.assigned_at if clock.last_arrival is None else clock.last_arrival
            if clock.lag is not None and clock.lag > 0 and now - quiet_since >= after_s:
                out.append(source)
        return out

    def all_idle(self, now: float) -> bool:
        return all(c.idle(now, self.grace_s) for c in self.sources.values())

    def newest(self) -> int | None:
        """Newest event time seen on any partition (the 24 h future rule's reference)."""
        seen = [c.newest_ts for c in self.sources.values() if c.newest_ts is not None]
        return max(seen) if seen else None

    def value(self, now: float, now_ms: int) -> int | None:
        """The watermark now (epoch ms), or None while some busy partition is still unread."""
        grace_ms = int(self.grace_s * 1000)
        busy = [c for c in self.sources.values() if not c.idle(now, self.grace_s)]
        candidate: int | None
        if busy:
            times = [c.newest_ts for c in busy]
            candidate = (
                None
                if any(t is None for t in times)
                else min(t for t in times if t is not None) - grace_ms
            )
        else:
            newest = self.newest()
            candidate = None if newest is None else newest - grace_ms
            if self.mode == WALL_CLOCK and self.sources:
                wall = now_ms - grace_ms
                candidate = wall if candidate is None else max(candidate, wall)
        candidate = self._cap_in_flight(candidate, now, grace_ms)
        if candidate is not None and (self._floor is None or candidate > self._floor):
            self._floor = candidate
        return self._floor

    def _cap_in_flight(self, candidate: int | None, now: float, grace_ms: int) -> int | None:
        """Never pass a re-keyed event on its way (forgotten after a minute: read elsewhere)."""
        if not self._in_flight or candidate is None:
            return candidate
        stale = [eid for eid, (_, sent) in self._in_flight.items() if now - sent > 60.0]
        for eid in stale:
            del self._in_flight[eid]
        if not self._in_flight:
            return candidate
        return min(candidate, min(ts for ts, _ in self._in_flight.values()) - grace_ms)


class HeldAgents:
    """Agents holding events in their grace window, by home partition, oldest arrival first.

    An agent's held events are released (applied without waiting for a newer event of its
    own) once ``grace_s`` of wall time has passed since its newest event arrived, but only
    while its partition is caught up: during a backlog the newer event is probably already
    in the partition, just not read yet, and releasing early would make it late.
    """

    def __init__(self) -> None:
        self._by_partition: dict[int, OrderedDict[str, float]] = {}

    def __len__(self) -> int:
        return sum(len(agents) for agents in self._by_partition.values())

    def update(self, agent_id: str, partition: int, holding: bool, now: float) -> None:
        """After an event of the agent was applied: ``holding`` if it still holds some."""
        agents = self._by_partition.setdefault(partition, OrderedDict())
        agents.pop(agent_id, None)
        if holding:
            agents[agent_id] = now

    def next_due(self, grace_s: float) -> float | None:
        """The earliest moment an agent may be due (its partition caught up), if any holds."""
        firsts = [next(iter(agents.values())) for agents in self._by_partition.values() if agents]
        return min(firsts) + grace_s if firsts else None

    def due(self, now: float, grace_s: float, caught_up: dict[int, bool]) -> list[str]:
        """Agents to release now (and forget); ``caught_up`` maps partition -> no lag."""
        out: list[str] = []
        for partition, agents in self._by_partition.items():
            if not caught_up.get(partition, False):
                continue
            while agents:
                agent_id, arrived = next(iter(agents.items()))
                if now - arrived < grace_s:
                    break
                del agents[agent_id]
                out.append(agent_id)
        return out

    def drop_partitions(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._by_partition.pop(partition, None)
