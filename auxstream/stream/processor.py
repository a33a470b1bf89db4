"""One worker's agents: Kafka messages in, core transitions, records out. No Faust here.

The Faust shell (:mod:`auxstream.stream.app`) hands every message to :meth:`Processor.receive`
and calls :meth:`Processor.tick` on a timer; both return the :class:`Outbound` messages to
produce, and leave the agents they changed in :attr:`Processor.dirty` for the shell to
write to the table once those messages are delivered. Everything here is synchronous and
takes the time as arguments, so it is tested without a broker or a clock.

Mirrors :class:`auxstream.replay.runner.Replayer` step for step (same validation, same
core calls, same wire records); only where time comes from differs.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson
from aiokafka.partitioner import murmur2

from auxstream import records
from auxstream.domain import engine
from auxstream.domain.events import EVENT_TYPES, InvalidEvent, event_from_dict
from auxstream.domain.outputs import INVALID, LATE, CheckIn, DeadLetter, Detection, Outcome, Output
from auxstream.domain.policy import Policy
from auxstream.domain.state import AgentState
from auxstream.stream.counts import Counts
from auxstream.stream.snapshot import Snapshot, save_before_change
from auxstream.stream.watermark import HeldAgents, Source, Watermark

REPARTITION = "repartition"
"""Outbound.record of an event sent on to the repartition topic."""
ORIGIN_HEADER = "auxstream-origin"
"""Header of a re-keyed event: where it was first read (for its dead letter, if any)."""
IN_FLIGHT_SLACK = 50
"""Unread messages per partition that still count as caught up for releasing held events
(a lag read at the last tick; at 2,000 events/s a few are always on their way)."""
FLOWING_S = 1.0
"""... provided one of its messages was processed this recently (else it is stuck or lagging)."""
MAX_EVENT_BYTES = 64 * 1024
"""An agent event is a few hundred bytes: a larger value is refused unparsed."""


def origin_of(headers: object) -> tuple[str, int, int] | None:
    """The (topic, partition, offset) a re-keyed event carries in its ORIGIN_HEADER, if any."""
    if not headers:
        return None
    items = headers.items() if isinstance(headers, dict) else headers
    for name, value in items:  # type: ignore[attr-defined]
        if name == ORIGIN_HEADER and value:
            try:
                topic, partition, offset = orjson.loads(value)
                return str(topic), int(partition), int(offset)
            except (orjson.JSONDecodeError, ValueError, TypeError):
                return None
    return None


def home_partition(agent_id: str, partitions: int) -> int:
    """The partition an agent's state lives on: Kafka's default partitioner on the agent_id key."""
    return (int(murmur2(agent_id.encode())) & 0x7FFFFFFF) % partitions


@dataclass(slots=True)
class Inbound:
    """One Kafka message as the shell read it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    origin: tuple[str, int, int] | None = None
    """(topic, partition, offset) the message was first read from, for a re-keyed event."""


@dataclass(slots=True)
class Outbound:
    """One message to produce."""

    record: str
    """Record name of ``records.KINDS`` (the output topic), or REPARTITION."""
    key: bytes | None
    value: bytes
    partition: int | None = None
    """Explicit partition (re-keyed events go to their agent's home partition)."""
    headers: list[tuple[str, bytes]] | None = None


@dataclass
class Processor:
    """The agents of the partitions this worker owns, and the time that moves them."""

    policy: Policy
    partitions: int
    input_topic: str
    repartition_topic: str
    watermark: Watermark
    load: Callable[[str], AgentState | None] = lambda agent_id: None
    """Reads an agent's stored state on a cache miss (the table)."""
    states: dict[str, AgentState] = field(default_factory=dict)
    dirty: dict[str, int] = field(default_factory=dict)
    """agent_id -> home partition of agents changed since the shell last stored them."""
    unsaved: dict[str, Snapshot] = field(default_factory=dict)
    """Agents a flush's snapshot has not encoded yet (:mod:`auxstream.stream.snapshot`):
    each is encoded before it changes again."""
    counts: Counts = field(default_factory=Counts)
    on_outputs: Callable[[list[Output]], None] | None = None
    """Sees the core's outputs of every step before they are routed (the worker's metrics)."""
    owned: set[int] = field(default_factory=set)
    newest_ts: int | None = None
    held: HeldAgents = field(default_factory=HeldAgents)
    _home: dict[str, int] = field(default_factory=dict)
    _due: list[tuple[int, str]] = field(default_factory=list)
    _due_at: dict[str, int] = field(default_factory=dict)

    # ------------------------------------------------------------------ messages
    def receive(self, msg: Inbound, now: float) -> list[Outbound]:
        """Handle one input message: dead letter, re-key, or apply to its agent."""
        source: Source = (msg.topic, msg.partition)
        value = msg.value
        if value is None:
            return self._invalid(msg, source, now, "tombstone: the message has no value")
        if len(value) > MAX_EVENT_BYTES:
            return self._invalid(
                msg,
                source,
                now,
                f"message of {len(value):,} bytes is over the {MAX_EVENT_BYTES:,}-byte limit",
            )
        try:
            obj = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            return self._invalid(msg, source, now, f"not JSON: {exc}")
        try:
            event = event_from_dict(obj, self.newest_ts)
        except InvalidEvent as exc:
            kind = obj.get("type") if isinstance(obj, dict) else None
            return self._invalid(
                msg,
                source,
                now,
                str(exc),
                kind if type(kind) is str and kind in EVENT_TYPES else "unknown",
            )
        if self.newest_ts is None or event.ts > self.newest_ts:
            self.newest_ts = event.ts
        self.watermark.observe(source, msg.offset, event.ts, now)
        agent_key = event.agent_id.encode()
        home = self.home(event.agent_id)
        if msg.topic == self.repartition_topic:
            self.watermark.arrived(event.event_id)
        elif msg.key != agent_key or msg.partition != home:
            self.watermark.forwarded(event.event_id, event.ts, now)
            self.counts.rekeyed += 1
            origin = orjson.dumps([msg.topic, msg.partition, msg.offset])
            return [Outbound(REPARTITION, agent_key, value, home, [(ORIGIN_HEADER, origin)])]
        state = self._state(event.agent_id)
        _, outputs = engine.apply(state, event, self.policy)
        out: list[Outbound] = []
        late = self._route(outputs, out)
        if late is not None:
            out.append(self._dead_letter(LATE, late, msg, agent_key))
        self._changed(state, home, now)
        return out

    def _invalid(
        self, msg: Inbound, source: Source, now: float, error: str, kind: str = "unknown"
    ) -> list[Outbound]:
        self.watermark.observe(source, msg.offset, None, now)
        self.counts.event(kind, INVALID)
        return [self._dead_letter(INVALID, error, msg, msg.key)]

    def _dead_letter(self, reason: str, error: str, msg: Inbound, key: bytes | None) -> Outbound:
        topic, partition, offset = msg.origin or (msg.topic, msg.partition, msg.offset)
        record = DeadLetter(reason, error, records.raw_text(msg.value), topic, partition, offset)
        self.counts.dead_letter(reason)
        return Outbound("deadletters", key, records.dumps(records.dead_letter(record)))

    # ------------------------------------------------------------------ time
    def release_is_due(self, now: float) -> bool:
        """Some agent's held events may have waited out their grace (a cheap check)."""
        due_at = self.next_release()
        return due_at is not None and due_at <= now

    def next_release(self) -> float | None:
        """When the earliest held events wait out their grace (the clock of ``receive``)."""
        return self.held.next_due(self.policy.grace_s)

    def release_due(self, now: float, out: list[Outbound] | None = None) -> list[Outbound]:
        """Release the agents whose held events waited out their grace on the wall clock."""
        out = [] if out is None else out
        if not self.release_is_due(now):
            return out
        # Not during a backlog (the agent's newer events may be unread), but a few messages
        # in flight from the producer, always there on a busy floor, are no backlog.
        caught_up = {
            p: self.watermark.nearly_caught_up(p, IN_FLIGHT_SLACK, now, FLOWING_S)
            for p in self.owned
        }
        for agent_id in self.held.due(now, self.policy.grace_s, caught_up):
            state = self.states.get(agent_id)
            if state is None or not state.held:
                continue
            if self.unsaved:
                save_before_change(self.unsaved, agent_id)
            _, outputs = engine.release(state, self.policy)
            self._route(outputs, out)
            self._changed(state, self.home(agent_id), now)
        return out

    def tick(self, now: float, now_ms: int) -> list[Outbound]:
        """Release what waited out its grace on the wall clock, then advance due agents."""
        out = self.release_due(now)
        mark = self.watermark.value(now, now_ms)
        if mark is not None:
            self.advance_due(mark, out)
        return out

    def advance_is_due(self, mark: int) -> bool:
        """Some agent is due at or before ``mark`` (possibly a stale entry: a cheap check)."""
        return bool(self._due) and self._due[0][0] <= mark

    def advance_due(self, mark: int, out: list[Outbound], most: int | None = None) -> bool:
        """Advance the agents due at or before ``mark`` (at most ``most`` of them); True when
        none is left. The worker advances a few hundred at a time, handling messages in
        between: at an interval boundary every logged-in agent is due at once."""
        due = self._due
        left = -1 if most is None else most
        while due and due[0][0] <= mark:
            if left == 0:
                return False
            left -= 1
            at, agent_id = heapq.heappop(due)
            if self._due_at.get(agent_id) != at:
                continue
            del self._due_at[agent_id]
            state = self.states.get(agent_id)
            if state is None:
                continue
            if self.unsaved:
                save_before_change(self.unsaved, agent_id)
            _, outputs = engine.advance(state, mark, self.policy)
            self._route(outputs, out)
            self.dirty[agent_id] = self.home(agent_id)
            self._reschedule(state)
        return True

    # ------------------------------------------------------------------ ownership
    def assign(self, partitions: Iterable[int], stored: Iterable[AgentState], now: float) -> None:
        """Take over ``partitions`` with their stored agents (after the table recovered)."""
        self.owned = set(partitions)
        self.watermark.assign(
            [
                (topic, p)
                for p in sorted(self.owned)
                for topic in (self.input_topic, self.repartition_topic)
            ],
            now,
        )
        for state in stored:
            home = self.home(state.agent_id)
            if home not in self.owned:
                continue
            self.states[state.agent_id] = state
            self.held.update(state.agent_id, home, bool(state.held), now)
            self._reschedule(state)

    def revoke(self, partitions: Iterable[int]) -> None:
        """Forget the agents of ``partitions``: another worker owns them now."""
        gone = set(partitions)
        self.owned -= gone
        self.held.drop_partitions(gone)
        for agent_id in [a for a in self.states if self.home(a) in gone]:
            del self.states[agent_id]
            self.dirty.pop(agent_id, None)
            self._due_at.pop(agent_id, None)

    def set_policy(self, policy: Policy) -> None:
        """Switch to a new policy: thresholds, grace and what is due may all change."""
        self.policy = policy
        self.watermark.grace_s = policy.grace_s
        self._due.clear()
        self._due_at.clear()
        for state in self.states.values():
            self._reschedule(state)

    def take_dirty(self) -> list[tuple[int, AgentState]]:
        """The changed agents with their home partition; the shell stores them."""
        changed = [
            (partition, self.states[agent_id])
            for agent_id, partition in self.dirty.items()
            if agent_id in self.states
        ]
        self.dirty.clear()
        return changed

    def home(self, agent_id: str) -> int:
        home = self._home.get(agent_id)
        if home is None:
            home = self._home[agent_id] = home_partition(agent_id, self.partitions)
        return home

    # ------------------------------------------------------------------ helpers
    def _state(self, agent_id: str) -> AgentState:
        state = self.states.get(agent_id)
        if state is None:
            state = self.load(agent_id) or engine.new_agent(agent_id)
            self.states[agent_id] = state
        elif self.unsaved:
            save_before_change(self.unsaved, agent_id)
        return state

    def _changed(self, state: AgentState, home: int, now: float) -> None:
        self.dirty[state.agent_id] = home
        self.held.update(state.agent_id, home, bool(state.held), now)
        self._reschedule(state)

    def _reschedule(self, state: AgentState) -> None:
        at = engine.next_due(state, self.policy)
        if at is None:
            self._due_at.pop(state.agent_id, None)
        elif self._due_at.get(state.agent_id) != at:
            self._due_at[state.agent_id] = at
            heapq.heappush(self._due, (at, state.agent_id))

    def _route(self, outputs: list[Output], out: list[Outbound]) -> str | None:
        """Append each output as a wire record; return the error if the event itself was late."""
        late: str | None = None
        counts = self.counts
        if self.on_outputs is not None:
            self.on_outputs(outputs)
        for item in outputs:
            if isinstance(item, Outcome):
                counts.event(item.event.type, item.outcome)
                if item.outcome == LATE:
                    late = item.error
                continue
            name, convert = records.KINDS[type(item)]
            counts.records[name] += 1
            if isinstance(item, Detection):
                counts.detections[(item.rule, item.team or "")] += 1
            elif isinstance(item, CheckIn):
                counts.checkins[item.team or ""] += 1
            out.append(Outbound(name, item.agent_id.encode(), records.dumps(convert(item))))
        return late
