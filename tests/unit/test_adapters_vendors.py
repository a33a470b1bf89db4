# ruff: noqa: E501 - records and expected tables read best one per line
"""Each adapter on its own: what one record gives, ids, mapping precedence and refusals."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from auxstream.adapters import AdapterError, Target, make_adapter
from auxstream.adapters.amazon_connect import agent_id_of
from auxstream.adapters.csv_export import MappingError, csv_mapping_from

ARN = (
    "arn:aws:connect:eu-west-2:123456789012:instance/9a8b7c6d-1111-4222-8333-444455556666/agent/a-1"
)


def _connect(
    kind: str, current: dict[str, Any] | None, previous: dict[str, Any] | None = None
) -> bytes:
    return json.dumps({"AgentARN": ARN, "EventId": "ev-1", "EventTimestamp": "2026-05-12T08:00:10.000Z",
                       "EventType": kind, "CurrentAgentSnapshot": current,
                       "PreviousAgentSnapshot": previous}).encode()  # fmt: skip


def _snap(
    name: str, since: str = "2026-05-12T08:00:00Z", contacts: list[Any] | None = None
) -> dict[str, Any]:
    return {"AgentStatus": {"Name": name, "StartTimestamp": since}, "Contacts": contacts or [],
            "Configuration": {"RoutingProfile": {"Name": "A"}}}  # fmt: skip


# ---------------------------------------------------------------- Amazon Connect


def test_connect_agent_id_is_the_arns_last_segment() -> None:
    assert agent_id_of(ARN) == "a-1"
    assert agent_id_of("a-1") == "a-1"


def test_connect_heartbeat_and_configuration_only_changes_give_nothing() -> None:
    adapter = make_adapter("amazon-connect")
    assert adapter.convert(_connect("HEART_BEAT", _snap("Available"), _snap("Available"))) == []
    changed_profile = _snap("Available")
    changed_profile["Configuration"] = {"RoutingProfile": {"Name": "B"}}
    assert adapter.convert(_connect("STATE_CHANGE", changed_profile, _snap("Available"))) == []


def test_connect_login_into_a_custom_status_is_a_login_with_its_code() -> None:
    adapter = make_adapter("amazon-connect", {"Break": Target("not_ready", "BREAK")})
    [event] = adapter.convert(_connect("LOGIN", _snap("Break")))
    assert event == {"event_id": "ev-1", "agent_id": "a-1", "ts": "2026-05-12T08:00:10.000Z", "type": "login",
                     "source": "amazon-connect", "reason_code": "BREAK"}  # fmt: skip


def test_connect_login_while_offline_gives_nothing() -> None:
    assert make_adapter("amazon-connect").convert(_connect("LOGIN", _snap("Offline"))) == []


def test_connect_contact_connected_and_ended_between_two_records() -> None:
    contact = {"ContactId": "c1", "State": "ENDED", "StateStartTimestamp": "2026-05-12T08:05:00Z"}
    events = make_adapter("amazon-connect").convert(
        _connect("STATE_CHANGE", _snap("Available", contacts=[contact]), _snap("Available"))
    )
    assert [(e["type"], e["event_id"]) for e in events] == [("contact_start", "ev-1:c1:start"),
                                                            ("contact_end", "ev-1:c1:end")]  # fmt: skip


def test_connect_status_chosen_during_a_contact_waits_for_the_contact() -> None:
    on_call = {
        "ContactId": "c1",
        "State": "CONNECTED",
        "StateStartTimestamp": "2026-05-12T08:05:00Z",
    }
    record = _connect("STATE_CHANGE", _snap("Break", "2026-05-12T08:06:00Z", [on_call]),
                      _snap("Available", contacts=[on_call]))  # fmt: skip
    assert make_adapter("amazon-connect").convert(record) == []


def test_connect_unmapped_status_keeps_its_name_and_is_counted() -> None:
    adapter = make_adapter("amazon-connect")
    [event] = adapter.convert(
        _connect("STATE_CHANGE", _snap("Coaching", "2026-05-12T08:00:05Z"), _snap("Available"))
    )
    assert (event["type"], event["reason_code"], event["ts"]) == (
        "not_ready",
        "Coaching",
        "2026-05-12T08:00:05.000Z",
    )
    assert adapter.states.unmapped == {"Coaching": 1}


@pytest.mark.parametrize(
    ("record", "error"),
    [
        (b"[1, 2]", "must be a JSON object"),
        (b'{"EventType": "PING"}', "unknown EventType 'PING'"),
        (_connect("STATE_CHANGE", None), "CurrentAgentSnapshot is missing"),
        (json.dumps({"AgentARN": ARN, "EventId": "e", "EventType": "STATE_CHANGE",
                     "EventTimestamp": "2026-05-12 08:00:00", "CurrentAgentSnapshot": {}}).encode(), "no UTC offset"),
    ],
)  # fmt: skip
def test_connect_refusals(record: bytes, error: str) -> None:
    with pytest.raises(AdapterError, match=error.replace("(", r"\(")):
        make_adapter("amazon-connect").convert(record)


# ---------------------------------------------------------------- Twilio


def test_twilio_form_and_cloudevent_give_the_same_event() -> None:
    adapter = make_adapter("twilio", {"Break": Target("not_ready", "BREAK")})
    form = urlencode({"EventType": "worker.activity.update", "Sid": "EV1", "TimestampMs": "1778574600000",
                      "Timestamp": "1778574600", "WorkerSid": "WK1", "WorkerActivityName": "Break"}).encode()  # fmt: skip
    cloud = json.dumps([{"type": "com.twilio.taskrouter.worker.activity.update", "id": "NO1",
                         "data": {"payload": {"sid": "EV1", "worker_sid": "WK1", "worker_activity_name": "Break",
                                              "timestamp": "2026-05-12T08:30:00.000Z"}}}]).encode()  # fmt: skip
    assert adapter.convert(form) == adapter.convert(cloud) == [
        {"event_id": "EV1", "agent_id": "WK1", "ts": "2026-05-12T08:30:00.000Z", "type": "not_ready",
         "source": "twilio", "reason_code": "BREAK"}
    ]  # fmt: skip


def test_twilio_seconds_timestamp_when_no_milliseconds() -> None:
    form = urlencode({"EventType": "reservation.accepted", "EventSid": "EV2", "Timestamp": "1778574600",
                      "WorkerSid": "WK1"}).encode()  # fmt: skip
    [event] = make_adapter("twilio").convert(form)
    assert (event["type"], event["ts"], event["event_id"]) == (
        "contact_start",
        "2026-05-12T08:30:00.000Z",
        "EV2",
    )


def test_twilio_other_event_types_are_ignored() -> None:
    form = urlencode({"EventType": "task.created", "Sid": "EV3", "TimestampMs": "1"}).encode()
    assert make_adapter("twilio").convert(form) == []


# ---------------------------------------------------------------- Genesys


def _genesys(topic: str, body: dict[str, Any]) -> bytes:
    return json.dumps(
        {"topicName": f"v2.users.u1.{topic}", "version": "2", "eventBody": body}
    ).encode()


def test_genesys_secondary_presence_wins_over_system_presence() -> None:
    adapter = make_adapter(
        "genesys", {"p-coach": Target("not_ready", "TRAINING"), "BUSY": Target("not_ready", "BUSY")}
    )
    body = {
        "presenceDefinition": {"id": "p-coach", "systemPresence": "Busy"},
        "modifiedDate": "2026-05-12T09:00:00Z",
    }
    [event] = adapter.convert(_genesys("presence", body))
    assert (event["reason_code"], event["event_id"]) == (
        "TRAINING",
        "u1:presence:p-coach:2026-05-12T09:00:00.000Z",
    )


def test_genesys_eventbridge_envelope_is_unwrapped() -> None:
    inner = json.loads(
        _genesys(
            "routingStatus",
            {"routingStatus": {"status": "IDLE", "startTime": "2026-05-12T08:00:00Z"}},
        )
    )
    [event] = make_adapter("genesys").convert(
        json.dumps({"version": "0", "detail-type": "x", "detail": inner}).encode()
    )
    assert event["type"] == "ready"


def test_genesys_unknown_topic_is_refused() -> None:
    with pytest.raises(AdapterError, match="unsupported topicName"):
        make_adapter("genesys").convert(
            json.dumps({"topicName": "v2.users.u1.geolocation", "eventBody": {}}).encode()
        )


# ---------------------------------------------------------------- Finesse


def _finesse(state: str, extra: str = "") -> bytes:
    return (f"<Update><event>put</event><data><User><loginId>42</loginId><state>{state}</state>{extra}"
            "<stateChangeTime>2026-05-12T08:00:00.000Z</stateChangeTime><teamName>T</teamName>"
            "</User></data></Update>").encode()  # fmt: skip


def test_finesse_not_ready_reason_by_label_then_code() -> None:
    reason = (
        "<reasonCodeId>7</reasonCodeId><ReasonCode><code>12</code><label>Meal</label></ReasonCode>"
    )
    [by_code] = make_adapter("finesse", {"12": Target("not_ready", "LUNCH")}).convert(
        _finesse("NOT_READY", reason)
    )
    assert by_code["reason_code"] == "LUNCH"
    [by_label] = make_adapter("finesse", {"Meal": Target("not_ready", "MEAL")}).convert(
        _finesse("NOT_READY", reason)
    )
    assert by_label["reason_code"] == "MEAL"
    assert by_label["event_id"] == "42:NOT_READY:7:2026-05-12T08:00:00.000Z"


def test_finesse_not_ready_without_reason_code() -> None:
    [event] = make_adapter("finesse").convert(_finesse("NOT_READY"))
    assert event["reason_code"] == "NOT_READY"


@pytest.mark.parametrize(
    "record",
    [
        b'<!DOCTYPE x [<!ENTITY a "b">]><Update/>',
        b'<?xml version="1.0"?>\n<!doctype x SYSTEM "file:///etc/passwd"><Update/>',
        b'<Update><!ENTITY a "b"></Update>',
    ],
)
def test_finesse_refuses_doctype_and_entities(record: bytes) -> None:
    with pytest.raises(AdapterError, match="DOCTYPE or ENTITY"):
        make_adapter("finesse").convert(record)


def test_finesse_refuses_oversized_notifications() -> None:
    with pytest.raises(AdapterError, match="larger than"):
        make_adapter("finesse").convert(b"<Update>" + b" " * 70_000 + b"</Update>")


# ---------------------------------------------------------------- CSV


def test_csv_generic_mapping_with_iso_timestamps() -> None:
    mapping = csv_mapping_from({"columns": {"agent": "agent", "timestamp": "at", "state": "state", "reason": "code"},
                                "states": {"Available": "ready", "Away": {"type": "not_ready"}}})  # fmt: skip
    adapter = make_adapter("csv", {}, mapping)
    assert adapter.convert(b"agent,at,state,code") == []
    [event] = adapter.convert(b"e1,2026-05-12T09:00:00+02:00,Away,BREAK")
    assert (event["ts"], event["type"], event["reason_code"]) == (
        "2026-05-12T07:00:00.000Z",
        "not_ready",
        "BREAK",
    )
    [event] = adapter.convert(b"e1,2026-05-12T09:10:00Z,Away,")
    assert event["reason_code"] == "Away"
    with pytest.raises(AdapterError, match="no offset"):
        adapter.convert(b"e1,2026-05-12T09:00:00,Available,")


def test_csv_header_must_have_the_mapped_columns() -> None:
    mapping = csv_mapping_from(
        {"columns": {"agent": "Agent", "timestamp": "Time", "state": "State"}}
    )
    with pytest.raises(AdapterError, match="no column 'Time'"):
        make_adapter("csv", {}, mapping).convert(b"Agent,When,State")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ([], "top level must be a mapping"),
        ({"columns": {"agent": "a"}}, "columns must name"),
        ({"columns": {"agent": "a", "timestamp": "t", "state": "s", "skill": "k"}}, "unknown role"),
        ({"columns": {"agent": "a", "timestamp": "t", "state": "s"}, "timezone": "Mars/Base"}, "unknown time zone"),
        ({"columns": {"agent": "a", "timestamp": "t", "state": "s"}, "preset": "cisco"}, "preset must be"),
        ({"columns": {"agent": "a", "timestamp": "t", "state": "s"}, "states": {"X": {"type": "lunch"}}}, "type must be"),
        ({"columns": {"agent": "a", "timestamp": "t", "state": "s"}, "colums": {}}, "unknown field"),
    ],
)  # fmt: skip
def test_csv_mapping_errors(data: object, error: str) -> None:
    with pytest.raises(MappingError, match=error):
        csv_mapping_from(data)


def test_make_adapter_refuses_unknown_vendor_and_csv_without_mapping() -> None:
    with pytest.raises(ValueError, match="unknown vendor"):
        make_adapter("avaya")
    with pytest.raises(ValueError, match="column mapping"):
        make_adapter("csv")
