"""Validation hands the core shared text objects; the values are the message's own."""

from __future__ import annotations

import orjson

from auxstream.domain import events
from auxstream.domain.events import CONTACT_START, event_from_dict


def _event(**fields: object) -> events.AgentEvent:
    base: dict[str, object] = {
        "event_id": "e-1",
        "agent_id": "A1",
        "ts": "2026-05-12T07:00:03Z",
        "type": "not_ready",
        "reason_code": "break",
        "team": "south",
        "site": "leeds",
        "source": "simulator",
    }
    base.update(fields)
    # Parsed from bytes, as replay and the stream do: every string is a new object.
    return event_from_dict(orjson.loads(orjson.dumps(base)))


def test_type_is_the_constant() -> None:
    event = _event(type="contact_start", reason_code=None)
    assert event.type == CONTACT_START
    assert event.type is CONTACT_START


def test_equal_texts_are_one_object() -> None:
    first = _event(event_id="e-1")
    second = _event(event_id="e-2")
    assert (first.team, first.site, first.source, first.reason_code) == (
        "south",
        "leeds",
        "simulator",
        "break",
    )
    assert first.team is second.team
    assert first.site is second.site
    assert first.source is second.source
    assert first.reason_code is second.reason_code
    assert first.event_id is not second.event_id


def test_long_texts_are_kept_as_received() -> None:
    team = "t" * (events._TEXT_LEN_MAX + 1)
    assert _event(team=team).team == team
    assert team not in events._TEXTS


def test_the_table_is_bounded() -> None:
    for n in range(events._TEXTS_MAX + 5):
        assert _event(team=f"team-{n}").team == f"team-{n}"
    assert len(events._TEXTS) <= events._TEXTS_MAX


def test_empty_and_missing_values() -> None:
    event = _event(type="login", reason_code="", team=None, site=None, source=None)
    assert (event.reason_code, event.team, event.site, event.source) == (None, None, None, None)
