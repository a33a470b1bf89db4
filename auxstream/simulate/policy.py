"""The few policy facts the simulator needs, read from the same YAML file as the engine.

The simulator must know the codes and thresholds so that normal agents stay inside every
limit and injected behaviours cross them. It reads only those facts, leniently, rather than
depending on the engine's full policy loader: a generator should still run against a policy
that the linter would complain about.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_EXAMPLE_LIMITS: dict[str, float] = {
    "ACW": 120.0,
    "BREAK": 900.0,
    "LUNCH": 3600.0,
    "PERSONAL": 600.0,
    "TIMEOUT": 600.0,
}


@dataclass(frozen=True)
class SimPolicy:
    """Which code plays which role, and the thresholds the simulator must respect or cross.

    Defaults are the contract's example policy (``examples/policy.yaml``).
    """

    after_contact_code: str | None = "ACW"
    """Set by the engine on ``contact_end``; None means the agent is ready at once."""
    break_code: str = "BREAK"
    """Short scheduled breaks (~15 min) and the ``long_break`` profile."""
    lunch_code: str = "LUNCH"
    """One longer break in the middle of long shifts."""
    training_code: str = "TRAINING"
    """Training sessions and team meetings."""
    personal_code: str = "PERSONAL"
    """Agent-chosen personal time; the code the window-rule profiles use."""
    check_in_code: str | None = "TIMEOUT"
    """A wellbeing code with ``check_in: true``; None disables the Time Out profile."""
    max_occurrence_s: Mapping[str, float] = field(default_factory=lambda: dict(_EXAMPLE_LIMITS))
    """Per code: one stretch longer than this is an ``occurrence_limit``."""
    max_daily_s: Mapping[str, float] = field(default_factory=lambda: {"BREAK": 1800.0})
    """Per code: the strictest daily total over all teams (team overrides included)."""
    min_switches: int = 4
    """rapid_switching: agent-chosen changes needed within ``switch_window_s``."""
    switch_window_s: float = 600.0
    aac_min_count: int = 3
    """aux_after_contact: occurrences needed within ``aac_window_s``."""
    aac_window_s: float = 3600.0
    aac_ready_gap_s: float = 5.0
    """Being ready at least this long after a contact breaks the aux_after_contact chain."""
    short_min_count: int = 3
    """short_aux: stretches shorter than ``short_max_s`` needed within ``short_window_s``."""
    short_max_s: float = 30.0
    short_window_s: float = 1800.0
    stuck_after_s: float = 43200.0
    """A logged-in agent silent this long raises stuck_state."""

    def limit(self, code: str, default: float) -> float:
        """The occurrence limit of ``code``, or ``default`` when the policy sets none."""
        return self.max_occurrence_s.get(code, default)


def _pick(codes: Mapping[str, Mapping[str, Any]], preferred: str, category: str) -> str | None:
    if preferred in codes:
        return preferred
    for code, entry in codes.items():
        if entry.get("category") == category:
            return code
    return None


def _rule(rules: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = rules.get(name) or {}
    return value if isinstance(value, Mapping) else {}


def policy_from_mapping(doc: Mapping[str, Any]) -> SimPolicy:
    """Build a SimPolicy from a parsed policy document (contract §4 layout)."""
    entries = [e for e in doc.get("codes") or [] if isinstance(e, Mapping) and "code" in e]
    codes = {str(e["code"]): e for e in entries}
    limits = {
        c: float(e["max_occurrence_s"]) for c, e in codes.items() if e.get("max_occurrence_s")
    }
    daily = {c: float(e["max_daily_s"]) for c, e in codes.items() if e.get("max_daily_s")}
    for team in (doc.get("teams") or {}).values():
        for entry in (team or {}).get("codes") or []:
            code = str(entry.get("code"))
            for key, table in (("max_occurrence_s", limits), ("max_daily_s", daily)):
                if entry.get(key):
                    table[code] = min(table.get(code, float("inf")), float(entry[key]))
    brk = _pick(codes, "BREAK", "break") or "BREAK"
    lunch = _pick({c: e for c, e in codes.items() if c != brk}, "LUNCH", "break") or brk
    personal = _pick(codes, "PERSONAL", "personal") or brk
    check_in = next((c for c, e in codes.items() if e.get("check_in")), None)
    rules = doc.get("rules") or {}
    rapid, aac, short = (
        _rule(rules, n) for n in ("rapid_switching", "aux_after_contact", "short_aux")
    )
    return SimPolicy(
        after_contact_code=doc.get("after_contact_code"),
        break_code=brk,
        lunch_code=lunch,
        training_code=_pick(codes, "TRAINING", "development") or personal,
        personal_code=personal,
        check_in_code=check_in,
        max_occurrence_s=limits,
        max_daily_s=daily,
        min_switches=int(rapid.get("min_switches", 4)),
        switch_window_s=float(rapid.get("window_s", 600)),
        aac_min_count=int(aac.get("min_count", 3)),
        aac_window_s=float(aac.get("window_s", 3600)),
        aac_ready_gap_s=float(aac.get("ready_gap_s", 5)),
        short_min_count=int(short.get("min_count", 3)),
        short_max_s=float(short.get("max_s", 30)),
        short_window_s=float(short.get("window_s", 1800)),
        stuck_after_s=float(doc.get("stuck_after_s", 43200)),
    )


def load_policy(path: str | Path) -> SimPolicy:
    """Read a policy YAML file; ValueError with a plain message if it is not a YAML mapping."""
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(doc, Mapping):
        raise ValueError(f"{path}: a policy file must be a YAML mapping")
    return policy_from_mapping(doc)
