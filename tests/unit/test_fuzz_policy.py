"""Policy text fuzzed (issue 6, security): any text is a Policy or a clear PolicyError.

Three sources of text: arbitrary strings, YAML documents of arbitrary shape, and the
example policy with one setting, code field or rule replaced by an arbitrary value (the
mistakes people make). Loading never raises anything but PolicyError, whose message names
the source; the published-policy decoder (the live policy topic) behaves the same on bytes.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auxstream.policy import PolicyError
from auxstream.policy.loader import policy_from_text
from auxstream.stream import livepolicy

POLICY_FILE = Path(__file__).resolve().parents[2] / "examples" / "policy.yaml"
EXAMPLE = yaml.safe_load(POLICY_FILE.read_text())
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["Europe/London", "Mars/Olympus", "15", "-1", "1e400", ".nan", "~"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=10,
)


def loads(text: str) -> None:
    try:
        policy_from_text(text, "fuzz.yaml")
    except PolicyError as exc:
        assert str(exc).strip(), "a PolicyError must say what is wrong"
        assert "fuzz.yaml" in str(exc), str(exc)


@FUZZ
@given(text=st.text(max_size=400))
def test_any_text_is_a_policy_or_a_policy_error(text: str) -> None:
    loads(text)


@FUZZ
@given(document=values)
def test_any_yaml_document_is_a_policy_or_a_policy_error(document: Any) -> None:
    loads(yaml.safe_dump(document, allow_unicode=True))


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [here] if here else []
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*here, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*here, index))
    return found


PATHS = _paths(EXAMPLE)


@FUZZ
@given(path=st.sampled_from(PATHS), value=values, drop=st.booleans())
def test_the_example_with_one_value_broken_is_a_policy_or_a_policy_error(
    path: tuple[Any, ...], value: Any, drop: bool
) -> None:
    document = copy.deepcopy(EXAMPLE)
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if drop:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    loads(yaml.safe_dump(document, allow_unicode=True))


@pytest.mark.parametrize(
    "text",
    [
        "a: &a [*a]",  # a recursive alias
        "&x a: *x",
        "!!python/object/apply:os.system ['true']",  # no code runs from YAML
        "codes: !!binary aGVsbG8=",
        "x: " + "[" * 500 + "]" * 500,
        "\x00\x01",
        "timezone: Europe/London\n" * 1000,  # a repeated key
    ],
)
def test_hostile_yaml_is_a_policy_error(text: str) -> None:
    with pytest.raises(PolicyError):
        policy_from_text(text, "fuzz.yaml")


@FUZZ
@given(
    raw=st.binary(max_size=300)
    | values.map(lambda v: yaml.safe_dump(v).encode())
    | st.fixed_dictionaries(
        {"yaml": values | st.text(max_size=200)}, optional={"source": values}
    ).map(lambda d: json.dumps(d).encode())
)
def test_a_published_policy_message_is_a_policy_or_a_policy_error(raw: bytes) -> None:
    try:
        livepolicy.decode(raw, "policy-topic")
    except PolicyError as exc:
        assert str(exc).strip()
