"""Prometheus metrics of a worker (contract §6 names), served on ``/metrics``.

Two kinds of source, neither of which slows the hot path much:

* :class:`OutputMetrics` watches the core's outputs as the processor routes them
  (``Processor.on_outputs``): seconds per state and code from each segment as it closes,
  and the event lag of each event that reached an outcome. A plain ``Counter`` and one
  histogram observation per event.
* :class:`WorkerCollector` reads everything else at scrape time: the processor's counts
  (outcomes, dead letters, detections, check-ins), the agents it owns now (the gauge: a
  worker reports only its own partitions' agents, so a sum over workers is the centre, and
  agents leave the gauge with their partition), the policy's codes, consumer lag and
  readiness.

Faust's own sensor (``faust.sensors.prometheus``: messages in and out, commit latency, table
operations, rebalances, send latency) writes to the same registry under ``faust_``.

Labels stay bounded: ``team`` and ``reason_code`` are capped (:class:`LabelCap`); values
past the cap are reported as ``other``. There is no per-agent label.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from auxstream.domain.outputs import INVALID, LATE, Outcome, Output, Segment
from auxstream.domain.policy import Policy
from auxstream.domain.rules import RULES

if TYPE_CHECKING:
    import faust

    from auxstream.stream.shell import Shell

CONTENT_TYPE = "text/plain; version=0.0.4"
MAX_TEAMS = 200
"""Distinct ``team`` label values before the rest are counted as ``other``."""
MAX_UNKNOWN_CODES = 50
"""Distinct reason codes the policy does not know before the rest become ``other``."""
OTHER = "other"
LAG_BUCKETS = (
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
    1800.0, 3600.0, 7200.0, 21600.0, 86400.0,
)  # fmt: skip
"""Seconds: sub-second on a live floor up to a day behind during a backfill."""


class LabelCap:
    """Maps label values to themselves, the first ``limit`` distinct ones; later ones to OTHER.

    Sticky: a value keeps its label for the life of the worker, so counters summed under
    OTHER stay monotonic.
    """

    def __init__(self, limit: int, always: Callable[[str], bool] = lambda value: False) -> None:
        self.limit = limit
        self.always = always
        self._seen: set[str] = set()

    def __call__(self, value: str | None) -> str:
        text = value or ""
        if text in self._seen or self.always(text):
            return text
        if len(self._seen) >= self.limit:
            return OTHER
        self._seen.add(text)
        return text


class OutputMetrics:
    """What the processor's outputs tell: state seconds (closed segments) and event lag."""

    def __init__(self, registry: CollectorRegistry, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.state_ms: Counter[tuple[str, str, str]] = Counter()
        """(state, reason_code or "", team or "") -> milliseconds of closed segments."""
        self.event_lag = Histogram(
            "auxstream_event_lag_seconds",
            "Processing time minus event time of each event that reached an outcome.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )

    def observe(self, outputs: list[Output]) -> None:
        """Called by the processor with the outputs of one event, release or advance."""
        now_ms: float | None = None
        for item in outputs:
            if isinstance(item, Segment):
                key = (item.state, item.reason_code or "", item.team or "")
                self.state_ms[key] += item.end - item.start
            elif isinstance(item, Outcome):
                if now_ms is None:
                    now_ms = self.clock() * 1000
                self.event_lag.observe(max(0.0, (now_ms - item.event.ts) / 1000))


class WorkerCollector(Collector):
    """Contract §6 counters and gauges, and the worker's health, read at scrape time."""

    def __init__(self, shell: Shell, outputs: OutputMetrics, ready: Callable[[], bool]) -> None:
        self.shell = shell
        self.outputs = outputs
        self.ready = ready
        self.teams = LabelCap(MAX_TEAMS)
        self.codes = LabelCap(MAX_UNKNOWN_CODES, lambda code: self._policy().is_known(code))
        self._seen_teams: set[str] = set()

    def _teams_seen(self) -> set[str]:
        """Capped team labels of the agents owned now and of every team seen before."""
        for state in list(self.shell.processor.states.values()):
            if state.team:
                self._seen_teams.add(self.teams(state.team))
        return self._seen_teams

    def _policy(self) -> Policy:
        return self.shell.processor.policy

    def collect(self) -> Iterator[Metric]:
        processor = self.shell.processor
        counts = processor.counts
        team, code = self.teams, self.codes

        events = CounterMetricFamily(
            "auxstream_events",
            "Input messages by event type and outcome (applied, noop, duplicate, late, invalid).",
            labels=["type", "outcome"],
        )
        for (kind, outcome), value in sorted(counts.events.items()):
            events.add_metric([kind, outcome], value)
        yield events

        # Series start at 0 for every team this worker has seen (and both dead-letter
        # reasons), so that increase() counts the first detection or check-in too.
        teams = self._teams_seen()
        yield _counter(
            "auxstream_dead_letters",
            "Dead letters written, by reason (invalid, late).",
            ["reason"],
            [
                *(((reason,), 0) for reason in (INVALID, LATE)),
                *(((reason,), value) for reason, value in counts.dead_letters.items()),
            ],
        )
        yield _counter(
            "auxstream_detections",
            "Detections raised, by rule and team.",
            ["rule", "team"],
            [
                *(((rule, t), 0) for rule in RULES for t in teams),
                *(((rule, team(t)), value) for (rule, t), value in counts.detections.items()),
            ],
        )
        yield _counter(
            "auxstream_checkins",
            "Wellbeing check-ins raised, by team.",
            ["team"],
            [
                *(((t,), 0) for t in teams),
                *(((team(t),), value) for t, value in counts.checkins.items()),
            ],
        )
        yield _counter(
            "auxstream_state_seconds",
            "Seconds agents spent in each state and code, counted as each segment closes.",
            ["state", "reason_code", "team"],
            (
                ((state, code(c) if c else "", team(t)), ms / 1000)
                for (state, c, t), ms in self.outputs.state_ms.items()
            ),
        )

        agents: Counter[tuple[str, str, str]] = Counter()
        for state in list(processor.states.values()):
            c = state.reason_code if state.state == "not_ready" else None
            agents[(state.state, code(c) if c else "", team(state.team))] += 1
        yield _gauge(
            "auxstream_agents",
            "Agents this worker owns, by current state, reason code and team "
            "(sum over workers for the centre).",
            ["state", "reason_code", "team"],
            agents.items(),
        )
        yield from self._policy_metrics()
        yield from self._worker_metrics()

    def _policy_metrics(self) -> Iterator[Metric]:
        policy = self._policy()
        info = GaugeMetricFamily(
            "auxstream_reason_code_info",
            "The policy's reason codes (value 1): category, productive, paid, check_in.",
            labels=["reason_code", "label", "category", "productive", "paid", "check_in"],
        )
        for entry in policy.codes.values():
            info.add_metric(
                [
                    entry.code,
                    entry.label or "",
                    entry.category or "",
                    _flag(entry.productive),
                    "" if entry.paid is None else _flag(entry.paid),
                    _flag(entry.check_in),
                ],
                1,
            )
        yield info
        version = GaugeMetricFamily(
            "auxstream_policy_info", "The policy in force (value 1).", labels=["version"]
        )
        version.add_metric([policy.version], 1)
        yield version

    def _worker_metrics(self) -> Iterator[Metric]:
        processor = self.shell.processor
        yield _gauge(
            "auxstream_worker_ready",
            "1 when the worker serves (tables recovered, not rebalancing), else 0.",
            [],
            [((), 1 if self.ready() else 0)],
        )
        yield _gauge(
            "auxstream_owned_partitions",
            "Partitions of the input this worker owns.",
            [],
            [((), len(processor.owned))],
        )
        yield _gauge(
            "auxstream_table_keys",
            "Entries of each table this worker holds for its partitions.",
            ["table"],
            [(("agents",), len(processor.states))],
        )
        counts = processor.counts
        yield _counter(
            "auxstream_records",
            "Records produced, by record (the six outputs, and 'repartition' for re-keyed events).",
            ["record"],
            [
                *(((name,), value) for name, value in sorted(counts.records.items())),
                (("repartition",), counts.rekeyed),
            ],
        )
        yield _counter(
            "auxstream_agent_writes",
            "Agent states written to the agents table (and its changelog), one per changed "
            "agent per flush.",
            [],
            [((), counts.agent_writes)],
        )
        yield _gauge(
            "auxstream_held_agents",
            "Agents holding events in their grace window.",
            [],
            [((), len(processor.held))],
        )
        lag = GaugeMetricFamily(
            "auxstream_consumer_lag_messages",
            "Messages of each assigned partition not processed yet (end offset minus position).",
            labels=["topic", "partition"],
        )
        for (topic, partition), clock in sorted(processor.watermark.sources.items()):
            if clock.lag is not None:
                lag.add_metric([topic, str(partition)], max(0, clock.lag))
        yield lag
        mark = processor.watermark.value(time.monotonic(), int(time.time() * 1000))
        if mark is not None:
            yield _gauge(
                "auxstream_watermark_timestamp_seconds",
                "The worker's watermark (event time up to which silent agents were advanced).",
                [],
                [((), mark / 1000)],
            )


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _counter(
    name: str, doc: str, labels: list[str], values: Iterable[tuple[tuple[str, ...], float]]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for key, value in sorted(_summed(values).items()):
        family.add_metric(list(key), value)
    return family


def _gauge(
    name: str, doc: str, labels: list[str], values: Iterable[tuple[tuple[str, ...], float]]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for key, value in sorted(_summed(values).items()):
        family.add_metric(list(key), value)
    return family


def _summed(values: Iterable[tuple[tuple[str, ...], float]]) -> dict[tuple[str, ...], float]:
    """Values under the same (capped) labels add up."""
    out: dict[tuple[str, ...], float] = {}
    for key, value in values:
        out[key] = out.get(key, 0) + value
    return out


def worker_ready(app: faust.App) -> bool:
    """Tables recovered at least once, and not rebalancing or recovering now."""
    recovery = getattr(app.tables, "recovery", None)
    recovered = recovery is not None and recovery.completed.is_set()
    return bool(recovered and not app.rebalancing and not getattr(app, "in_recovery", False))


def register_metrics(app: faust.App, shell: Shell) -> CollectorRegistry:
    """Build the worker's registry, feed it from the processor and Faust, serve ``/metrics``."""
    from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor

    registry = CollectorRegistry(auto_describe=False)
    outputs = OutputMetrics(registry)
    shell.processor.on_outputs = outputs.observe
    registry.register(WorkerCollector(shell, outputs, lambda: worker_ready(app)))
    # Faust's sensor: messages in/out, commit latency, table operations, rebalances.
    app.monitor = PrometheusMonitor(metrics=FaustMetrics.create(registry, "faust"))

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(registry), content_type=CONTENT_TYPE)

    return registry
