"""`auxstream codes lint`: each good-practice check, and the command's output and exit codes."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest

import auxstream.cli
from auxstream.domain.policy import CodePolicy, Policy
from auxstream.policy import load_policy
from auxstream.policy.lint import (
    Finding,
    bodily_function_named,
    count_by_level,
    lint_policy,
    meaning_keys,
)
from auxstream.policy.loader import parse_policy_file

FIXTURES = Path(__file__).parent / "fixtures" / "policies"
EXAMPLE = FIXTURES / "example.yaml"
PROBLEMS = FIXTURES / "lint_problems.yaml"


def _policy(*codes: CodePolicy, after: str | None = None) -> Policy:
    return Policy(codes={code.code: code for code in codes}, after_contact_code=after)


def _tidy(code: str, label: str | None = None, **fields: object) -> CodePolicy:
    """A code that no check objects to on its own (categorised, check-in)."""
    return CodePolicy(code, label or code.title(), "break", check_in=True, **fields)  # type: ignore[arg-type]


def _levels(findings: list[Finding]) -> list[tuple[str, str | None]]:
    return [(finding.level, finding.code) for finding in findings]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only this feature's subcommand: the other feature modules are built in parallel and
    # an unfinished one must not break these tests.
    monkeypatch.setattr(auxstream.cli, "_FEATURES", ("auxstream.policy.cli",))


def test_the_example_policy_follows_every_seed_of_good_practice() -> None:
    assert lint_policy(load_policy(EXAMPLE)) == []


def test_each_problem_in_the_problem_file_is_found() -> None:
    findings = lint_policy(load_policy(PROBLEMS))

    assert sorted(_levels(findings), key=str) == sorted(
        [
            ("error", "TOILET"),  # names a bodily function
            ("error", "PERS"),  # same label as BREAK ("Break" / " break ")
            ("warning", "BRK"),  # same meaning as BREAK
            ("warning", "PERS"),  # same meaning as BRK
            ("warning", "MEETING"),  # no category
            ("warning", None),  # no check-in code
            ("warning", "WRAP"),  # after-contact code not productive
        ],
        key=str,
    )
    messages = {finding.code: finding.message for finding in findings if finding.level == "error"}
    assert messages["TOILET"] == (
        "Code TOILET names a bodily function (toilet). "
        "Use a single PERSONAL code instead of codes that name a bodily function."
    )
    assert 'Codes BREAK and PERS have the same label "Break"' in messages["PERS"]


def test_lint_accepts_the_file_model_as_well_as_the_core_policy() -> None:
    model = parse_policy_file(PROBLEMS.read_text())
    assert lint_policy(model) == lint_policy(load_policy(PROBLEMS))


@pytest.mark.parametrize(
    ("count", "level"), [(8, None), (9, "warning"), (12, "warning"), (13, "error")]
)
def test_more_than_eight_codes_warns_and_more_than_twelve_is_an_error(
    count: int, level: str | None
) -> None:
    codes = [_tidy(f"CODE{letter}", f"Reason {letter}") for letter in "ABCDEFGHIJKLMNOP"[:count]]
    findings = [f for f in lint_policy(_policy(*codes)) if f.code is None]

    assert [f.level for f in findings] == ([level] if level else [])
    if level:
        assert f"The policy has {count} codes" in findings[0].message


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("TOILET", "toilet"),
        ("Bathroom break", "bathroom"),
        ("Comfort Break", "comfort break"),
        ("BIO_BREAK", "bio"),
        ("biobreak", "biobreak"),
        ("Call of nature", "nature"),
        ("WC", "wc"),
        ("loo", "loo"),
        ("Rest room", "rest room"),
        ("Potty", "potty"),
        ("PEE", "pee"),
        ("Lavatory", "lavatory"),
        ("Restroom", "restroom"),
    ],
)
def test_codes_naming_a_bodily_function_are_found_by_whole_word(text: str, word: str) -> None:
    assert bodily_function_named(text) == word


@pytest.mark.parametrize(
    "text", ["Biology course", "Lookup", "Personal", "Break", "Peer review", "Natural break", ""]
)
def test_ordinary_words_containing_those_letters_are_not_flagged(text: str) -> None:
    assert bodily_function_named(text) is None


def test_a_label_naming_a_bodily_function_is_an_error_too() -> None:
    findings = lint_policy(_policy(_tidy("P1", "Toilet break")))
    assert _levels(findings) == [("error", "P1")]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("BREAK", "Break"), ("BRK", "Short rest")),
        (("LUNCH", "Lunch"), ("MEAL", "Meal")),
        (("PERSONAL", "Personal"), ("PERS", "Own time")),
        (("TRAINING", "Training"), ("COURSE", "Training session")),
        (("ACW", "After-call work"), ("WRAP", "Wrap up")),
    ],
)
def test_two_codes_with_one_meaning_warn(first: tuple[str, str], second: tuple[str, str]) -> None:
    findings = lint_policy(_policy(_tidy(*first), _tidy(*second)))

    assert _levels(findings) == [("warning", second[0])]
    assert f"Codes {first[0]} and {second[0]} look like the same thing" in findings[0].message


def test_meaning_keys_are_explainable() -> None:
    assert meaning_keys(CodePolicy("BRK", "Break time")) == {"break"}
    assert meaning_keys(CodePolicy("MEAL", "Lunch break")) == {"lunch"}
    assert meaning_keys(CodePolicy("BREAK", None)) == {"break"}


def test_same_label_ignores_case_and_spaces_but_different_labels_pass() -> None:
    same = lint_policy(_policy(_tidy("A1", "Time Out"), _tidy("A2", "time  out")))
    assert _levels(same) == [("error", "A2")]
    assert lint_policy(_policy(_tidy("LUNCH", "Lunch"), _tidy("COACH", "Coaching"))) == []


def test_no_category_no_check_in_and_unproductive_after_contact_code_warn() -> None:
    policy = _policy(CodePolicy("ACW", "After-call work", "non_call_work"), after="ACW")
    assert _levels(lint_policy(policy)) == [("warning", None), ("warning", "ACW")]
    uncategorised = lint_policy(_policy(_tidy("BREAK"), CodePolicy("ADMIN", "Admin")))
    assert _levels(uncategorised) == [("warning", "ADMIN")]
    assert "has no category" in uncategorised[0].message


def test_usage_finds_unused_codes_and_unknown_codes_with_counts() -> None:
    policy = load_policy(EXAMPLE)
    used = {"BREAK": 40, "LUNCH": 12, "PERSONAL": 3, "TIMEOUT": 1, "SMOKE": 7, "BRB": 2, "X": 0}

    findings = lint_policy(policy, used)

    # ACW is entered by contact_end, so it is never "unused"; TRAINING is.
    assert _levels(findings) == [("warning", "TRAINING"), ("warning", None)]
    assert "review it and retire it" in findings[0].message
    assert "SMOKE (7), BRB (2)." in findings[1].message
    assert lint_policy(policy, None) == []


def test_team_tables_are_linted_without_repeating_global_findings() -> None:
    policy = Policy(
        codes={"BREAK": _tidy("BREAK"), "ADMIN": CodePolicy("ADMIN", "Admin")},
        team_codes={
            "north": {"BREAK": _tidy("BREAK"), "ADMIN": CodePolicy("ADMIN", "Admin")},
            "south": {
                "BREAK": _tidy("BREAK"),
                "ADMIN": CodePolicy("ADMIN", "Admin"),
                "LOO": _tidy("LOO", "Quick loo"),
            },
        },
    )
    findings = lint_policy(policy)

    assert _levels(findings) == [("warning", "ADMIN"), ("error", "LOO")]
    assert findings[1].message.startswith("Team south: Code LOO names a bodily function")
    assert count_by_level(findings) == {"error": 1, "warning": 1}


def test_cli_exits_0_with_no_findings(cli: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert auxstream.cli.main(["codes", "lint", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"No findings for {EXAMPLE} (version ")


def test_cli_groups_findings_by_level_and_exits_1_on_errors(
    cli: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert auxstream.cli.main(["codes", "lint", str(PROBLEMS)]) == 1
    lines = capsys.readouterr().out.splitlines()

    assert lines[0] == "Errors:"
    assert lines[3] == "Warnings:"
    assert all(line.startswith("  - ") for line in lines[1:3] + lines[4:9])
    assert lines[-1].startswith(f"2 errors, 5 warnings for {PROBLEMS} (version ")


def test_cli_exits_0_when_there_are_only_warnings(
    cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "warn.yaml"
    policy.write_text("timezone: UTC\ninterval_minutes: 15\ncodes:\n  - {code: ADMIN}\n")
    assert auxstream.cli.main(["codes", "lint", str(policy)]) == 0
    assert "0 errors, 2 warnings" in capsys.readouterr().out


def test_cli_exits_2_on_an_invalid_policy_without_a_traceback(
    cli: None, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = FIXTURES / "typo_key.yaml"
    assert auxstream.cli.main(["codes", "lint", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    expected = "codes[1] (BREAK): max_ocurrence_s: unknown field; did you mean max_occurrence_s?"
    assert captured.err == f"{bad}:9: {expected}\n"
    assert auxstream.cli.main(["codes", "lint", str(FIXTURES / "missing.yaml")]) == 2
    assert "no such policy file" in capsys.readouterr().err


def _events(*reason_codes: str) -> list[str]:
    lines = [
        json.dumps({"type": "not_ready", "reason_code": code, "agent_id": "a1"})
        for code in reason_codes
    ]
    lines.append(json.dumps({"type": "login", "reason_code": "BREAK"}))
    lines.append(json.dumps({"type": "ready", "reason_code": "IGNORED"}))
    lines += ["not json", "[1, 2]", "", '{"type": "not_ready", "reason_code": null}']
    return lines


def test_cli_counts_codes_in_events_and_skips_unparsable_lines(
    cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl.gz"
    with gzip.open(events, "wt", encoding="utf-8") as stream:
        stream.write("\n".join(_events("LUNCH", "PERSONAL", "TIMEOUT", "TRAINING", "SMOKE")))

    assert auxstream.cli.main(["codes", "lint", str(EXAMPLE), "--events", str(events)]) == 0
    out = capsys.readouterr().out
    assert "IGNORED" not in out
    assert "The events use codes the policy does not define: SMOKE (1)." in out
    assert f"Skipped 2 line(s) of {events} that were not JSON objects." in out
    assert "0 errors, 1 warning for" in out


def test_cli_reads_events_from_stdin(
    cli: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = "\n".join(_events("LUNCH")).encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))

    assert auxstream.cli.main(["codes", "lint", str(EXAMPLE), "--events", "-"]) == 0
    out = capsys.readouterr().out
    assert "Code TRAINING was not used" in out
    assert "Code BREAK was not used" not in out  # the login straight into BREAK counts


def test_cli_exits_2_when_the_events_cannot_be_read(
    cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.jsonl"
    assert auxstream.cli.main(["codes", "lint", str(EXAMPLE), "--events", str(missing)]) == 2
    assert "cannot read the events: No such file or directory" in capsys.readouterr().err
    broken = tmp_path / "cut.jsonl.gz"
    broken.write_bytes(gzip.compress(b'{"type": "login"}\n' * 100)[:40])
    assert auxstream.cli.main(["codes", "lint", str(EXAMPLE), "--events", str(broken)]) == 2


def test_codes_without_an_action_prints_help_and_exits_2(
    cli: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert auxstream.cli.main(["codes"]) == 2
    assert "lint" in capsys.readouterr().err
