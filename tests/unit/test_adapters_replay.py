# ruff: noqa: E501 - records and expected tables read best one per line
"""A full shift per vendor through adapter + engine (`auxstream replay --format X`).

The fixtures in fixtures/vendors/ are written from each vendor's public documentation (field
names as documented) and cover login, contacts, after-contact work, a mapped and an unmapped
custom status, logout, heartbeats, a re-delivery and malformed records. The expected
segments below were computed by hand from the fixture files' timestamps.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest

from auxstream.cli import main

VENDORS = Path(__file__).resolve().parent / "fixtures" / "vendors"
POLICY = VENDORS / "policy.yaml"

# (start UTC time, state or reason code, seconds) for 2026-05-12
CONNECT_SEGMENTS = [
    ("08:00:00", "ready", 605), ("08:10:05", "on_contact", 300), ("08:15:05", "ACW", 60),
    ("08:16:05", "ready", 835), ("08:30:00", "BREAK", 900), ("08:45:00", "ready", 900),
    ("09:00:00", "Coaching", 1200), ("09:20:00", "ready", 600), ("09:30:00", "on_contact", 360),
    ("09:36:00", "ACW", 90), ("09:37:30", "LUNCH", 1800), ("10:07:30", "ready", 1350),
]  # fmt: skip
TWILIO_SEGMENTS = [
    ("08:00:00", "ready", 310), ("08:05:10", "on_contact", 360), ("08:11:10", "ACW", 90),
    ("08:12:40", "ready", 1040), ("08:30:00", "BREAK", 900), ("08:45:00", "ready", 900),
    ("09:00:00", "Coaching Session", 1200), ("09:20:00", "ready", 2400),
]  # fmt: skip
GENESYS_SEGMENTS = [
    ("08:00:00", "ready", 600), ("08:10:00", "on_contact", 360), ("08:16:00", "ready", 840),
    ("08:30:00", "BREAK", 900), ("08:45:00", "ready", 900), ("09:00:00", "TRAINING", 1800),
    ("09:30:00", "ready", 600), ("09:40:00", "on_contact", 480), ("09:48:00", "ready", 720),
    ("10:00:00", "AWAY", 600), ("10:10:00", "ready", 1200),
]  # fmt: skip
FINESSE_SEGMENTS = [
    ("08:00:00", "ready", 605), ("08:10:05", "on_contact", 360), ("08:16:05", "ACW", 60),
    ("08:17:05", "ready", 775), ("08:30:00", "BREAK", 900), ("08:45:00", "ready", 900),
    ("09:00:00", "Team Meeting", 1800), ("09:30:00", "ready", 1800),
]  # fmt: skip
CSV_SEGMENTS = [  # the export is in New York time (UTC-4 in May)
    ("08:00:00", "ready", 310), ("08:05:10", "on_contact", 360), ("08:11:10", "ACW", 90),
    ("08:12:40", "ready", 1040), ("08:30:00", "BREAK", 900), ("08:45:00", "ready", 900),
    ("09:00:00", "7", 1200), ("09:20:00", "ready", 2400),
]  # fmt: skip

GENERIC_CSV_SEGMENTS = [  # ISO times with a +01:00 offset
    ("08:00:00", "ready", 240), ("08:04:00", "on_contact", 360), ("08:10:00", "ACW", 60),
    ("08:11:00", "ready", 1140), ("08:30:00", "BREAK", 600), ("08:40:00", "ready", 600),
    ("08:50:00", "Project Work", 900), ("09:05:00", "ready", 3300),
]  # fmt: skip

CASES = {
    # format: (fixture, extra args, agent id, team, segments, invalid line numbers and error start, unmapped)
    "amazon-connect": (
        "amazon-connect-shift.jsonl", [], "5b1f0a4e-7e1c-4e5d-9c3a-2f6b8d9e0a11", "Billing", CONNECT_SEGMENTS,
        {19: "amazon-connect: not JSON", 20: "amazon-connect: STATE_CHANGE: missing or empty AgentARN"},
        {"Coaching": 1},
    ),
    "twilio": (
        "twilio-shift.txt", [], "WK" + "c3" * 16, "Billing", TWILIO_SEGMENTS,
        {13: "twilio: worker.activity.update: no WorkerSid", 14: "twilio: neither JSON nor a form"},
        {"Coaching Session": 1},
    ),
    "genesys": (
        "genesys-shift.jsonl", [], "2b5c6f1e-4d3a-4c2b-9a1f-0e8d7c6b5a49", None, GENESYS_SEGMENTS,
        {18: "genesys: no presenceDefinition.systemPresence", 19: "genesys: not JSON"},
        {"AWAY (5e9d30d8-5f36-4a3a-a1d2-1b0c1e2d3f40)": 1},
    ),
    "finesse": (
        "finesse-shift.xml", [], "1001001", "FunctionalAgents", FINESSE_SEGMENTS,
        {85: "finesse: XML with a DOCTYPE or ENTITY declaration is refused", 86: "finesse: not well-formed XML"},
        {"Team Meeting": 1},
    ),
    "csv": (
        "avaya-cms-shift.csv", ["--mapping", str(VENDORS / "avaya-cms-mapping.yaml")], "5001", "Billing", CSV_SEGMENTS,
        {13: "csv: timestamp '12 May 2026 05:30' does not match", 14: "csv: row has 2 fields"},
        {},
    ),
    "csv:generic": (
        "generic-shift.csv", ["--mapping", str(VENDORS / "generic-mapping.yaml")], "ana.silva", None, GENERIC_CSV_SEGMENTS,
        {12: "csv: timestamp '2026-05-12 10:10:00' has no offset", 13: "csv: timestamp 'yesterday' does not match"},
        {"Project Work": 1},
    ),
}  # fmt: skip


def _read(out: Path, name: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (out / f"{name}.jsonl").read_bytes().splitlines()]


def _replay(tmp_path: Path, case: str) -> Path:
    fixture, extra = CASES[case][0], CASES[case][1]
    out = tmp_path / case.replace(":", "-")
    code = main(["replay", str(VENDORS / fixture), "--format", case.split(":")[0], *extra, "--policy", str(POLICY),
                 "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    return out


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_shift_gives_the_hand_computed_segments(tmp_path: Path, fmt: str) -> None:
    _, _, agent, team, expected, _, _ = CASES[fmt]
    segments = _read(_replay(tmp_path, fmt), "segments")
    got = [(s["start"][11:19], s["reason_code"] or s["state"], s["duration_s"]) for s in segments]
    assert got == expected
    assert {s["agent_id"] for s in segments} == {agent}
    assert {s["team"] for s in segments} == {team}
    # Back to back: each segment starts where the one before ended.
    assert all(a["end"] == b["start"] for a, b in pairwise(segments))


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_malformed_records_are_dead_letters_with_the_adapters_reason(
    tmp_path: Path, fmt: str
) -> None:
    fixture, _, _, _, _, invalid, _ = CASES[fmt]
    letters = _read(_replay(tmp_path, fmt), "deadletters")
    assert {d["offset"]: d["reason"] for d in letters} == dict.fromkeys(invalid, "invalid")
    lines = (VENDORS / fixture).read_text().splitlines()
    for letter in letters:
        assert letter["error"].startswith(invalid[letter["offset"]])
        # The raw vendor text, from the record's (first) line.
        assert letter["raw"].splitlines()[0] == lines[letter["offset"] - 1]


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_redelivery_is_a_duplicate_and_unmapped_names_are_counted(tmp_path: Path, fmt: str) -> None:
    summary = orjson.loads((_replay(tmp_path, fmt) / "summary.json").read_bytes())
    assert summary["events"]["duplicate"] == 1
    assert summary["events"]["invalid"] == 2
    assert summary["events"]["late"] == 0
    assert summary["adapter"]["format"] == fmt.split(":")[0]
    assert summary["adapter"]["unmapped_states"] == CASES[fmt][6]


def test_csv_reports_reason_values_missing_from_the_mapping(tmp_path: Path) -> None:
    summary = orjson.loads((_replay(tmp_path, "csv") / "summary.json").read_bytes())
    assert summary["adapter"]["unmapped_reasons"] == {"7": 1}


def test_vendor_summary_counts_the_vendor_files_lines(tmp_path: Path) -> None:
    summary = orjson.loads((_replay(tmp_path, "amazon-connect") / "summary.json").read_bytes())
    fixture_lines = (VENDORS / CASES["amazon-connect"][0]).read_bytes().count(b"\n")
    assert summary["lines"] == fixture_lines
    assert summary["blank_lines"] == 1


def test_csv_without_mapping_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["replay", str(VENDORS / "avaya-cms-shift.csv"), "--format", "csv", "--policy", str(POLICY),
                 "--out", str(tmp_path), "--quiet"])  # fmt: skip
    assert code == 2
    assert "--format csv needs --mapping FILE" in capsys.readouterr().err


def test_mapping_is_only_for_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["replay", str(VENDORS / "twilio-shift.txt"), "--format", "twilio", "--mapping", "x.yaml",
                 "--policy", str(POLICY), "--out", str(tmp_path), "--quiet"])  # fmt: skip
    assert code == 2
    assert "--mapping is only for --format csv" in capsys.readouterr().err


def test_engine_dead_letters_name_the_vendor_line_and_record(tmp_path: Path) -> None:
    """A late event made from a vendor record: its line number and text, and the event made."""
    source = (VENDORS / "genesys-shift.jsonl").read_bytes().splitlines()
    late = source[3]  # IDLE at 08:16:00, after the agent's 08:30 Break was applied (by 08:45 IDLE)
    path = tmp_path / "late.jsonl"
    path.write_bytes(b"\n".join([*source[:2], source[4], source[8], late]) + b"\n")
    out = tmp_path / "out"
    assert main(["replay", str(path), "--format", "genesys", "--policy", str(POLICY), "--out", str(out),
                 "--quiet"]) == 0  # fmt: skip
    [letter] = _read(out, "deadletters")
    assert letter["reason"] == "late"
    assert letter["offset"] == 5
    assert letter["raw"] == late.decode()
    assert '"type":"ready"' in letter["error"]


def test_finesse_records_span_lines_and_a_truncated_one_does_not_swallow_the_next() -> None:
    from auxstream.adapters.replay import records_of

    lines = [
        b"<Update><data>",
        b"<user>cut off",
        b"<?xml version='1.0'?>",
        b"<Update>",
        b"</Update>",
        b"",
        b"<Update/>",
    ]
    assert list(records_of(lines, b"</Update>")) == [
        (1, b"<Update><data>\n<user>cut off"),
        (3, b"<?xml version='1.0'?>\n<Update>\n</Update>"),
        (6, b""),
        (7, b"<Update/>"),
    ]
