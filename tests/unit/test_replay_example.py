"""The worked example (examples/example-day.jsonl): `auxstream replay` gives exactly its figures."""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from auxstream.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = ("segments", "intervals", "durations", "detections", "checkins", "deadletters")


def _read(out: Path, name: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (out / f"{name}.jsonl").read_bytes().splitlines()]


def _replay_example(out: Path, *options: str) -> int:
    """``auxstream replay`` of the worked example into ``out``; its exit code."""
    events, policy = EXAMPLES / "example-day.jsonl", EXAMPLES / "policy.yaml"
    return main(["replay", str(events), "--policy", str(policy), "--out", str(out), *options])


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("example")
    assert _replay_example(out, "--quiet") == 0
    return out


def test_writes_the_six_record_files_and_the_summary(example: Path) -> None:
    assert sorted(p.name for p in example.iterdir()) == sorted(
        [f"{n}.jsonl" for n in FILES] + ["summary.json"]
    )


def test_segments_summed_per_agent(example: Path) -> None:
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for seg in _read(example, "segments"):
        totals[seg["agent_id"]][seg["reason_code"] or seg["state"]] += seg["duration_s"]
    assert totals == {
        "E1": {"ready": 5580, "on_contact": 360, "ACW": 40, "TIMEOUT": 320, "BREAK": 1200},
        "E2": {"ready": 1560, "BREAK": 1, "PERSONAL": 120, "TRAINING": 119},
        "E3": {"ready": 1920, "on_contact": 780, "ACW": 60, "PERSONAL": 900},
    }
    assert {agent: sum(codes.values()) for agent, codes in totals.items()} == {
        "E1": 7500,
        "E2": 1800,
        "E3": 3660,
    }


def test_detections(example: Path) -> None:
    found = sorted(
        (d["rule"], d["agent_id"], d["ts"], tuple(d["evidence_event_ids"]))
        for d in _read(example, "detections")
    )
    assert found == [
        ("aux_after_contact", "E3", "2026-05-12T08:44:10.000Z", ("e3-3", "e3-7", "e3-11")),
        ("occurrence_limit", "E1", "2026-05-12T09:15:00.000Z", ("e1-5",)),
        ("rapid_switching", "E2", "2026-05-12T08:04:00.000Z", ("e2-1", "e2-2", "e2-3", "e2-4")),
    ]


def test_checkins_dead_letters_and_duplicates(example: Path) -> None:
    checkins = _read(example, "checkins")
    assert [(c["agent_id"], c["reason_code"], c["ts"]) for c in checkins] == [
        ("E1", "TIMEOUT", "2026-05-12T08:06:40.000Z")
    ]
    dead = _read(example, "deadletters")
    assert [(d["reason"], orjson.loads(d["raw"])["event_id"]) for d in dead] == [
        ("late", "e2-6"),
        ("invalid", "bad-1"),
    ]
    assert [d["offset"] for d in dead] == [16, 32]
    summary = orjson.loads((example / "summary.json").read_bytes())
    assert summary["events"] == {
        "applied": 29,
        "noop": 0,
        "duplicate": 1,
        "late": 1,
        "invalid": 1,
        "total": 32,
    }
    assert summary["detections"]["rapid_switching"] == 1
    assert summary["records"]["checkins"] == 1


def test_intervals_of_e1(example: Path) -> None:
    rows = [
        (
            i["interval_start"][11:16],
            i["logged_in_s"],
            i["ready_s"],
            i["on_contact_s"],
            i["not_ready_by_code"],
        )
        for i in _read(example, "intervals")
        if i["agent_id"] == "E1"
    ]
    assert rows == [
        ("07:45", 300, 300, 0, {}),
        ("08:00", 900, 180, 360, {"ACW": 40, "TIMEOUT": 320}),
        ("08:15", 900, 900, 0, {}),
        ("08:30", 900, 900, 0, {}),
        ("08:45", 900, 900, 0, {}),
        ("09:00", 900, 0, 0, {"BREAK": 900}),
        ("09:15", 900, 600, 0, {"BREAK": 300}),
        ("09:30", 900, 900, 0, {}),
        ("09:45", 900, 900, 0, {}),
    ]


def test_last_rolling_duration_per_agent_and_code(example: Path) -> None:
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in _read(example, "durations"):
        last[(rec["agent_id"], rec["reason_code"])] = rec
    picked = {
        key: (rec["day"], rec["today_s"], rec["today_count"])
        for key, rec in last.items()
        if key in {("E1", "BREAK"), ("E2", "PERSONAL"), ("E3", "ACW"), ("E3", "PERSONAL")}
    }
    assert picked == {
        ("E1", "BREAK"): ("2026-05-12", 1200, 1),
        ("E2", "PERSONAL"): ("2026-05-12", 120, 2),
        ("E3", "ACW"): ("2026-05-12", 60, 3),
        ("E3", "PERSONAL"): ("2026-05-12", 900, 3),
    }


def test_gzip_and_stdin_give_the_same_files(example: Path, tmp_path: Path) -> None:
    data = (EXAMPLES / "example-day.jsonl").read_bytes()
    gz = tmp_path / "day.jsonl.gz"
    gz.write_bytes(gzip.compress(data))
    assert (
        main(
            [
                "replay",
                str(gz),
                "--policy",
                str(EXAMPLES / "policy.yaml"),
                "--out",
                str(tmp_path / "gz"),
                "--quiet",
            ]
        )
        == 0
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "auxstream",
            "replay",
            "-",
            "--policy",
            str(EXAMPLES / "policy.yaml"),
            "--out",
            str(tmp_path / "stdin"),
            "--quiet",
        ],
        input=data,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for name in FILES:
        expected = (example / f"{name}.jsonl").read_bytes()
        assert (tmp_path / "gz" / f"{name}.jsonl").read_bytes() == expected
        assert (tmp_path / "stdin" / f"{name}.jsonl").read_bytes() == expected


def test_unreadable_input_and_bad_policy_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "replay",
                str(tmp_path / "missing.jsonl"),
                "--policy",
                str(EXAMPLES / "policy.yaml"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "missing.jsonl does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (EXAMPLES / "policy.yaml")
        .read_text()
        .replace("interval_minutes: 15", "interval_minutes: 20")
    )
    assert (
        main(
            [
                "replay",
                str(EXAMPLES / "example-day.jsonl"),
                "--policy",
                str(bad),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "bad.yaml:2" in err and "interval_minutes" in err
    broken_gz = tmp_path / "broken.jsonl.gz"
    broken_gz.write_bytes(gzip.compress((EXAMPLES / "example-day.jsonl").read_bytes())[:-12])
    assert (
        main(
            [
                "replay",
                str(broken_gz),
                "--policy",
                str(EXAMPLES / "policy.yaml"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "cannot read" in capsys.readouterr().err


def test_summary_is_printed_as_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _replay_example(tmp_path) == 0
    shown = capsys.readouterr().out
    assert "events applied" in shown and "rapid_switching" in shown and "deadletters" in shown


@pytest.mark.parametrize("pure", [False, True])
def test_an_output_that_cannot_be_written_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pure: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder where segments.jsonl must go: the compiled and the Python sink both fail
    with a message naming the file, not a traceback."""
    if pure:
        monkeypatch.setattr("auxstream.replay.run._CSortedFile", None)
    out = tmp_path / "o"
    (out / "segments.jsonl").mkdir(parents=True)
    assert _replay_example(out) == 2
    err = capsys.readouterr().err
    assert f"cannot write the output in {out}: Is a directory" in err
    assert "segments.jsonl" in err
    assert not list(out.glob("auxstream-replay-*"))  # no spill folder left behind
