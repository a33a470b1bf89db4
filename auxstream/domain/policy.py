"""The policy as the core sees it: plain frozen values, already validated.

Loading and validating the YAML file lives outside the core (``auxstream.policy``); the
core only needs fast lookups of a code's thresholds for an agent's team.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

CATEGORIES: Final = (
    "break",
    "personal",
    "non_call_work",
    "development",
    "operational",
    "wellbeing",
)


@dataclass(frozen=True, slots=True)
class CodePolicy:
    """One not-ready reason code and its limits (after team overrides are merged)."""

    code: str
    """The reason code exactly as the ACD sends it."""
    label: str | None = None
    """What a person reads on a dashboard, e.g. "After-call work"."""
    category: str | None = None
    """One of CATEGORIES; None when the policy left it out (the linter warns)."""
    paid: bool | None = None
    """Whether the time is paid; informational for WFM exports."""
    productive: bool = False
    """Counts as productive time (e.g. ACW, training) for shrinkage reporting."""
    check_in: bool = False
    """Selecting this code notifies a team leader at once (a wellbeing check-in)."""
    max_occurrence_s: float | None = None
    """One stretch longer than this raises occurrence_limit (strictly longer)."""
    max_daily_s: float | None = None
    """An agent's total in this code on one local day above this raises daily_limit."""


@dataclass(frozen=True, slots=True)
class RapidSwitchingRule:
    """Agent-chosen changes into or between not-ready codes, many in a short window."""

    min_switches: int = 4
    window_s: float = 600.0


@dataclass(frozen=True, slots=True)
class AuxAfterContactRule:
    """Going from a contact (or its ACW) into another not-ready code without being ready."""

    min_count: int = 3
    window_s: float = 3600.0
    ready_gap_s: float = 5.0


@dataclass(frozen=True, slots=True)
class ShortAuxRule:
    """Many agent-chosen not-ready stretches shorter than ``max_s``."""

    min_count: int = 3
    max_s: float = 30.0
    window_s: float = 1800.0


@dataclass(frozen=True, slots=True)
class Rules:
    """Thresholds of the window rules; a rule set to None is switched off."""

    rapid_switching: RapidSwitchingRule | None = field(default_factory=RapidSwitchingRule)
    aux_after_contact: AuxAfterContactRule | None = field(default_factory=AuxAfterContactRule)
    short_aux: ShortAuxRule | None = field(default_factory=ShortAuxRule)


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything the engine needs to know about a centre's rules, frozen.

    ``team_codes`` holds, per team, the full code table with that team's overrides
    already merged field by field, so a lookup is one dict access on the hot path.
    """

    timezone: str = "UTC"
    """IANA zone name: local days and interval alignment follow its midnight."""
    interval_minutes: int = 15
    """15 or 30."""
    grace_s: float = 2.0
    """How long an agent's event may arrive after a later one and still be put in place."""
    after_contact_code: str | None = None
    """The not-ready code entered automatically by contact_end; None means ready."""
    stuck_after_s: float = 43200.0
    """A logged-in agent silent this long raises stuck_state once."""
    codes: dict[str, CodePolicy] = field(default_factory=dict)
    """The global code table, by code."""
    team_codes: dict[str, dict[str, CodePolicy]] = field(default_factory=dict)
    """Per team: the code table with the team's overrides merged in."""
    rules: Rules = field(default_factory=Rules)
    version: str = "unversioned"
    """Identifies the policy a detection was made under (a content hash or a published id)."""

    def code_for(self, team: str | None, code: str) -> CodePolicy | None:
        """The code's policy for this team, or None for a code the policy does not know."""
        if team is not None:
            table = self.team_codes.get(team)
            if table is not None:
                return table.get(code)
        return self.codes.get(code)

    def is_known(self, code: str) -> bool:
        return code in self.codes
