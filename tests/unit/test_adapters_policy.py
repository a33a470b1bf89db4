"""The policy's optional ``adapters:`` section (vendor status name -> canonical type and code)."""

from __future__ import annotations

import pytest

from auxstream.adapters import Target, policy_targets
from auxstream.policy import PolicyError, policy_from_text
from auxstream.policy.loader import parse_policy_file

BASE = "timezone: Europe/London\ninterval_minutes: 15\n"


def test_shorthand_and_full_entries() -> None:
    model = parse_policy_file(
        BASE
        + """
adapters:
  twilio:
    states:
      Available: ready
      Coffee: BREAK
      Ringing: ignore
      Lunch: {type: not_ready, reason_code: LUNCH}
      Custom: {type: not_ready}
"""
    )
    assert policy_targets(model, "twilio") == {
        "Available": Target("ready"),
        "Coffee": Target("not_ready", "BREAK"),
        "Ringing": Target("ignore"),
        "Lunch": Target("not_ready", "LUNCH"),
        "Custom": Target("not_ready"),
    }
    assert policy_targets(model, "genesys") == {}


def test_policy_without_adapters_keeps_its_version() -> None:
    plain = policy_from_text(BASE)
    assert policy_from_text(BASE + "adapters:\n").version == plain.version
    assert (
        policy_from_text(BASE + "adapters: {twilio: {states: {A: ready}}}\n").version
        != plain.version
    )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("adapters: {avaya: {states: {}}}", "adapters"),
        ("adapters: {twilio: {states: {A: {type: lunch}}}}", "adapters.twilio.states.A"),
        ("adapters: {twilio: {statuses: {}}}", "unknown field"),
        ("adapters: {twilio: {states: {A: {type: not_ready, reason_code: ' X'}}}}", "spaces"),
    ],
)
def test_mistakes_are_reported_with_their_line(section: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as caught:
        policy_from_text(BASE + section + "\n", "p.yaml")
    assert str(caught.value).startswith("p.yaml:3:")
