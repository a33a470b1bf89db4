"""``auxstream codes lint``: the seeds of good practice for a reason-code list (contract §4).

A loaded policy is valid; this asks whether it is *good*: a short list agents can choose
from without guessing, no code that makes a person announce a bodily function, one code
per meaning, every code categorised, a way to ask for support, and (given events) codes
that are really used. Findings advise; they never judge the agents who use the codes.

Levels, and why:

* more than 8 codes is a **warning** (the usual advice is a list agents can hold in their
  head); more than 12 is an **error** (past that, agents pick whichever is nearest);
* a code or label naming a bodily function is an **error** (it exposes private matters on
  a wallboard; a single PERSONAL code covers them);
* two codes with the same label are an **error** (nobody can tell them apart);
* two codes that look alike in meaning, a code with no category, no check-in code, an
  after-contact code not counted as productive, unused and unknown codes are **warnings**.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

from auxstream.domain.policy import CATEGORIES, CodePolicy, Policy
from auxstream.policy.loader import build_policy
from auxstream.policy.model import PolicyFile

Level = Literal["error", "warning"]

MAX_CODES_ADVISED = 8
"""More codes than this gives a warning."""
MAX_CODES_ALLOWED = 12
"""More codes than this gives an error."""

# Words (and word sequences) in a code or label that name a bodily function.
_BODILY_WORDS = frozenset(
    {"toilet", "toilets", "bathroom", "restroom", "restrooms", "washroom", "loo", "wc",
     "lavatory", "lav", "potty", "pee", "bio", "biobreak", "nature", "comfortbreak"}
)  # fmt: skip
_BODILY_PHRASES = (("comfort", "break"), ("comfort", "stop"), ("rest", "room"), ("bio", "break"))

# Abbreviations that mean the same as a common code; each maps to one canonical word.
_SYNONYM_GROUPS = (
    ("break", "brk", "brek"),
    ("lunch", "meal", "dinner", "lnch"),
    ("personal", "pers", "prsnl", "persnl"),
    ("acw", "wrap", "wrapup", "aftercall", "acwork", "postcall"),
    ("training", "train", "trn", "trng"),
    ("meeting", "mtg", "meet"),
    ("coaching", "coach"),
    ("timeout", "wellbeing"),
)
_SYNONYMS = {word: group[0] for group in _SYNONYM_GROUPS for word in group}
# Trailing words that do not change what a label means ("Break time", "Training session").
_FILLER_SUFFIXES = ("time", "break", "session", "work", "s")


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of advice about the policy."""

    level: Level
    """``error`` (``auxstream codes lint`` exits 1) or ``warning`` (advice only)."""
    code: str | None
    """The reason code concerned, or None for the list as a whole."""
    message: str
    """One plain sentence or two, saying what to change and why."""


def lint_policy(
    policy: Policy | PolicyFile, used_codes: Mapping[str, int] | None = None
) -> list[Finding]:
    """Every finding for the policy; ``used_codes`` (code -> times selected) adds usage checks.

    The global table is checked, then each team's merged table; a team finding that the
    global table already produced is not repeated.
    """
    if isinstance(policy, PolicyFile):
        policy = build_policy(policy)
    findings = _table_findings(policy.codes, policy.after_contact_code)
    seen = set(findings)
    for team in sorted(policy.team_codes):
        for finding in _table_findings(policy.team_codes[team], policy.after_contact_code):
            if finding not in seen:
                seen.add(finding)
                findings.append(
                    Finding(finding.level, finding.code, f"Team {team}: {finding.message}")
                )
    if used_codes is not None:
        findings.extend(_usage_findings(policy, used_codes))
    return findings


def _table_findings(
    table: Mapping[str, CodePolicy], after_contact_code: str | None
) -> list[Finding]:
    findings = _count_findings(len(table))
    for entry in table.values():
        findings.extend(_entry_findings(entry))
    findings.extend(_pair_findings(list(table.values())))
    if table and not any(entry.check_in for entry in table.values()):
        findings.append(
            Finding(
                "warning",
                None,
                "No code has check_in: true. Consider a wellbeing code such as TIMEOUT "
                '("Time Out") so an agent can ask for support and a team leader hears at once.',
            )
        )
    if after_contact_code is not None:
        after = table.get(after_contact_code)
        if after is None:
            message = f"The after-contact code {after_contact_code} is not one of the codes."
            findings.append(Finding("error", after_contact_code, message))
        elif not after.productive:
            findings.append(
                Finding(
                    "warning",
                    after_contact_code,
                    f"The after-contact code {after_contact_code} is not marked productive: true, "
                    "so after-contact work would be reported as unproductive time.",
                )
            )
    return findings


def _count_findings(count: int) -> list[Finding]:
    if count == 0:
        message = "The policy defines no codes; every code in the events will count as unknown."
        return [Finding("warning", None, message)]
    if count > MAX_CODES_ALLOWED:
        return [
            Finding(
                "error",
                None,
                f"The policy has {count} codes; with more than {MAX_CODES_ALLOWED} agents pick "
                "whichever is nearest. Merge codes that mean the same and retire unused ones "
                f"(aim for {MAX_CODES_ADVISED} or fewer).",
            )
        ]
    if count > MAX_CODES_ADVISED:
        return [
            Finding(
                "warning",
                None,
                f"The policy has {count} codes; {MAX_CODES_ADVISED} or fewer keep the choice "
                "quick for agents and the reports readable. Consider merging or retiring some.",
            )
        ]
    return []


def _entry_findings(entry: CodePolicy) -> list[Finding]:
    findings = []
    named = bodily_function_named(entry.code) or bodily_function_named(entry.label or "")
    if named:
        findings.append(
            Finding(
                "error",
                entry.code,
                f"Code {entry.code} names a bodily function ({named}). "
                "Use a single PERSONAL code instead of codes that name a bodily function.",
            )
        )
    if entry.category is None:
        findings.append(
            Finding(
                "warning",
                entry.code,
                f"Code {entry.code} has no category; give it one of "
                f"{', '.join(CATEGORIES)} so reports can group it.",
            )
        )
    return findings


def _pair_findings(entries: list[CodePolicy]) -> list[Finding]:
    findings = []
    for first, second in combinations(entries, 2):
        if first.label and second.label and _squash(first.label) == _squash(second.label):
            findings.append(
                Finding(
                    "error",
                    second.code,
                    f'Codes {first.code} and {second.code} have the same label "{first.label}", '
                    "so agents cannot tell them apart. Keep one, or give each a distinct label.",
                )
            )
        elif meaning_keys(first) & meaning_keys(second):
            labels = f'"{first.label or first.code}" and "{second.label or second.code}"'
            findings.append(
                Finding(
                    "warning",
                    second.code,
                    f"Codes {first.code} and {second.code} look like the same thing ({labels}). "
                    "One code per meaning keeps reports comparable; "
                    "merge them or make the difference clear in the labels.",
                )
            )
    return findings


def _usage_findings(policy: Policy, used_codes: Mapping[str, int]) -> list[Finding]:
    """Codes never selected (review and retire) and codes the events use but the policy lacks.

    The after-contact code is left out of "never used": ``contact_end`` enters it, so it
    rarely appears as a reason code in the events.
    """
    known = dict.fromkeys(policy.codes)
    for table in policy.team_codes.values():
        known.update(dict.fromkeys(table))
    findings = [
        Finding(
            "warning",
            code,
            f"Code {code} was not used in the events given; "
            "review it and retire it if nobody needs it.",
        )
        for code in known
        if used_codes.get(code, 0) <= 0 and code != policy.after_contact_code
    ]
    unknown = sorted(
        ((code, count) for code, count in used_codes.items() if count > 0 and code not in known),
        key=lambda item: (-item[1], item[0]),
    )
    if unknown:
        listed = ", ".join(f"{code} ({count})" for code, count in unknown)
        findings.append(
            Finding(
                "warning",
                None,
                f"The events use codes the policy does not define: {listed}. They are counted "
                "as unknown; add them to the policy or correct the ACD's code list.",
            )
        )
    return findings


def bodily_function_named(text: str) -> str | None:
    """The word in ``text`` that names a bodily function (whole words, any case), or None."""
    words = _words(text)
    for word in words:
        if word in _BODILY_WORDS:
            return word
    for phrase in _BODILY_PHRASES:
        for start in range(len(words) - len(phrase) + 1):
            if tuple(words[start : start + len(phrase)]) == phrase:
                return " ".join(phrase)
    return None


def meaning_keys(entry: CodePolicy) -> frozenset[str]:
    """What a code seems to mean, for spotting two codes with one meaning.

    Kept simple enough to explain: the code and the label, letters only, lower case,
    without a trailing filler word ("Break time" -> "break") unless the whole is a known
    abbreviation, then mapped through that short list (BRK -> break, MEAL -> lunch,
    PERS -> personal, ...).
    """
    keys = set()
    for text in (entry.code, entry.label or ""):
        whole = "".join(_words(text))
        key = whole if whole in _SYNONYMS else _strip_filler(whole)
        if key:
            keys.add(_SYNONYMS.get(key, key))
    return frozenset(keys)


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W\d_]+", text.casefold())


def _squash(label: str) -> str:
    return "".join(label.casefold().split())


def _strip_filler(key: str) -> str:
    for suffix in _FILLER_SUFFIXES:
        if key.endswith(suffix) and len(key) - len(suffix) >= 3:
            return key[: -len(suffix)]
    return key


def count_by_level(findings: Iterable[Finding]) -> dict[Level, int]:
    """How many findings of each level (both keys always present)."""
    counts: dict[Level, int] = {"error": 0, "warning": 0}
    for finding in findings:
        counts[finding.level] += 1
    return counts
