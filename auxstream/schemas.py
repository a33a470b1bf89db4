"""The JSON Schemas in ``schemas/``, generated from the wire record models.

``auxstream.records`` writes the output JSON on the hot path without pydantic; the models in
``auxstream.wire`` say what each field means to a contact centre, and this module turns them
into the JSON Schemas that consumers (dashboards, WFM exports, ACD adapters) validate
against. Unit tests feed real converter output through the models so the two cannot drift.

``python -m auxstream.schemas`` rewrites ``schemas/*.schema.json``; ``--check`` only compares
and exits 1 naming each file that drifted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from auxstream.wire import (
    AgentEventRecord,
    CheckInRecord,
    DeadLetterRecord,
    DetectionRecord,
    DurationRecord,
    IntervalRecord,
    ReplaySummary,
    SegmentRecord,
)

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "urn:auxstream:schema:"
"""Schema ids are URNs: stable names that do not pretend to be a web address."""

RECORDS: dict[str, type[BaseModel]] = {
    "agent-event": AgentEventRecord,
    "segment": SegmentRecord,
    "interval": IntervalRecord,
    "duration": DurationRecord,
    "detection": DetectionRecord,
    "checkin": CheckInRecord,
    "deadletter": DeadLetterRecord,
    "replay-summary": ReplaySummary,
}
"""Every wire record by the stem of its schema file, ``schemas/<stem>.schema.json``."""

SUFFIX = ".schema.json"


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one record, with its id and dialect."""
    model = RECORDS[name]
    schema = model.model_json_schema()
    schema["$schema"] = SCHEMA_DIALECT
    schema["$id"] = f"{ID_BASE}{name}"
    return schema


def schema_text(name: str) -> str:
    """The schema as committed: sorted keys and a trailing newline, so diffs stay small."""
    return json.dumps(json_schema(name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def drifted(out: Path) -> list[str]:
    """What in ``out`` differs from freshly generated schemas, one line per file."""
    problems = []
    for name in RECORDS:
        path = out / f"{name}{SUFFIX}"
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != schema_text(name):
            problems.append(f"{path}: out of date")
    expected = {f"{name}{SUFFIX}" for name in RECORDS}
    problems += [
        f"{path}: no such record"
        for path in sorted(out.glob(f"*{SUFFIX}"))
        if path.name not in expected
    ]
    return problems


def write(out: Path) -> list[str]:
    """Write every schema into ``out`` and remove schemas of records that no longer exist."""
    out.mkdir(parents=True, exist_ok=True)
    changed = []
    for name in RECORDS:
        path = out / f"{name}{SUFFIX}"
        text = schema_text(name)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(f"{path}: written")
    expected = {f"{name}{SUFFIX}" for name in RECORDS}
    for path in sorted(out.glob(f"*{SUFFIX}")):
        if path.name not in expected:
            path.unlink()
            changed.append(f"{path}: removed (no such record)")
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m auxstream.schemas",
        description="Generate the JSON Schemas of the wire records from their pydantic models.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("schemas"), help="directory (default: schemas)"
    )
    parser.add_argument(
        "--check", action="store_true", help="only compare; exit 1 if any file drifted"
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = drifted(args.out)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print("run `python -m auxstream.schemas` to regenerate", file=sys.stderr)
        return 1 if problems else 0
    for line in write(args.out):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
