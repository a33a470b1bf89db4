"""The policy file as written (contract §4), validated field by field with pydantic.

These models mirror the YAML so that every mistake can be pointed at: pydantic reports a
location (``codes[1].max_occurrence_s``) that the loader turns into a line number. They are
not what the engine uses; :func:`auxstream.policy.loader.build_policy` turns a validated
:class:`PolicyFile` into the core's frozen :class:`auxstream.domain.policy.Policy`.

Everything is strict (``strict=True``): YAML already gives real numbers and booleans, so a
quoted ``"900"`` or ``yes`` where a number is expected is a mistake worth reporting, and a
``True`` must never pass for ``1``. Unknown keys are errors so that a typo such as
``max_ocurrence_s`` cannot silently switch a limit off.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

Category = Literal["break", "personal", "non_call_work", "development", "operational", "wellbeing"]
"""The six categories of contract §4 (a test keeps them equal to ``domain.policy.CATEGORIES``)."""

PositiveSeconds = Annotated[float, Field(gt=0)]
"""A duration in seconds that must be more than zero (a zero limit would fire on every stretch)."""

AtLeastOne = Annotated[int, Field(ge=1)]
"""A count threshold of a window rule; a whole number, at least 1."""

# Zone names that ZoneInfo accepts but that mean "whatever this server is set to".
_MACHINE_DEPENDENT_ZONES = frozenset({"localtime", "posixrules"})


def _check_code(value: str) -> str:
    """A reason code must match the ACD's events exactly, so stray spaces are a mistake."""
    if value != value.strip():
        raise PydanticCustomError("code_spaces", "a code must not start or end with spaces")
    return value


def _none_is_empty(value: object) -> object:
    """``teams:`` or ``codes:`` with everything below commented out means "none", not an error."""
    return {} if value is None else value


def _none_is_empty_list(value: object) -> object:
    return [] if value is None else value


ReasonCode = Annotated[str, Field(min_length=1), AfterValidator(_check_code)]
"""A non-empty reason code, exactly as the ACD sends it."""


class _Frozen(BaseModel):
    """Shared settings: immutable, strict types, unknown keys forbidden, no inf or nan."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class CodeEntry(_Frozen):
    """One reason code of the global list (or a team's own code): its label, kind and limits."""

    code: ReasonCode
    """The reason code exactly as the ACD sends it, e.g. ``BREAK``."""
    label: str | None = None
    """What a person reads on a dashboard, e.g. "Break"."""
    category: Category | None = None
    """One of the six categories; left out, the linter warns."""
    paid: bool | None = None
    """Whether the time is paid (informational, for WFM exports)."""
    productive: bool = False
    """Counts as productive time (after-call work, training) in shrinkage reports."""
    check_in: bool = False
    """Selecting the code tells a team leader at once (a wellbeing "Time Out")."""
    max_occurrence_s: PositiveSeconds | None = None
    """One stretch strictly longer than this raises ``occurrence_limit``."""
    max_daily_s: PositiveSeconds | None = None
    """An agent's total on one local day above this raises ``daily_limit``."""


class TeamCodeEntry(_Frozen):
    """A team's entry: overrides only the fields it gives (an explicit null clears a limit).

    The fields and their checks are those of :class:`CodeEntry`; the defaults only matter
    for a code the global list lacks, and which fields were given is ``model_fields_set``.
    """

    code: ReasonCode
    """The code being overridden, or a code only this team uses."""
    label: str | None = None
    category: Category | None = None
    paid: bool | None = None
    productive: bool = False
    check_in: bool = False
    max_occurrence_s: PositiveSeconds | None = None
    max_daily_s: PositiveSeconds | None = None

    def overrides(self) -> dict[str, Any]:
        """The fields this entry sets, by name: the ones to lay over the global entry."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class TeamPolicy(_Frozen):
    """What one team (department, campaign) changes in the global policy."""

    codes: Annotated[list[TeamCodeEntry], BeforeValidator(_none_is_empty_list)] = []
    """Partial code entries, merged field by field over the global ones."""


class RapidSwitchingRule(_Frozen):
    """Many agent-chosen changes into or between not-ready codes in a short window."""

    min_switches: AtLeastOne = 4
    window_s: PositiveSeconds = 600.0


class AuxAfterContactRule(_Frozen):
    """Going from a contact (or its after-contact code) into another code without being ready."""

    min_count: AtLeastOne = 3
    window_s: PositiveSeconds = 3600.0
    ready_gap_s: PositiveSeconds = 5.0


class ShortAuxRule(_Frozen):
    """Many agent-chosen not-ready stretches shorter than ``max_s``."""

    min_count: AtLeastOne = 3
    max_s: PositiveSeconds = 30.0
    window_s: PositiveSeconds = 1800.0


class RulesSection(_Frozen):
    """The window rules. A rule left out keeps its defaults; ``null`` switches it off."""

    rapid_switching: RapidSwitchingRule | None = RapidSwitchingRule()
    aux_after_contact: AuxAfterContactRule | None = AuxAfterContactRule()
    short_aux: ShortAuxRule | None = ShortAuxRule()


AdapterVendor = Literal["amazon-connect", "twilio", "genesys", "finesse", "csv"]
"""The vendors of ``auxstream replay --format`` (and of ``acd.raw.<vendor>`` topics)."""

AdapterType = Literal[
    "login", "logout", "ready", "not_ready", "contact_start", "contact_end", "ignore"
]
"""What a vendor status becomes: a canonical event type, or ``ignore`` (no event)."""


def _target_shorthand(value: object) -> object:
    """``Available: ready`` names a type; ``Coffee: BREAK`` names a not-ready code."""
    if isinstance(value, str):
        if value in typing.get_args(AdapterType):
            return {"type": value}
        return {"type": "not_ready", "reason_code": value}
    return value


class AdapterTarget(_Frozen):
    """The canonical event one vendor status (presence, activity, state) name becomes."""

    type: AdapterType
    """Canonical event type, or ``ignore``."""
    reason_code: ReasonCode | None = None
    """Reason code of ``not_ready`` (or a ``login`` into not-ready); default: the vendor's name."""


class AdapterMapping(_Frozen):
    """One vendor's mapping, laid over the adapter's built-in defaults."""

    states: Annotated[
        dict[str, Annotated[AdapterTarget, BeforeValidator(_target_shorthand)]],
        BeforeValidator(_none_is_empty),
    ] = {}
    """Vendor status name (exactly as the vendor sends it) -> canonical type and reason code."""


class PolicyFile(_Frozen):
    """The whole policy file (contract §4), with the checks that span several fields.

    ``timezone`` and ``interval_minutes`` are required: a wrong local day or interval grid
    would silently skew every report, so there is no guessing.
    """

    timezone: str
    """IANA zone name (e.g. ``Europe/London``): local days and interval alignment."""
    interval_minutes: Literal[15, 30]
    """Length of the reporting interval in minutes: 15 or 30."""
    grace_s: Annotated[float, Field(ge=0)] = 2.0
    """How late (behind a newer event of the same agent) an event may arrive and still count."""
    codes: Annotated[list[CodeEntry], BeforeValidator(_none_is_empty_list)] = []
    """The global code list, in the order dashboards show it."""
    after_contact_code: str | None = None
    """The code entered automatically by ``contact_end`` (e.g. ``ACW``); null means ready."""
    stuck_after_s: PositiveSeconds = 43200.0
    """A logged-in agent with no event for this long raises ``stuck_state``."""
    rules: RulesSection = RulesSection()
    """Thresholds of the window rules."""
    teams: Annotated[dict[str, TeamPolicy], BeforeValidator(_none_is_empty)] = {}
    """Overrides per team name, as carried in the events' ``team`` field."""
    adapters: Annotated[dict[AdapterVendor, AdapterMapping], BeforeValidator(_none_is_empty)] = {}
    """Vendor adapters' status mappings (``auxstream replay --format``, ``acd.raw.<vendor>``)."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        """Checked against the zone database now, not at the first interval boundary."""
        if value in _MACHINE_DEPENDENT_ZONES:
            raise PydanticCustomError(
                "timezone",
                "{zone} depends on the server; name the zone, e.g. Europe/London",
                {"zone": value},
            )
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise PydanticCustomError(
                "timezone",
                "unknown time zone '{zone}'; use an IANA name such as Europe/London",
                {"zone": value},
            ) from None
        return value

    def team_table(self, team_name: str) -> list[CodeEntry]:
        """The team's full code list: global entries with its overrides laid over, field by
        field, then the codes only this team has (they carry no other requirement than
        ``code``, exactly like a global entry, so they are valid entries as they stand)."""
        table = {entry.code: entry for entry in self.codes}
        for team_entry in self.teams[team_name].codes:
            base = table.get(team_entry.code)
            overrides = team_entry.overrides()
            table[team_entry.code] = (
                base.model_copy(update=overrides)
                if base is not None
                else CodeEntry.model_validate(overrides)
            )
        return list(table.values())

    @model_validator(mode="after")
    def _consistent(self) -> PolicyFile:
        """Checks across entries, each reported at the entry at fault (for line numbers)."""
        problems = list(_duplicate_problems(self.codes, ("codes",)))
        known = {entry.code for entry in self.codes}
        if self.after_contact_code is not None and self.after_contact_code not in known:
            problems.append(
                _problem(
                    ("after_contact_code",),
                    "{code} is not one of the codes; add an entry for it to codes, "
                    "or set after_contact_code: null",
                    self.after_contact_code,
                )
            )
        for team_name, team in self.teams.items():
            problems.extend(_duplicate_problems(team.codes, ("teams", team_name, "codes")))
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self


def _problem(loc: tuple[str | int, ...], template: str, code: str) -> InitErrorDetails:
    return InitErrorDetails(
        type=PydanticCustomError("policy", template, {"code": code}), loc=loc, input=code
    )


def _duplicate_problems(
    entries: Sequence[CodeEntry | TeamCodeEntry], where: tuple[str | int, ...]
) -> list[InitErrorDetails]:
    """A second entry for one code would make its limits ambiguous."""
    first_index: dict[str, int] = {}
    problems = []
    for index, entry in enumerate(entries):
        first = first_index.setdefault(entry.code, index)
        if first != index:
            problems.append(
                _problem(
                    (*where, index, "code"),
                    f"{{code}} appears twice in this list (first at [{first}]); "
                    "keep one entry per code",
                    entry.code,
                )
            )
    return problems
