# ruff: noqa: E501 - records read best one per line
"""The vendor agents' pure step, and their registration on a Faust app (no broker needed)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import faust
import orjson
import pytest

from auxstream.adapters import Target, make_adapter
from auxstream.adapters.stream import adapt_message, configured_vendors, register_vendor_agents
from auxstream.stream.settings import Settings

POLICY = Path(__file__).resolve().parent / "fixtures" / "vendors" / "policy.yaml"


def test_a_record_becomes_canonical_events_keyed_by_agent() -> None:
    adapter = make_adapter("twilio", {"Break": Target("not_ready", "BREAK")})
    form = urlencode({"EventType": "worker.activity.update", "Sid": "EV1", "TimestampMs": "1778574600000",
                      "WorkerSid": "WK1", "WorkerActivityName": "Break"}).encode()  # fmt: skip
    [(kind, key, value)] = adapt_message(adapter, form, b"WK1", "acd.raw.twilio", 3, 41)
    assert (kind, key) == ("input", b"WK1")
    assert orjson.loads(value) == {"event_id": "EV1", "agent_id": "WK1", "ts": "2026-05-12T08:30:00.000Z",
                                   "type": "not_ready", "reason_code": "BREAK", "source": "twilio"}  # fmt: skip


def test_a_refused_record_is_a_dead_letter_with_where_it_came_from() -> None:
    [(kind, key, value)] = adapt_message(
        make_adapter("genesys"), b"<html>", None, "acd.raw.genesys", 0, 7
    )
    assert (kind, key) == ("deadletters", None)
    letter = orjson.loads(value)
    assert letter["reason"] == "invalid"
    assert letter["error"].startswith("genesys: not JSON")
    assert (letter["raw"], letter["source_topic"], letter["partition"], letter["offset"]) == (
        "<html>",
        "acd.raw.genesys",
        0,
        7,
    )


def test_heartbeats_send_nothing() -> None:
    record = orjson.dumps({"EventType": "HEART_BEAT", "AgentARN": "x/a", "EventId": "e"})
    assert adapt_message(make_adapter("amazon-connect"), record, None, "t", 0, 0) == []


def test_configured_vendors_come_from_the_policy_adapters_section() -> None:
    vendors = configured_vendors(Settings(policy=POLICY))
    assert sorted(vendors) == [
        "amazon-connect",
        "finesse",
        "genesys",
        "twilio",
    ]  # csv is never a topic
    assert vendors["genesys"]["MEAL"] == Target("not_ready", "LUNCH")
    assert configured_vendors(Settings()) == {}


def test_one_agent_per_vendor_on_its_raw_topic() -> None:
    app = faust.App(
        "test-vendor-agents", broker="kafka://127.0.0.1:1", autodiscover=False, web_enabled=False
    )
    agents = register_vendor_agents(app, Settings(policy=POLICY), raw_topic_prefix="x.raw.")
    assert sorted(agents) == ["amazon-connect", "finesse", "genesys", "twilio"]
    assert {a.name for a in app.agents.values()} >= {"adapt-twilio", "adapt-genesys"}
    assert agents["twilio"].channel.get_topic_name() == "x.raw.twilio"


def test_unknown_vendor_is_refused() -> None:
    app = faust.App(
        "test-vendor-agents-2", broker="kafka://127.0.0.1:1", autodiscover=False, web_enabled=False
    )
    with pytest.raises(ValueError, match="no stream adapter for csv"):
        register_vendor_agents(app, Settings(), ["csv"], raw_topic_prefix="x.")


def test_a_refused_record_is_counted_in_the_worker_metrics() -> None:
    from auxstream.stream.counts import Counts

    counts = Counts()
    adapter = make_adapter("amazon-connect")
    [(kind, _, _)] = adapt_message(
        adapter, b"{not json", b"k", "acd.raw.amazon-connect", 0, 7, counts
    )
    assert kind == "deadletters"
    assert counts.dead_letters == {"invalid": 1}
    assert counts.events == {("unknown", "invalid"): 1}
    assert counts.records["deadletters"] == 1
