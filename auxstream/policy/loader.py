"""Load a policy file into the core's frozen :class:`~auxstream.domain.policy.Policy`.

A policy mistake found at start-up costs a restart; one found at 3 a.m. costs a night of
wrong detections. So everything is checked here, and every problem is reported at once,
each naming the file, the line, the code entry and the field.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from auxstream.domain.policy import (
    AuxAfterContactRule,
    CodePolicy,
    Policy,
    RapidSwitchingRule,
    Rules,
    ShortAuxRule,
)
from auxstream.policy.errors import PolicyError
from auxstream.policy.model import CodeEntry, PolicyFile, RulesSection
from auxstream.policy.yamlsource import Loc, line_of, read_yaml

MAX_POLICY_BYTES = 1 << 20
"""A policy is a page of YAML; a file larger than 1 MiB is the wrong file."""

_MAX_PROBLEMS_SHOWN = 20


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read, validate and convert the policy file at ``path``; PolicyError if it is unusable."""
    return build_policy(load_policy_file(path))


def load_policy_file(path: str | os.PathLike[str]) -> PolicyFile:
    """Read and validate the policy file at ``path`` (the file model, e.g. for ``adapters:``)."""
    name = os.fspath(path)
    try:
        with Path(path).open("rb") as stream:
            raw = stream.read(MAX_POLICY_BYTES + 1)
    except FileNotFoundError:
        raise PolicyError(f"{name}: no such policy file") from None
    except IsADirectoryError:
        raise PolicyError(f"{name}: is a directory, not a policy file") from None
    except PermissionError:
        raise PolicyError(f"{name}: cannot read the policy file: permission denied") from None
    except OSError as exc:
        raise PolicyError(f"{name}: cannot read the policy file: {exc.strerror or exc}") from None
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(f"{name}: larger than {MAX_POLICY_BYTES} bytes; is this the policy file?")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PolicyError(f"{name}:{line}: not UTF-8 text; save the policy file as UTF-8") from None
    return parse_policy_file(text, name)


def policy_from_text(text: str, source_name: str = "<policy>") -> Policy:
    """Validate policy YAML given as text; ``source_name`` names it in error messages."""
    return build_policy(parse_policy_file(text, source_name))


def parse_policy_file(text: str, source_name: str = "<policy>") -> PolicyFile:
    """The validated file model (what the linter and tools that rewrite policies need)."""
    root, data = read_yaml(text, source_name)
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"the single value {data!r}"[:80]
        raise PolicyError(
            f"{source_name}:{root.start_mark.line + 1}: the top level must be a mapping of "
            f"settings (timezone:, interval_minutes:, codes:, ...), not {kind}"
        )
    try:
        return PolicyFile.model_validate(data)
    except ValidationError as exc:
        located = sorted(
            (
                (line_of(root, error["loc"]), _describe(error, data))
                for error in exc.errors(include_url=False)
            ),
            key=lambda item: item[0],
        )
        problems = tuple(f"{source_name}:{line}: {text}" for line, text in located)
        shown = problems[:_MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        message = "\n".join(shown) + (f"\n... and {more} more" if more else "")
        raise PolicyError(message, problems) from None


def build_policy(model: PolicyFile) -> Policy:
    """The core's frozen policy, with every team's code table merged in advance."""
    return Policy(
        timezone=model.timezone,
        interval_minutes=model.interval_minutes,
        grace_s=model.grace_s,
        after_contact_code=model.after_contact_code,
        stuck_after_s=model.stuck_after_s,
        codes={entry.code: _code_policy(entry) for entry in model.codes},
        team_codes={
            team: {entry.code: _code_policy(entry) for entry in model.team_table(team)}
            for team in model.teams
        },
        rules=_rules(model.rules),
        version=policy_version(model),
    )


def policy_version(model: PolicyFile) -> str:
    """First 12 hex digits of the SHA-256 of the policy's canonical JSON.

    Canonical means: defaults filled in, numbers as floats, keys sorted, codes sorted by
    code (their order changes no detection), and of a team entry only the fields it sets.
    Comments, spacing, quoting and flow or block style therefore leave it unchanged.
    """
    content = model.model_dump(mode="json", exclude={"codes", "teams", "adapters"})
    if model.adapters:  # left out when empty: policies without adapters keep their version
        content["adapters"] = model.model_dump(mode="json", include={"adapters"})["adapters"]
    content["codes"] = sorted(
        (entry.model_dump(mode="json") for entry in model.codes), key=_by_code
    )
    content["teams"] = {
        name: {
            "codes": sorted(
                (e.model_dump(mode="json", exclude_unset=True) for e in team.codes), key=_by_code
            )
        }
        for name, team in model.teams.items()
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def _by_code(entry: dict[str, Any]) -> str:
    return str(entry["code"])


def _code_policy(entry: CodeEntry) -> CodePolicy:
    return CodePolicy(
        code=entry.code,
        label=entry.label,
        category=entry.category,
        paid=entry.paid,
        productive=entry.productive,
        check_in=entry.check_in,
        max_occurrence_s=entry.max_occurrence_s,
        max_daily_s=entry.max_daily_s,
    )


def _rules(section: RulesSection) -> Rules:
    rapid, after, short = section.rapid_switching, section.aux_after_contact, section.short_aux
    return Rules(
        rapid_switching=None
        if rapid is None
        else RapidSwitchingRule(rapid.min_switches, rapid.window_s),
        aux_after_contact=None
        if after is None
        else AuxAfterContactRule(after.min_count, after.window_s, after.ready_gap_s),
        short_aux=None
        if short is None
        else ShortAuxRule(short.min_count, short.max_s, short.window_s),
    )


def _describe(error: ErrorDetails, data: object) -> str:
    """``codes[1] (BREAK): max_occurrence_s: <what is wrong>`` for one pydantic error."""
    loc = error["loc"]
    split = _entry_end(loc)
    head, field = loc[:split], loc[split:]
    where = _path(head)
    code = _code_at(data, head) if split else None
    if code is not None:
        where += f" ({code})"
    parts = [part for part in (where, _path(field)) if part]
    return ": ".join([*parts, _explain(error)])


def _entry_end(loc: Loc) -> int:
    """Where a code entry's own location ends in ``loc`` (0 when the error is not in one)."""
    end = 0
    for index in range(len(loc) - 1):
        if loc[index] == "codes" and isinstance(loc[index + 1], int):
            end = index + 2
    return end


def _path(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _code_at(data: object, loc: Loc) -> str | None:
    for part in loc:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    code = data.get("code") if isinstance(data, dict) else None
    return code if isinstance(code, str) and code else None


def _explain(error: ErrorDetails) -> str:
    """Pydantic's message, made plainer where it speaks Python rather than YAML."""
    kind, loc = error["type"], error["loc"]
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        guess = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6) if loc else []
        hint = f"did you mean {guess[0]}?" if guess else f"expected one of: {', '.join(allowed)}"
        return f"unknown field; {hint}"
    if kind == "missing":
        return "required field is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "should be a mapping (key: value pairs)"
    if kind == "list_type":
        return "should be a list (lines starting with '- ')"
    return error["msg"]


def _fields_at(loc: Loc) -> list[str]:
    """Field names allowed at ``loc``, found by following the models' annotations."""
    model: type[BaseModel] = PolicyFile
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is not None:
            model = _inner_model(field.annotation) or model
    return list(model.model_fields)


def _inner_model(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _inner_model(argument)
        if found is not None:
            return found
    return None
