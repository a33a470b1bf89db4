"""Loading the policy file: values, team merging, versions, and messages that point at the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from auxstream.domain.policy import CATEGORIES, CodePolicy, Policy
from auxstream.policy import PolicyError, load_policy, policy_from_text
from auxstream.policy.loader import parse_policy_file
from auxstream.policy.model import Category, PolicyFile

FIXTURES = Path(__file__).parent / "fixtures" / "policies"
EXAMPLE = FIXTURES / "example.yaml"


def _error_for(text: str, name: str = "policy.yaml") -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        policy_from_text(text, name)
    return caught.value


def test_the_example_policy_loads_with_the_values_in_the_file() -> None:
    policy = load_policy(EXAMPLE)

    assert isinstance(policy, Policy)
    assert policy.timezone == "Europe/London"
    assert policy.interval_minutes == 15
    assert policy.grace_s == 2
    assert policy.after_contact_code == "ACW"
    assert policy.stuck_after_s == 43200
    assert list(policy.codes) == ["ACW", "BREAK", "LUNCH", "TRAINING", "PERSONAL", "TIMEOUT"]
    assert policy.codes["ACW"] == CodePolicy(
        "ACW", "After-call work", "non_call_work", paid=True, productive=True, max_occurrence_s=120
    )
    assert policy.codes["BREAK"].max_daily_s == 1800
    assert policy.codes["LUNCH"].paid is False
    assert policy.codes["TRAINING"].max_occurrence_s is None
    assert policy.codes["TIMEOUT"].check_in is True
    assert policy.codes["TIMEOUT"].category == "wellbeing"
    rules = policy.rules
    assert rules.rapid_switching is not None and rules.rapid_switching.min_switches == 4
    assert rules.rapid_switching.window_s == 600
    assert rules.aux_after_contact is not None and rules.aux_after_contact.ready_gap_s == 5
    assert rules.short_aux is not None and (rules.short_aux.min_count, rules.short_aux.max_s) == (
        3,
        30,
    )
    assert len(policy.version) == 12 and int(policy.version, 16) >= 0


def test_a_team_override_changes_only_the_fields_it_gives() -> None:
    policy = load_policy(EXAMPLE)

    collections_break = policy.code_for("collections", "BREAK")
    assert collections_break == CodePolicy(
        "BREAK", "Break", "break", paid=True, max_occurrence_s=900, max_daily_s=2400
    )
    assert policy.code_for("collections", "LUNCH") == policy.codes["LUNCH"]
    assert set(policy.team_codes["collections"]) == set(policy.codes)
    assert policy.code_for(None, "BREAK") == policy.codes["BREAK"]
    assert policy.code_for("another team", "BREAK") == policy.codes["BREAK"]


def test_teams_can_clear_a_limit_add_their_own_code_and_rules_can_be_switched_off() -> None:
    policy = load_policy(FIXTURES / "team_only_code.yaml")

    assert policy.after_contact_code is None
    assert policy.grace_s == 0
    assert policy.codes["7"].label == "Personal"  # a numeric code stays text
    outbound = policy.team_codes["outbound"]
    assert outbound["BREAK"] == CodePolicy(
        "BREAK", "Short break", "break", paid=True, max_occurrence_s=600, max_daily_s=1800
    )
    assert outbound["LUNCH"].max_occurrence_s is None  # explicit null clears the limit
    assert outbound["DIAL"] == CodePolicy("DIAL", "Dialler down", "operational", paid=True)
    assert policy.code_for(None, "DIAL") is None
    assert policy.rules.rapid_switching is None
    assert policy.rules.short_aux is not None
    assert (policy.rules.short_aux.max_s, policy.rules.short_aux.min_count) == (20, 3)
    assert policy.rules.aux_after_contact is not None  # left out: defaults


@pytest.mark.parametrize(
    ("fixture", "line", "fragments"),
    [
        (
            "typo_key.yaml",
            9,
            ["codes[1] (BREAK): max_ocurrence_s:", "did you mean max_occurrence_s?"],
        ),
        (
            "negative_limit.yaml",
            10,
            ["codes[2] (LUNCH): max_occurrence_s: Input should be greater than 0"],
        ),
        ("bad_category.yaml", 11, ["codes[3] (TRAINING): category:", "'wellbeing'"]),
        ("bad_timezone.yaml", 2, ["timezone: unknown time zone 'Europe/Londres'"]),
        ("interval_20.yaml", 3, ["interval_minutes: Input should be 15 or 30"]),
        ("duplicate_code.yaml", 13, ["codes[5] (PERSONAL): code:", "appears twice", "[3]"]),
        ("after_contact_undefined.yaml", 5, ["after_contact_code: WRAP is not one of the codes"]),
        ("not_yaml.yaml", 11, ["not valid YAML"]),
    ],
)
def test_a_bad_file_is_reported_at_its_line_with_entry_and_field(
    fixture: str, line: int, fragments: list[str]
) -> None:
    path = FIXTURES / fixture
    with pytest.raises(PolicyError) as caught:
        load_policy(path)

    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    for fragment in fragments:
        assert fragment in message
    assert "\n" not in message  # one problem, one line


def test_a_missing_file_is_named() -> None:
    with pytest.raises(PolicyError, match=r"nowhere\.yaml: no such policy file"):
        load_policy(FIXTURES / "nowhere.yaml")


def test_a_directory_binary_or_empty_file_gets_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="is a directory"):
        load_policy(tmp_path)
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes(b"timezone: UTC\nlabel: caf\xe9\n")
    with pytest.raises(PolicyError, match=r"latin1\.yaml:2: not UTF-8"):
        load_policy(latin)
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    with pytest.raises(PolicyError, match="the file is empty"):
        load_policy(empty)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- BREAK\n- LUNCH\n", "policy.yaml:1: the top level must be a mapping"),
        ("just words\n", "not the single value 'just words'"),
        ("timezone: UTC\ninterval_minutes: 15\ncodes: []\ncodes: []\n", "policy.yaml:4: codes:"),
        ("a: &a [*a]\n", "an alias refers to itself"),
        ("a: !!python/object/apply:os.system [ls]\n", "not valid YAML"),
        ("a: 2024-02-30\n", "not valid YAML"),
        ("x: 1\n---\ny: 2\n", "policy.yaml:2: not valid YAML"),
        ("timezone: UTC\n\tinterval_minutes: 15\n", "policy.yaml:2: not valid YAML"),
    ],
)
def test_text_that_is_not_a_policy_is_refused_plainly(text: str, expected: str) -> None:
    assert expected in str(_error_for(text))


def test_an_alias_bomb_is_measured_not_expanded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [*a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}]" for n in range(1, 30)]
    assert "more than" in str(_error_for("\n".join(lines)))


def test_every_problem_is_listed_in_file_order() -> None:
    text = (
        "timezone: UTC\n"
        "interval_minutes: 45\n"
        "codes:\n"
        "  - code: BREAK\n"
        "    max_daily_s: 0\n"
        "  - label: No code\n"
        "teams:\n"
        "  north:\n"
        "    codes:\n"
        "      - {code: BREAK, paid: maybe}\n"
        "rules:\n"
        "  short_aux: {min_count: 2.5}\n"
    )
    error = _error_for(text)

    assert error.problems == (
        "policy.yaml:2: interval_minutes: Input should be 15 or 30",
        "policy.yaml:5: codes[0] (BREAK): max_daily_s: Input should be greater than 0",
        "policy.yaml:6: codes[1]: code: required field is missing",
        "policy.yaml:10: teams.north.codes[0] (BREAK): paid: Input should be a valid boolean",
        "policy.yaml:12: rules.short_aux.min_count: Input should be a valid integer",
    )
    assert str(error) == "\n".join(error.problems)


def test_missing_required_settings_and_unknown_top_level_keys() -> None:
    error = _error_for("timzone: UTC\n")
    assert "policy.yaml:1: timzone: unknown field; did you mean timezone?" in error.problems
    assert "policy.yaml:1: interval_minutes: required field is missing" in error.problems


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("{code: ''}", "code: String should have at least 1 character"),
        ("{code: ' BREAK'}", "must not start or end with spaces"),
        ("{code: BREAK, max_occurrence_s: .inf}", "finite number"),
        ("{code: BREAK, max_occurrence_s: '900'}", "valid number"),
        ("{code: BREAK, productive: null}", "valid boolean"),
        ("{code: BREAK, max_daily_s: true}", "valid number"),
    ],
)
def test_code_entries_are_checked_strictly(entry: str, expected: str) -> None:
    text = f"timezone: UTC\ninterval_minutes: 15\ncodes:\n  - {entry}\n"
    assert expected in str(_error_for(text))


def test_timezones_that_depend_on_the_server_are_refused() -> None:
    assert "depends on the server" in str(_error_for("timezone: localtime\ninterval_minutes: 15\n"))


def test_the_version_ignores_cosmetics_and_follows_content(tmp_path: Path) -> None:
    original = EXAMPLE.read_text()
    version = load_policy(EXAMPLE).version
    data = yaml.safe_load(original)
    data["grace_s"] = 2.0  # the default, written out
    data["codes"].reverse()  # code order changes no detection
    reformatted = "# re-saved by an editor\n\n" + yaml.safe_dump(data, default_flow_style=False)
    commented = original.replace("grace_s: 2", "grace_s: 2     # seconds").replace(
        "  - {", "  -   {"
    )

    assert policy_from_text(reformatted, "a").version == version
    assert policy_from_text(commented, "b").version == version
    assert policy_from_text(original.replace("900", "901"), "c").version != version
    team_cleared = original.replace(
        "max_daily_s: 2400}", "max_daily_s: 2400, max_occurrence_s: null}"
    )
    assert policy_from_text(team_cleared, "d").version != version


def test_the_model_is_frozen_and_shares_the_core_categories() -> None:
    model = parse_policy_file(EXAMPLE.read_text())
    with pytest.raises(ValidationError):
        cast(Any, model).timezone = "UTC"  # Any: the type checker may know it is frozen
    assert Category.__args__ == CATEGORIES  # type: ignore[attr-defined]
    assert isinstance(model, PolicyFile)


_YAMLISH_ALPHABET = "ab: -[]{},&*!|>#'\"\n\t0.9~?@%"
_YAMLISH = st.text(alphabet=_YAMLISH_ALPHABET, max_size=120)
_FIELD_NAMES = st.sampled_from(
    ["timezone", "interval_minutes", "grace_s", "codes", "after_contact_code", "stuck_after_s",
     "rules", "teams", "code", "label", "category", "max_occurrence_s", "short_aux", "min_count"]
)  # fmt: skip
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-5, 100)
    | st.floats(allow_nan=True)
    | st.text(max_size=8)
)
_TREES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_FIELD_NAMES, inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, database=None)
@given(_YAMLISH)
def test_arbitrary_yamlish_text_gives_a_policy_or_a_policy_error(text: str) -> None:
    try:
        policy_from_text(text, "fuzz.yaml")
    except PolicyError as exc:
        assert str(exc).startswith("fuzz.yaml")


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.dictionaries(_FIELD_NAMES, _TREES, max_size=8))
def test_arbitrary_policy_shaped_data_gives_a_policy_or_a_policy_error(
    data: dict[str, object],
) -> None:
    base: dict[str, object] = {"timezone": "UTC", "interval_minutes": 15}
    try:
        policy_from_text(yaml.safe_dump({**base, **data}), "fuzz.yaml")
    except PolicyError as exc:
        assert str(exc).startswith("fuzz.yaml")


@settings(max_examples=300, deadline=None, database=None)
@given(st.data())
def test_the_example_with_a_random_edit_gives_a_policy_or_a_policy_error(
    data: st.DataObject,
) -> None:
    original = EXAMPLE.read_text()
    start = data.draw(st.integers(0, len(original)))
    end = data.draw(st.integers(start, min(len(original), start + 12)))
    edited = (
        original[:start]
        + data.draw(st.text(alphabet=_YAMLISH_ALPHABET, max_size=12))
        + original[end:]
    )
    try:
        policy_from_text(edited, "fuzz.yaml")
    except PolicyError as exc:
        assert str(exc).startswith("fuzz.yaml")
