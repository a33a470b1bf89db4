"""The wire records' models, their committed JSON Schemas, the samples and the real output.

Four things must agree: the pydantic models in ``auxstream.wire``, the generated files in
``schemas/``, the hand-written samples in ``schemas/samples/``, and what the fast converters
in ``auxstream.records`` (and the hot-path input validation) actually do. Each test below
pins one pair of them together.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, get_args

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from auxstream import records, schemas, wire
from auxstream.domain import events, outputs, rules, state
from auxstream.domain.events import InvalidEvent, event_from_dict
from auxstream.domain.outputs import CheckIn, DeadLetter, Detection, Duration, Interval, Segment
from auxstream.domain.policy import CodePolicy, Policy
from auxstream.replay.report import summary_dict
from auxstream.replay.runner import Replayer
from auxstream.wire import types as wire_types

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "schemas"
SAMPLE_DIR = SCHEMA_DIR / "samples"

# The replay file stem (records.KINDS) -> the model documenting its lines.
MODEL_OF_KIND: dict[str, type[BaseModel]] = {
    "segments": wire.SegmentRecord,
    "intervals": wire.IntervalRecord,
    "durations": wire.DurationRecord,
    "detections": wire.DetectionRecord,
    "checkins": wire.CheckInRecord,
    "deadletters": wire.DeadLetterRecord,
}


def _samples(validity: str, record: str = "*") -> list[Any]:
    found = sorted(SAMPLE_DIR.glob(f"{validity}/{record}/*.json"))
    return [pytest.param(path, id=f"{path.parent.name}/{path.stem}") for path in found]


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _check_wire(model: type[BaseModel], record: dict[str, Any]) -> None:
    """Validate the bytes that go on the wire, not the dict: orjson's output is the contract."""
    model.model_validate(orjson.loads(records.dumps(record)))


# ---------------------------------------------------------------- models <-> schemas/


def test_committed_schemas_match_the_models() -> None:
    problems = schemas.drifted(SCHEMA_DIR)
    assert not problems, (
        "schemas/ is out of date with the models in auxstream/wire/; "
        "run `python -m auxstream.schemas` and commit the result:\n" + "\n".join(problems)
    )


def test_check_mode_names_each_drifted_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert schemas.main(["--out", str(tmp_path)]) == 0
    assert schemas.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "segment.schema.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "interval.schema.json").unlink()
    (tmp_path / "shift.schema.json").write_text("{}\n", encoding="utf-8")
    capsys.readouterr()
    assert schemas.main(["--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "segment.schema.json: out of date" in err
    assert "interval.schema.json: missing" in err
    assert "shift.schema.json: no such record" in err
    assert "python -m auxstream.schemas" in err
    assert schemas.main(["--out", str(tmp_path)]) == 0
    assert not (tmp_path / "shift.schema.json").exists()
    assert schemas.drifted(tmp_path) == []


@pytest.mark.parametrize("name", list(schemas.RECORDS))
def test_schema_file_is_self_describing(name: str) -> None:
    """Without a JSON Schema library: the structure consumers and reviewers rely on."""
    text = (SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8")
    assert text.endswith("}\n")
    schema = json.loads(text)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:auxstream:schema:{name}"
    assert schema["title"] and schema["description"]
    for obj in [schema, *schema.get("$defs", {}).values()]:
        assert obj["type"] == "object"
        assert obj["description"], obj["title"]
        for field, spec in obj["properties"].items():
            assert spec.get("description"), f"{obj['title']}.{field} has no description"
        if name == "agent-event":
            assert obj["additionalProperties"] is True
        else:
            assert obj["additionalProperties"] is False
            assert set(obj["required"]) == set(obj["properties"]), "outputs write every field"


def test_enums_match_the_core() -> None:
    assert set(get_args(wire_types.EventType)) == events.EVENT_TYPES
    assert set(get_args(wire_types.State)) == set(state.STATES) - {state.LOGGED_OUT}
    assert get_args(wire_types.Rule) == rules.RULES
    assert set(rules.SEVERITY.values()) <= set(get_args(wire_types.Severity))
    assert set(get_args(wire_types.DeadLetterReason)) == {outputs.INVALID, outputs.LATE}
    assert set(wire.DetectionCounts.model_fields) == set(rules.RULES)
    assert {name for name, _ in records.KINDS.values()} == set(MODEL_OF_KIND)
    assert set(wire.RecordCounts.model_fields) == set(MODEL_OF_KIND)


# ---------------------------------------------------------------- samples


def test_every_record_has_valid_and_invalid_samples() -> None:
    for validity in ("valid", "invalid"):
        folders = {path.name for path in (SAMPLE_DIR / validity).iterdir()}
        assert folders == set(schemas.RECORDS), validity
        for folder in folders:
            assert list((SAMPLE_DIR / validity / folder).glob("*.json")), f"{validity}/{folder}"


@pytest.mark.parametrize("path", _samples("valid"))
def test_valid_sample_passes_the_model(path: Path) -> None:
    schemas.RECORDS[path.parent.name].model_validate(_load(path))


@pytest.mark.parametrize("path", _samples("invalid"))
def test_invalid_sample_fails_the_model(path: Path) -> None:
    with pytest.raises(ValidationError):
        schemas.RECORDS[path.parent.name].model_validate(_load(path))


def _validator(name: str) -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    schema = _load(SCHEMA_DIR / f"{name}.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", _samples("valid"))
def test_valid_sample_passes_the_schema_file(path: Path) -> None:
    _validator(path.parent.name).validate(_load(path))


@pytest.mark.parametrize("path", _samples("invalid"))
def test_invalid_sample_fails_the_schema_file(path: Path) -> None:
    """Every invalid sample's fault is one JSON Schema can see (if/then included)."""
    assert not _validator(path.parent.name).is_valid(_load(path))


@pytest.mark.parametrize(
    "path", _samples("valid", "agent-event") + _samples("invalid", "agent-event")
)
def test_agent_event_samples_agree_with_hot_path(path: Path) -> None:
    valid = path.parent.parent.name == "valid"
    try:
        event_from_dict(_load(path))
    except InvalidEvent:
        assert not valid, "the processor refuses an event the schema documents as valid"
    else:
        assert valid, "the processor accepts an event the schema documents as invalid"


def test_interval_seconds_must_add_up() -> None:
    """The model checks the sums JSON Schema cannot express."""
    sample = _load(SAMPLE_DIR / "valid" / "interval" / "contact-acw-timeout.json")
    with pytest.raises(ValidationError, match="logged_in_s"):
        wire.IntervalRecord.model_validate({**sample, "ready_s": 181.0})
    with pytest.raises(ValidationError, match="not_ready_by_code"):
        wire.IntervalRecord.model_validate({**sample, "not_ready_by_code": {"ACW": 40.0}})


# ---------------------------------------------------------------- the real records

MS_2000, MS_2100 = 946_684_800_000, 4_102_444_800_000
times = st.integers(MS_2000, MS_2100)
millis = st.integers(0, 86_400_000)
ids = st.text(min_size=1, max_size=128)
codes = st.text(min_size=1, max_size=20)
teams = st.none() | st.text(max_size=30)
days = st.dates(date(2000, 1, 1), date(2100, 1, 1)).map(date.isoformat)


@st.composite
def segments(draw: st.DrawFn) -> Segment:
    start = draw(times)
    kind = draw(st.sampled_from([state.READY, state.NOT_READY, state.ON_CONTACT]))
    return Segment(
        agent_id=draw(ids),
        team=draw(teams),
        state=kind,
        reason_code=draw(codes) if kind == state.NOT_READY else None,
        start=start,
        end=start + draw(millis),
        start_event_id=draw(st.none() | ids),
        end_event_id=draw(st.none() | ids),
    )


@st.composite
def intervals(draw: st.DrawFn) -> Interval:
    start = draw(times)
    by_code = draw(st.dictionaries(codes, st.integers(0, 1_800_000), max_size=5))
    return Interval(
        agent_id=draw(ids),
        team=draw(teams),
        interval_start=start,
        interval_end=start + 1_800_000,
        revision=draw(st.integers(0, 50)),
        ready_ms=draw(st.integers(0, 1_800_000)),
        on_contact_ms=draw(st.integers(0, 1_800_000)),
        not_ready_ms=sum(by_code.values()),
        not_ready_by_code=by_code,
    )


durations = st.builds(
    Duration,
    agent_id=ids,
    team=teams,
    day=days,
    reason_code=codes,
    today_ms=millis,
    today_count=st.integers(1, 500),
    last_hour_ms=st.integers(0, 3_600_000),
    as_of=times,
)
detections = st.builds(
    Detection,
    detection_id=st.text(min_size=1),
    rule=st.sampled_from(rules.RULES),
    agent_id=ids,
    team=teams,
    ts=times,
    severity=st.sampled_from(sorted(set(rules.SEVERITY.values()))),
    reason_code=st.none() | codes,
    value=st.floats(0, 1e7),
    threshold=st.floats(0, 1e7),
    window_start=times,
    window_end=times,
    evidence_event_ids=st.lists(ids, max_size=6),
    message=st.text(min_size=1),
    policy_version=st.text(min_size=1),
)
checkins = st.builds(
    CheckIn,
    checkin_id=st.text(min_size=1),
    agent_id=ids,
    team=teams,
    reason_code=codes,
    ts=times,
    message=st.text(min_size=1),
)
dead_letters = st.builds(
    DeadLetter,
    reason=st.sampled_from([outputs.INVALID, outputs.LATE]),
    error=st.text(min_size=1),
    raw=st.binary(max_size=300).map(records.raw_text),
    source_topic=st.none() | st.text(min_size=1),
    partition=st.none() | st.integers(0, 1000),
    offset=st.none() | st.integers(0, 2**62),
)


@given(segments())
def test_segment_converter_agrees_with_model(rec: Segment) -> None:
    _check_wire(wire.SegmentRecord, records.segment(rec))


@given(intervals())
def test_interval_converter_agrees_with_model(rec: Interval) -> None:
    _check_wire(wire.IntervalRecord, records.interval(rec))


@given(durations)
def test_duration_converter_agrees_with_model(rec: Duration) -> None:
    _check_wire(wire.DurationRecord, records.duration(rec))


@given(detections)
def test_detection_converter_agrees_with_model(rec: Detection) -> None:
    _check_wire(wire.DetectionRecord, records.detection(rec))


@given(checkins)
def test_checkin_converter_agrees_with_model(rec: CheckIn) -> None:
    _check_wire(wire.CheckInRecord, records.checkin(rec))


@given(dead_letters)
def test_dead_letter_converter_agrees_with_model(rec: DeadLetter) -> None:
    _check_wire(wire.DeadLetterRecord, records.dead_letter(rec))


def test_hand_built_records_agree_with_models() -> None:
    """One plain case per kind, readable when a property test's shrunk example is not."""
    nine = 1_778_576_400_000  # 2026-05-12T09:00:00Z
    half_past = nine + 1_800_000
    segment = Segment("E1", "north", "not_ready", "BREAK", nine, half_past, "e1-5", "e1-6")
    interval = Interval("E1", None, nine, half_past, 1, 600_000, 0, 1_200_000, {"BREAK": 1_200_000})
    duration = Duration("E1", "north", "2026-05-12", "BREAK", 1_800_000, 1, 1_800_000, half_past)
    detection = Detection(
        "827a87bcbc041857959a3025", rules.OCCURRENCE_LIMIT, "E1", "north", nine + 900_000,
        "warning", "BREAK", 900.0, 900.0, nine, nine + 900_000, ["e1-5"],
        "E1 has been in Break for more than 15 min in one stretch, since 10:00.", "v1",
    )  # fmt: skip
    checkin = CheckIn("1fa84961da6dfc0b9c86ee8b", "E1", None, "TIMEOUT", nine, "E1 chose Time Out.")
    raw = records.raw_text("é" * 40_000)  # 80,000 bytes: cut to 64 KiB
    dead_letter = DeadLetter("invalid", "not JSON", raw, "acd.agent-events", 2, 7)
    cases: list[tuple[type[BaseModel], dict[str, Any]]] = [
        (wire.SegmentRecord, records.segment(segment)),
        (wire.IntervalRecord, records.interval(interval)),
        (wire.DurationRecord, records.duration(duration)),
        (wire.DetectionRecord, records.detection(detection)),
        (wire.CheckInRecord, records.checkin(checkin)),
        (wire.DeadLetterRecord, records.dead_letter(dead_letter)),
    ]
    for model, record in cases:
        _check_wire(model, record)


def _example_policy() -> Policy:
    """The contract's example policy (examples/policy.yaml), built without the loader."""
    table = [
        CodePolicy("ACW", max_occurrence_s=120),
        CodePolicy("BREAK", max_occurrence_s=900, max_daily_s=1800),
        CodePolicy("LUNCH", max_occurrence_s=3600),
        CodePolicy("TRAINING"),
        CodePolicy("PERSONAL", max_occurrence_s=600),
        CodePolicy("TIMEOUT", check_in=True, max_occurrence_s=600),
    ]
    return Policy(
        timezone="Europe/London",
        after_contact_code="ACW",
        codes={c.code: c for c in table},
        version="test",
    )


@pytest.fixture
def example_day(shared_examples: Path) -> list[bytes]:
    """The contract's worked example, one input message per line (bad-1 included)."""
    return (shared_examples / "example-day.jsonl").read_bytes().splitlines()


def test_replay_of_the_example_day_agrees_with_models(example_day: list[bytes]) -> None:
    """Every line the replay driver writes, and its summary, through the models."""
    written: dict[str, list[bytes]] = {}
    policy = _example_policy()
    replayer = Replayer(policy, lambda kind, _key, line: written.setdefault(kind, []).append(line))
    replayer.feed(example_day)
    replayer.finish()
    assert set(written) == set(MODEL_OF_KIND), "the example day produces every kind of record"
    for kind, lines in written.items():
        for line in lines:
            MODEL_OF_KIND[kind].model_validate(orjson.loads(line))
    summary = summary_dict(replayer.stats, policy, "example-day.jsonl", 0.01)
    wire.ReplaySummary.model_validate(orjson.loads(orjson.dumps(summary)))


def test_example_day_input_lines(example_day: list[bytes]) -> None:
    """Every line is a valid agent event except bad-1, whose ts has no offset."""
    for line in example_day:
        obj = orjson.loads(line)
        if obj["event_id"] == "bad-1":
            with pytest.raises(ValidationError, match="ts"):
                wire.AgentEventRecord.model_validate(obj)
            with pytest.raises(InvalidEvent):
                event_from_dict(obj)
        else:
            wire.AgentEventRecord.model_validate(obj)
            event_from_dict(obj)
