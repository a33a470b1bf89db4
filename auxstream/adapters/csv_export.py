"""CSV agent-state exports (Avaya CMS agent trace style, or any one-row-per-change export).

A column-mapping YAML file says which column holds what::

    preset: avaya-cms             # or generic (the default): built-in state names
    delimiter: ","
    columns: {agent: Login ID, timestamp: Time, state: State, reason: Reason Code, team: Skill}
    timestamp_format: "%m/%d/%Y %H:%M:%S"   # strptime; left out, ISO 8601 is expected
    timezone: America/New_York               # for timestamps written without an offset
    states: {AUX: {type: not_ready}}          # optional; over the preset and policy adapters.csv
    reasons: {"1": BREAK, "2": LUNCH}         # optional: reason column value -> reason code

The first non-blank line is the header. Each later line is one state change; a quoted field
cannot span lines. The event id is the ``event_id`` column when mapped, else
``<agent>:<timestamp>:<state>:<reason>`` so that overlapping exports de-duplicate.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from auxstream.adapters.base import (
    CONTACT_END,
    CONTACT_START,
    IGNORE,
    LOGIN,
    LOGOUT,
    NOT_READY,
    READY,
    TARGET_TYPES,
    AdapterError,
    StateMap,
    Target,
    state_event,
)
from auxstream.domain.timefmt import format_ts

SOURCE = "csv"
PRESETS: dict[str, dict[str, Target]] = {
    "generic": {
        name: Target(name) for name in (LOGIN, LOGOUT, READY, NOT_READY, CONTACT_START, CONTACT_END)
    },
    "avaya-cms": {
        "AVAIL": Target(READY),
        "ACD": Target(CONTACT_START),
        "ACDIN": Target(CONTACT_START),
        "ACDOUT": Target(CONTACT_START),
        "DACD": Target(CONTACT_START),
        "ACW": Target(CONTACT_END),
        "ACWIN": Target(CONTACT_END),
        "ACWOUT": Target(CONTACT_END),
        "DACW": Target(CONTACT_END),
        "AUX": Target(NOT_READY, "AUX"),
        "AUXIN": Target(NOT_READY, "AUX"),
        "AUXOUT": Target(NOT_READY, "AUX"),
        "OTHER": Target(NOT_READY, "OTHER"),
        "RING": Target(IGNORE),
        "UNKNOWN": Target(IGNORE),
        "UNSTAFF": Target(LOGOUT),
        "LOGOUT": Target(LOGOUT),
        "LOGIN": Target(LOGIN),
    },
}
_REQUIRED_COLUMNS = ("agent", "timestamp", "state")
_OPTIONAL_COLUMNS = ("reason", "team", "event_id")


class MappingError(ValueError):
    """A column-mapping file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class CsvMapping:
    """A validated column-mapping file."""

    columns: dict[str, str]
    """Role (agent, timestamp, state, reason, team, event_id) -> column header."""
    preset: str = "generic"
    delimiter: str = ","
    timestamp_format: str | None = None
    timezone: str | None = None
    states: dict[str, Target] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)


def load_csv_mapping(path: str | Path) -> CsvMapping:
    """Read and check a column-mapping YAML file (MappingError says what is wrong)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"{path}: cannot read the mapping file: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from None
    return csv_mapping_from(data, str(path))


def csv_mapping_from(data: object, name: str = "<mapping>") -> CsvMapping:
    if not isinstance(data, dict):
        raise MappingError(f"{name}: the top level must be a mapping (columns:, timezone:, ...)")
    unknown = set(data) - {
        "preset",
        "delimiter",
        "columns",
        "timestamp_format",
        "timezone",
        "states",
        "reasons",
    }
    if unknown:
        raise MappingError(f"{name}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    columns = data.get("columns")
    if not isinstance(columns, dict) or any(
        not isinstance(columns.get(r), str) for r in _REQUIRED_COLUMNS
    ):
        raise MappingError(f"{name}: columns must name the {', '.join(_REQUIRED_COLUMNS)} columns")
    extra = set(columns) - set(_REQUIRED_COLUMNS) - set(_OPTIONAL_COLUMNS)
    if extra:
        raise MappingError(f"{name}: columns: unknown role(s) {', '.join(sorted(map(str, extra)))}")
    preset = data.get("preset", "generic")
    if preset not in PRESETS:
        raise MappingError(f"{name}: preset must be one of {', '.join(PRESETS)}")
    delimiter = data.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise MappingError(f"{name}: delimiter must be one character")
    zone = data.get("timezone")
    if zone is not None:
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            raise MappingError(f"{name}: unknown time zone {zone!r}") from None
    reasons = data.get("reasons") or {}
    if not isinstance(reasons, dict):
        raise MappingError(f"{name}: reasons must map reason values to codes")
    return CsvMapping(
        columns={str(k): str(v) for k, v in columns.items()},
        preset=preset,
        delimiter=delimiter,
        timestamp_format=data.get("timestamp_format"),
        timezone=None if zone is None else str(zone),
        states=targets_from(data.get("states") or {}, f"{name}: states"),
        reasons={str(k): str(v) for k, v in reasons.items()},
    )


def targets_from(raw: object, where: str) -> dict[str, Target]:
    """``{name: {type, reason_code}}`` or ``{name: type-or-code}`` -> targets."""
    if not isinstance(raw, dict):
        raise MappingError(f"{where} must be a mapping of state names")
    targets: dict[str, Target] = {}
    for key, value in raw.items():
        if isinstance(value, str):
            value = (
                {"type": value}
                if value in TARGET_TYPES
                else {"type": NOT_READY, "reason_code": value}
            )
        if not isinstance(value, dict) or value.get("type") not in TARGET_TYPES:
            raise MappingError(
                f"{where}.{key}: type must be one of {', '.join(sorted(TARGET_TYPES))}"
            )
        targets[str(key)] = Target(value["type"], value.get("reason_code"))
    return targets


class CsvAdapter:
    """Converts an export line by line; the first non-blank line is the header."""

    source = SOURCE

    def __init__(self, mapping: CsvMapping, policy_states: dict[str, Target] | None = None) -> None:
        self.mapping = mapping
        self.states = StateMap(PRESETS[mapping.preset], {**(policy_states or {}), **mapping.states})
        self.unmapped_reasons: Counter[str] = Counter()
        self._zone = ZoneInfo(mapping.timezone) if mapping.timezone else None
        self._index: dict[str, int] | None = None

    def convert(self, record: bytes) -> list[dict[str, Any]]:
        try:
            line = record.decode("utf-8-sig").rstrip("\r\n")
        except UnicodeDecodeError:
            raise AdapterError("not UTF-8 text") from None
        if not line.strip():
            return []
        try:
            row = next(csv.reader([line], delimiter=self.mapping.delimiter, strict=True))
        except csv.Error as exc:
            raise AdapterError(f"not a CSV row: {exc}") from None
        if self._index is None:
            self._index = self._header(row)
            return []
        return self._row(row, self._index)

    def _header(self, row: list[str]) -> dict[str, int]:
        names = [cell.strip() for cell in row]
        index = {}
        for role, column in self.mapping.columns.items():
            if column not in names:
                raise AdapterError(
                    f"header has no column {column!r} (mapped as {role}); found: {', '.join(names)}"
                )
            index[role] = names.index(column)
        return index

    def _row(self, row: list[str], index: dict[str, int]) -> list[dict[str, Any]]:
        def cell(role: str) -> str:
            at = index.get(role)
            return row[at].strip() if at is not None and at < len(row) else ""

        if len(row) < max(index.values()) + 1:
            raise AdapterError(
                f"row has {len(row)} fields, the header maps {max(index.values()) + 1}"
            )
        agent, state, stamp = cell("agent"), cell("state"), cell("timestamp")
        if not agent or not state or not stamp:
            raise AdapterError("row without agent, state or timestamp")
        ts = self._ts(stamp)
        reason_value = cell("reason")
        target = self.states.lookup(state)
        if target.type == NOT_READY and reason_value and reason_value not in ("0", "-"):
            code = self.mapping.reasons.get(reason_value)
            if code is None:
                if self.mapping.reasons:
                    self.unmapped_reasons[reason_value] += 1
                code = reason_value
            target = Target(NOT_READY, code)
        event_id = cell("event_id") or f"{agent}:{ts}:{state}:{reason_value}"
        return state_event(
            target,
            state,
            event_id=event_id,
            agent_id=agent,
            ts=ts,
            source=SOURCE,
            team=cell("team") or None,
        )

    def _ts(self, stamp: str) -> str:
        try:
            fmt = self.mapping.timestamp_format
            parsed = datetime.strptime(stamp, fmt) if fmt else datetime.fromisoformat(stamp)  # noqa: DTZ007 - zone added below
        except ValueError:
            raise AdapterError(
                f"timestamp {stamp!r} does not match {self.mapping.timestamp_format or 'ISO 8601'}"
            ) from None
        if parsed.tzinfo is None:
            if self._zone is None:
                raise AdapterError(
                    f"timestamp {stamp!r} has no offset and the mapping names no timezone"
                )
            parsed = parsed.replace(tzinfo=self._zone)
        delta = parsed.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
        return format_ts((delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000)
