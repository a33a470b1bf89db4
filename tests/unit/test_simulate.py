"""The simulator: deterministic, valid per contract §1, and honest about what it injected.

The checks rebuild each agent's states from the delivered lines (the way the engine would,
in event-time order) and compare them with the manifest: the injected behaviours are there,
normal agents stay clear of every limit and window rule, and every delivery fault is where
the manifest says.
"""

from __future__ import annotations

import argparse
import gzip
import heapq
import itertools
import json
import re
import tracemalloc
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auxstream.simulate import Manifest, SimPolicy, SimulationConfig, load_policy, simulate
from auxstream.simulate import cli as simulate_cli
from auxstream.simulate.generator import agent_stream, assign_profiles, merge_by_time

START = datetime(2026, 5, 12, 7, 0, tzinfo=UTC)
TYPES = {"login", "logout", "ready", "not_ready", "contact_start", "contact_end"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
AGENT_CHOSEN = {"BREAK", "LUNCH", "TRAINING", "PERSONAL"}  # not ACW (automatic), not TIMEOUT


@dataclass
class Run:
    """One simulation: its lines, its manifest document, and the parsed events by line."""

    lines: list[bytes]
    manifest: dict[str, Any]
    events: dict[int, dict[str, Any]]  # 1-based line -> parsed event (valid lines only)

    @property
    def acw(self) -> str | None:
        """The after-contact code the run was generated for."""
        code = self.manifest["config"]["policy_thresholds"]["after_contact_code"]
        return code if isinstance(code, str) else None


def run_sim(
    agents: int = 60, hours: float = 8, seed: int = 11, policy: SimPolicy | None = None
) -> Run:
    manifest = Manifest()
    config = SimulationConfig(
        agents=agents, hours=hours, seed=seed, start=START, policy=policy or SimPolicy()
    )
    lines = list(simulate(config, manifest))
    doc = manifest.to_dict()
    bad = {m["line"] for m in doc["faults"]["malformed"]}
    events = {n: json.loads(line) for n, line in enumerate(lines, 1) if n not in bad}
    return Run(lines, doc, events)


@pytest.fixture(scope="module")
def sim() -> Run:
    return run_sim()


def epoch(ts: str) -> int:
    return int(datetime.fromisoformat(ts).timestamp())


def first_deliveries(run: Run) -> dict[str, list[dict[str, Any]]]:
    """Each agent's events, first delivery only, in delivery order."""
    seen: set[str] = set()
    agents: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, event in sorted(run.events.items()):
        if event["event_id"] not in seen:
            seen.add(event["event_id"])
            agents[event["agent_id"]].append(event)
    return agents


@dataclass
class Stretch:
    code: str
    start: int
    end: int | None
    start_id: str
    end_id: str | None


def stretches(events: list[dict[str, Any]], acw: str | None = "ACW") -> list[Stretch]:
    """Not-ready stretches (ACW included) of one agent, events applied in (ts, seq) order."""
    out: list[Stretch] = []
    current: Stretch | None = None
    for e in sorted(events, key=lambda e: (epoch(e["ts"]), e["seq"])):
        code = {"not_ready": e.get("reason_code"), "contact_end": acw}.get(e["type"])
        if current is not None and code != current.code:
            current.end, current.end_id = epoch(e["ts"]), e["event_id"]
            out.append(current)
            current = None
        if code is not None and current is None:
            current = Stretch(code, epoch(e["ts"]), None, e["event_id"], None)
    if current is not None:
        out.append(current)
    return out


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bytes() -> None:
    assert run_sim(30, 4, seed=5).lines == run_sim(30, 4, seed=5).lines


def test_different_seed_gives_different_output() -> None:
    assert run_sim(30, 4, seed=5).lines != run_sim(30, 4, seed=6).lines


def test_windowed_merge_equals_heapq_merge() -> None:
    config = SimulationConfig(agents=40, hours=6, seed=3, start=START)
    profiles = assign_profiles(config)

    def streams() -> list[Any]:
        m = Manifest()
        return [agent_stream(config, i, profiles.get(i), i == 0, m) for i in range(40)]

    expected = [d.line for d in heapq.merge(*streams())]
    assert [d.line for d in merge_by_time(streams(), window_s=600)] == expected


def _peak_bytes(config: SimulationConfig) -> tuple[int, int]:
    tracemalloc.start()
    try:
        lines = sum(1 for _ in simulate(config))
        return lines, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_is_bounded_by_agents_not_by_the_period() -> None:
    short_lines, short_peak = _peak_bytes(SimulationConfig(300, 3, 1, START, faults=None))
    long_lines, long_peak = _peak_bytes(SimulationConfig(300, 9, 1, START, faults=None))
    assert long_lines > 2 * short_lines
    assert long_peak < 1.5 * short_peak


# ---------------------------------------------------------------- contract §1


def test_every_non_malformed_line_is_a_valid_event(sim: Run) -> None:
    for n, e in sim.events.items():
        assert isinstance(e, dict), n
        assert isinstance(e["event_id"], str) and 1 <= len(e["event_id"]) <= 128
        assert isinstance(e["agent_id"], str) and 1 <= len(e["agent_id"]) <= 128
        assert RFC3339.match(e["ts"]), e
        assert datetime.fromisoformat(e["ts"]).utcoffset() is not None
        assert e["type"] in TYPES
        if e["type"] == "not_ready":
            assert isinstance(e["reason_code"], str) and e["reason_code"]
        else:
            assert e.get("reason_code") is None
        assert isinstance(e["team"], str)
        assert e["source"] == "simulator"
        assert isinstance(e["seq"], int) and e["seq"] >= 0
        assert e["event_id"] == f"sim-11-{e['agent_id']}-{e['seq']}"


def test_malformed_lines_are_exactly_the_recorded_ones(sim: Run) -> None:
    recorded = {m["line"]: m for m in sim.manifest["faults"]["malformed"]}
    assert {m["kind"] for m in recorded.values()} == {
        "not_json",
        "missing_agent_id",
        "ts_without_offset",
        "not_ready_without_reason",
    }
    for n, line in enumerate(sim.lines, 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            assert recorded[n]["kind"] == "not_json"
            continue
        broken = (
            "agent_id" not in obj
            or not RFC3339.match(obj["ts"])
            or (obj["type"] == "not_ready" and not obj.get("reason_code"))
        )
        assert broken == (n in recorded), (n, obj)


def test_per_agent_order_is_by_ts_except_recorded_swaps_and_late(sim: Run) -> None:
    faults = sim.manifest["faults"]
    late = {f["event_id"] for f in faults["late"]}
    swapped = {tuple(s["event_ids"]) for s in faults["swaps"]}
    assert late and swapped
    for agent, events in first_deliveries(sim).items():
        in_order = [e for e in events if e["event_id"] not in late]
        for a, b in itertools.pairwise(in_order):
            if epoch(b["ts"]) < epoch(a["ts"]):
                assert (a["event_id"], b["event_id"]) in swapped, (agent, a, b)
                assert epoch(a["ts"]) - epoch(b["ts"]) <= 1
        assert sorted(e["seq"] for e in events) == list(range(len(events))), agent


def test_swaps_are_consecutive_one_second_pairs_of_one_agent(sim: Run) -> None:
    for swap in sim.manifest["faults"]["swaps"]:
        first, second = (sim.events[n] for n in swap["lines"])
        assert [first["event_id"], second["event_id"]] == swap["event_ids"]
        assert first["agent_id"] == second["agent_id"] == swap["agent_id"]
        assert epoch(first["ts"]) - epoch(second["ts"]) == 1
        assert first["seq"] == second["seq"] + 1
        assert first["type"] == "contact_start"


def test_late_events_arrive_ten_minutes_after_later_events_of_their_agent(sim: Run) -> None:
    for late in sim.manifest["faults"]["late"]:
        event = sim.events[late["line"]]
        assert event["event_id"] == late["event_id"]
        before = [
            e
            for n, e in sim.events.items()
            if n < late["line"] and e["agent_id"] == event["agent_id"] and e["seq"] > event["seq"]
        ]
        assert len(before) >= 2  # a later event was held and then applied before it arrived
        assert late["delay_s"] >= 600
        newest = max(epoch(e["ts"]) for n, e in sim.events.items() if n < late["line"])
        assert newest - epoch(event["ts"]) >= 600


def test_duplicates_repeat_the_exact_line(sim: Run) -> None:
    dups = sim.manifest["faults"]["duplicates"]
    assert any(d["duplicate_line"] == d["line"] + 1 for d in dups)
    assert any(d["duplicate_line"] - d["line"] >= 100 for d in dups)
    for d in dups:
        assert sim.lines[d["line"] - 1] == sim.lines[d["duplicate_line"] - 1]
        assert json.loads(sim.lines[d["line"] - 1])["event_id"] == d["event_id"]
    ids = Counter(e["event_id"] for e in sim.events.values())
    assert sum(c - 1 for c in ids.values()) == len(dups)


# ---------------------------------------------------------------- manifest


def test_manifest_counts_match_the_file(sim: Run) -> None:
    counts = sim.manifest["counts"]
    distinct = {e["event_id"]: e for e in sim.events.values()}
    assert counts["lines"] == len(sim.lines)
    assert counts["events"] == len(distinct)
    assert counts["agents"] == len({e["agent_id"] for e in distinct.values()}) == 60
    assert counts["events_by_type"] == dict(
        sorted(Counter(e["type"] for e in distinct.values()).items())
    )
    assert counts["malformed"] == len(sim.lines) - len(sim.events)
    outcome = sim.manifest["lines_by_outcome"]
    assert sum(outcome.values()) == len(sim.lines)


def test_every_profile_is_injected_into_distinct_agents(sim: Run) -> None:
    profiles = sim.manifest["profiles"]
    assert set(profiles) == {
        "aux_jumping",
        "aux_after_contact",
        "short_aux",
        "long_break",
        "time_out_after_long_contact",
        "lost_logout",
    }
    agents = [a for ids in profiles.values() for a in ids]
    assert len(agents) == len(set(agents))
    assert sim.manifest["checkin_agent_ids"] == sorted(profiles["time_out_after_long_contact"])


# ---------------------------------------------------------------- behaviours


def _by_id(run: Run) -> dict[str, dict[str, Any]]:
    return {e["event_id"]: e for e in run.events.values()}


def check_behaviours(run: Run) -> None:
    """Each recorded behaviour is in the stream as the contract's detector would see it."""
    events, agents = _by_id(run), first_deliveries(run)
    for b in run.manifest["behaviours"]:
        evidence = [events[i] for i in b["evidence_event_ids"]]
        times = [epoch(e["ts"]) for e in evidence]
        mine = {s.start_id: s for s in stretches(agents[b["agent_id"]], run.acw)}
        if b["rule"] == "rapid_switching":
            codes = [e["reason_code"] for e in evidence]
            assert len(evidence) >= 4 and times[-1] - times[0] <= 600
            assert set(codes) <= AGENT_CHOSEN and all(a != c for a, c in itertools.pairwise(codes))
        elif b["rule"] == "aux_after_contact":
            assert len(evidence) >= 3 and times[-1] - times[0] <= 3600
            for e in evidence:
                ordered = sorted(agents[b["agent_id"]], key=lambda x: x["seq"])
                assert e["reason_code"] == "PERSONAL"
                assert ordered[e["seq"] - 1]["type"] == "contact_end"  # ACW, never ready
        elif b["rule"] == "short_aux":
            assert len(evidence) >= 3 and times[-1] - times[0] <= 1800
            for e in evidence:
                s = mine[e["event_id"]]
                assert s.code in AGENT_CHOSEN and s.end is not None and s.end - s.start < 30
                assert events[s.end_id or ""]["type"] == "ready"
            assert epoch(b["expected_ts"]) == max(mine[e["event_id"]].end or 0 for e in evidence)
        elif b["rule"] == "occurrence_limit":
            s = mine[evidence[0]["event_id"]]
            assert s.code == "BREAK" and s.end is not None and 1200 <= s.end - s.start <= 1500
            assert epoch(b["expected_ts"]) == s.start + 900
        elif b["profile"] == "time_out_after_long_contact":
            s = mine[evidence[0]["event_id"]]
            assert s.code == "TIMEOUT" and s.end is not None and s.end - s.start <= 600
            contact = events[b["details"]["contact_start_event_id"]]
            assert epoch(evidence[0]["ts"]) - epoch(contact["ts"]) > 15 * 60
            assert b["rule"] is None
        elif b["rule"] == "stuck_state":
            last = max(agents[b["agent_id"]], key=lambda e: e["seq"])
            assert last["event_id"] == evidence[0]["event_id"] and last["type"] != "logout"
            assert epoch(b["expected_ts"]) == epoch(last["ts"]) + 43200
        else:
            pytest.fail(f"unexpected behaviour {b}")


LIMITS = {"ACW": 120, "BREAK": 900, "PERSONAL": 600, "LUNCH": 3600, "TIMEOUT": 600}


def check_nothing_else(run: Run) -> None:
    """Agents trip no rule but their own: normal (and not-injected) agents none at all.

    Outside a behaviour's evidence (and 10 minutes around it) every stretch is 30 s or more
    and within its limit, no four agent-chosen codes fall within 600 s, a code is only chosen
    after 30 s of being ready, the daily break total stays within 1800 s, and everyone but a
    lost-logout agent logs out.
    """
    behaviours = {b["agent_id"]: b for b in run.manifest["behaviours"]}
    for agent, events in first_deliveries(run).items():
        b = behaviours.get(agent)
        evidence = set(b["evidence_event_ids"]) if b else set()
        lo, hi = (epoch(b["window_start"]) - 600, epoch(b["window_end"]) + 600) if b else (0, 0)
        if b and b["profile"] == "lost_logout":
            lo = hi = 0
        last = max(events, key=lambda e: e["seq"])
        assert (last["type"] == "logout") == (b is None or b["profile"] != "lost_logout"), agent
        mine = stretches(events, run.acw)
        for s in mine:
            if s.start_id in evidence or (s.code == "ACW" and lo <= s.start <= hi):
                continue
            assert s.end is not None and s.end - s.start <= LIMITS.get(s.code, 10**9), (agent, s)
            if s.code != "ACW":
                assert s.end - s.start >= 30, (agent, s)
                assert not lo <= s.start <= hi, (agent, s)  # nothing else near the evidence
        assert sum((s.end or 0) - s.start for s in mine if s.code == "BREAK") <= 1800, agent
        starts = [s.start for s in mine if s.code in AGENT_CHOSEN and s.start_id not in evidence]
        assert all(d - a > 600 for a, d in zip(starts, starts[3:], strict=False)), agent
        ordered = sorted(events, key=lambda e: (epoch(e["ts"]), e["seq"]))
        for prev, nxt in itertools.pairwise(ordered):
            if nxt["type"] == "not_ready" and nxt["event_id"] not in evidence:
                ready = "ready" if run.acw else "contact_end"  # without ACW: ready at once
                assert prev["type"] in ("ready", ready), (agent, prev, nxt)
                assert epoch(nxt["ts"]) - epoch(prev["ts"]) >= 30, (agent, prev, nxt)


def test_recorded_behaviours_are_present(sim: Run) -> None:
    check_behaviours(sim)


def test_agents_trip_no_rule_but_their_own(sim: Run) -> None:
    check_nothing_else(sim)


def test_expected_detections_list_every_rule_once_per_agent(sim: Run) -> None:
    detections = sim.manifest["expected_detections"]
    rules = Counter(d["rule"] for d in detections)
    assert set(rules) == {"rapid_switching", "aux_after_contact", "short_aux", "occurrence_limit"}
    assert len({(d["rule"], d["agent_id"]) for d in detections}) == len(detections)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(min_value=0, max_value=2**31),
    agents=st.integers(min_value=20, max_value=45),
    hours=st.sampled_from([3.0, 5.5, 8.0, 10.0]),
)
def test_behaviours_and_normal_agents_hold_for_any_seed(
    seed: int, agents: int, hours: float
) -> None:
    run = run_sim(agents, hours, seed)
    check_behaviours(run)
    check_nothing_else(run)


# ---------------------------------------------------------------- policy and CLI


def test_example_policy_gives_the_default_roles(shared_examples: Path) -> None:
    policy = load_policy(shared_examples / "policy.yaml")
    assert (policy.after_contact_code, policy.check_in_code) == ("ACW", "TIMEOUT")
    assert policy.limit("BREAK", 0) == 900 and policy.max_daily_s["BREAK"] == 1800
    assert (policy.min_switches, policy.aac_ready_gap_s, policy.short_max_s) == (4, 5, 30)


def test_a_policy_without_after_contact_code_still_holds() -> None:
    run = run_sim(60, 8, 12, SimPolicy(after_contact_code=None))
    assert not any(e.get("reason_code") == "ACW" for e in run.events.values())
    check_behaviours(run)
    check_nothing_else(run)
    outcome = run.manifest["lines_by_outcome"]
    assert outcome["noop"] == run.manifest["counts"]["late"] > 0


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="auxstream")
    simulate_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_writes_reproducible_gzip_and_manifest(tmp_path: Path) -> None:
    base = ["simulate", "--agents", "25", "--hours", "3", "--seed", "9", "--gzip"]
    for name in ("a", "b"):
        argv = [*base, "--out", str(tmp_path / f"{name}.gz")]
        assert _cli([*argv, "--manifest", str(tmp_path / f"{name}.json")]) == 0
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
    lines = gzip.decompress((tmp_path / "a.gz").read_bytes()).splitlines()
    doc = json.loads((tmp_path / "a.json").read_text())
    assert doc["counts"]["lines"] == len(lines) and doc["config"]["seed"] == 9


def test_cli_refuses_a_start_without_offset(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        _cli(
            [
                "simulate",
                "--agents",
                "1",
                "--hours",
                "1",
                "--seed",
                "1",
                "--out",
                str(tmp_path / "x"),
                "--start",
                "2026-05-12T07:00:00",
            ]
        )


def test_no_faults_delivers_each_event_once_in_order(tmp_path: Path) -> None:
    out = tmp_path / "clean.jsonl"
    argv = ["simulate", "--agents", "20", "--hours", "2", "--seed", "4", "--no-faults"]
    assert _cli([*argv, "--out", str(out)]) == 0
    events = [json.loads(line) for line in out.read_bytes().splitlines()]
    assert len({e["event_id"] for e in events}) == len(events)
    times = [epoch(e["ts"]) for e in events]
    assert times == sorted(times)
