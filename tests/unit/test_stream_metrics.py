"""The worker's metrics (contract §6) from a processor driven by hand, and the API's views."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from auxstream.domain.engine import new_agent
from auxstream.domain.events import AgentEvent
from auxstream.domain.timefmt import parse_ts
from auxstream.policy import load_policy
from auxstream.stream.metrics import OTHER, LabelCap, OutputMetrics, WorkerCollector
from auxstream.stream.processor import Inbound, Processor, home_partition
from auxstream.stream.views import agent_view, check_id, merge_team_views, team_view
from auxstream.stream.watermark import EVENT_TIME, Watermark

PARTITIONS = 4
CONTRACT = {
    "auxstream_events": ("counter", {"type", "outcome"}),
    "auxstream_agents": ("gauge", {"state", "reason_code", "team"}),
    "auxstream_state_seconds": ("counter", {"state", "reason_code", "team"}),
    "auxstream_detections": ("counter", {"rule", "team"}),
    "auxstream_checkins": ("counter", {"team"}),
    "auxstream_event_lag_seconds": ("histogram", set()),
    "auxstream_dead_letters": ("counter", {"reason"}),
}


def scrape(
    lines: list[bytes], policy_path: Path, clock_s: float
) -> tuple[Processor, dict[str, Any]]:
    policy = load_policy(policy_path)
    processor = Processor(policy, PARTITIONS, "in", "by-agent", Watermark(2.0, EVENT_TIME))
    processor.assign(range(PARTITIONS), [], now=0.0)
    registry = CollectorRegistry(auto_describe=False)
    outputs = OutputMetrics(registry, clock=lambda: clock_s)
    processor.on_outputs = outputs.observe
    registry.register(WorkerCollector(SimpleNamespace(processor=processor), outputs, lambda: True))  # type: ignore[arg-type]
    offsets = dict.fromkeys(range(PARTITIONS), 0)
    for line in lines:
        agent = orjson.loads(line)["agent_id"]
        p = home_partition(agent, PARTITIONS)
        processor.receive(Inbound("in", p, offsets[p], agent.encode(), line), now=1.0)
        offsets[p] += 1
    processor.tick(1000.0, 0)
    families = {
        f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())
    }
    return processor, families


def newest_ts(line: bytes) -> int:
    try:
        return parse_ts(orjson.loads(line)["ts"])
    except (ValueError, KeyError):
        return 0


def test_every_contract_metric_with_its_type_and_labels(shared_examples: Path) -> None:
    day = (shared_examples / "example-day.jsonl").read_bytes().splitlines()
    newest = max(newest_ts(line) for line in day) / 1000
    processor, families = scrape(day, shared_examples / "policy.yaml", newest + 10)
    for name, (kind, labels) in CONTRACT.items():
        family = families[name]
        assert family.type == kind, name
        samples = [s for s in family.samples if not s.name.endswith("_created")]
        assert samples, f"{name} has no samples"
        for sample in samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample.labels)

    events = sum(s.value for s in families["auxstream_events"].samples if s.name.endswith("_total"))
    assert events == processor.counts.messages > 0  # the newest events may still be held
    agents = sum(s.value for s in families["auxstream_agents"].samples)
    assert agents == len(processor.states)
    lag = families["auxstream_event_lag_seconds"]
    count = next(s.value for s in lag.samples if s.name.endswith("_count"))
    assert count == sum(
        v for (k, outcome), v in processor.counts.events.items() if outcome != "invalid"
    )
    info = {
        s.labels["reason_code"]: s.labels for s in families["auxstream_reason_code_info"].samples
    }
    assert info["ACW"]["productive"] == "true" and info["TIMEOUT"]["check_in"] == "true"


def test_state_seconds_add_up_the_closed_segments(shared_examples: Path) -> None:
    day = (shared_examples / "example-day.jsonl").read_bytes().splitlines()
    seen: list[Any] = []
    policy = load_policy(shared_examples / "policy.yaml")
    outputs = OutputMetrics(CollectorRegistry(), clock=lambda: 0.0)
    processor = Processor(policy, PARTITIONS, "in", "by-agent", Watermark(2.0, EVENT_TIME))
    processor.assign(range(PARTITIONS), [], now=0.0)

    def both(items: list[Any]) -> None:
        seen.extend(i for i in items if type(i).__name__ == "Segment")
        outputs.observe(items)

    processor.on_outputs = both
    for offset, line in enumerate(day):
        agent = orjson.loads(line)["agent_id"]
        p = home_partition(agent, PARTITIONS)
        processor.receive(Inbound("in", p, offset, agent.encode(), line), now=1.0)
    assert seen
    assert sum(outputs.state_ms.values()) == sum(s.end - s.start for s in seen)


def test_label_cap_is_sticky_and_bounded() -> None:
    cap = LabelCap(2, always=lambda code: code == "BREAK")
    assert [cap(v) for v in ("a", "b", "c", "a", "BREAK", None)] == [
        "a",
        "b",
        OTHER,
        "a",
        "BREAK",
        OTHER,
    ]


def test_event_lag_is_never_negative() -> None:
    registry = CollectorRegistry()
    outputs = OutputMetrics(registry, clock=lambda: 0.0)
    # A real event: the core's classes may be compiled by mypyc, which checks field types.
    event = AgentEvent("e1", "a", 5_000, "ready")
    outputs.observe([SimpleNamespace.__new__(SimpleNamespace)])  # not an output: ignored
    from auxstream.domain.outputs import Outcome

    outputs.observe([Outcome(event, "applied")])
    assert registry.get_sample_value("auxstream_event_lag_seconds_bucket", {"le": "0.1"}) == 1


@pytest.mark.parametrize(
    ("value", "ok"), [("A1", True), ("", False), ("x" * 129, False), ("a\nb", False)]
)
def test_check_id(value: str, ok: bool) -> None:
    assert (check_id(value) is None) == ok


def test_agent_and_team_views(shared_examples: Path) -> None:
    policy = load_policy(shared_examples / "policy.yaml")
    state = new_agent("A1")
    state.team, state.state, state.reason_code = "north", "not_ready", "BREAK"
    start = parse_ts("2026-05-12T10:00:00Z")
    state.since = state.committed = start
    state.occurrence_fired = True
    view = agent_view(state, policy, start + 1_000_000)
    assert view["today_s_by_code"] == {"BREAK": 1000.0}
    assert view["open_detections"][0]["rule"] == "occurrence_limit"
    assert view["since"] == "2026-05-12T10:00:00.000Z"
    team = team_view([state, new_agent("B")], "north", policy, start + 1_000_000)
    assert team["agents"] == 1 and team["not_ready_by_code"] == {"BREAK": 1}
    merged = merge_team_views("north", [team, team])
    assert merged["agents"] == 2 and merged["today_s_by_code"] == {"BREAK": 2000.0}
