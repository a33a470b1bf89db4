"""Prometheus exposition of the worker's counts (contract §6 names), served on ``/metrics``.

A custom collector reads :class:`~auxstream.stream.counts.Counts` at scrape time, so the
hot path only bumps plain counters. The observability issue adds the gauges and histogram
of §6; the names here are already the contract's.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from auxstream.stream.counts import Counts


class CountsCollector(Collector):
    """Contract §6 counters from the processor's running counts."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "auxstream_events",
            "Input messages by event type and outcome.",
            labels=["type", "outcome"],
        )
        for (kind, outcome), value in sorted(self.counts.events.items()):
            events.add_metric([kind, outcome], value)
        yield events
        dead = CounterMetricFamily(
            "auxstream_dead_letters", "Dead letters written, by reason.", labels=["reason"]
        )
        for reason, value in sorted(self.counts.dead_letters.items()):
            dead.add_metric([reason], value)
        yield dead
        detections = CounterMetricFamily(
            "auxstream_detections", "Detections raised, by rule and team.", labels=["rule", "team"]
        )
        for (rule, team), value in sorted(self.counts.detections.items()):
            detections.add_metric([rule, team], value)
        yield detections
        checkins = CounterMetricFamily(
            "auxstream_checkins", "Wellbeing check-ins raised, by team.", labels=["team"]
        )
        for team, value in sorted(self.counts.checkins.items()):
            checkins.add_metric([team], value)
        yield checkins


def registry_for(counts: Counts) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CountsCollector(counts))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
