"""An agent's event ids (``EventIds``): the C type and ``PyEventIds`` give the same answers.

The C type is the one the compiled core uses; its tests skip, like the C sorted files',
when there is no fresh native build (``make test`` builds it)."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auxstream import _native
from auxstream.domain.seen import PyEventIds, new_event_ids

try:
    from auxstream.domain.eventids import EventIds as CEventIds
except ImportError:  # pragma: no cover - the native build is missing
    CEventIds = None

needs_c = pytest.mark.skipif(CEventIds is None, reason="no fresh native build (make native)")

ids_text = st.text(
    alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF),
    min_size=1,
    max_size=20,
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), ids_text),
        st.tuples(st.just("contains"), ids_text),
        st.tuples(st.just("drop"), st.integers(min_value=0, max_value=60)),
    ),
    max_size=120,
)


def _run(make: type, ops: list[tuple[str, object]]) -> list[object]:
    """Every answer of a sequence of operations, the core's way: an id is appended only
    when it is not kept yet."""
    ids = make()
    answers: list[object] = []
    for name, arg in ops:
        if name == "append":
            assert isinstance(arg, str)
            if arg in ids:
                answers.append(("kept", arg))
            else:
                ids.append(arg)
        elif name == "contains":
            answers.append(arg in ids)
        else:
            assert isinstance(arg, int)
            count = min(arg, len(ids))
            ids.drop(count)
        answers.append(len(ids))
    answers.append(ids.ids())
    answers.append(ids.joined())
    again = pickle.loads(pickle.dumps(ids))  # noqa: S301 - our own bytes
    answers.append(again == ids)
    answers.append(all(event_id in again for event_id in ids.ids()))
    return answers


@needs_c
@settings(max_examples=300, deadline=None)
@given(operations)
def test_the_c_type_answers_as_the_python_one(ops: list[tuple[str, object]]) -> None:
    assert CEventIds is not None
    assert _run(CEventIds, ops) == _run(PyEventIds, ops)


@needs_c
def test_the_c_table_grows_and_shrinks_without_losing_an_id() -> None:
    """Thousands of ids appended then dropped in slices: every kept id is found, every
    dropped one is not (the table is rebuilt at each growth and each drop)."""
    assert CEventIds is not None
    ids = CEventIds()
    names = [f"sim-1-A{i % 97:05d}-{i}" for i in range(5_000)]
    for name in names:
        ids.append(name)
    assert all(name in ids for name in names)
    ids.drop(4_000)
    assert len(ids) == 1_000
    assert not any(name in ids for name in names[:4_000])
    assert all(name in ids for name in names[4_000:])
    assert ids.ids() == names[4_000:]
    assert ids.joined() == "\x00".join(names[4_000:])


@pytest.mark.parametrize(
    "make", [PyEventIds, pytest.param(CEventIds, marks=needs_c)], ids=["python", "c"]
)
def test_bad_ids_and_drops_are_refused(make: type) -> None:
    ids = make(["e1", "e2"])
    with pytest.raises(TypeError, match="must be str"):
        ids.append(7)
    with pytest.raises(ValueError, match=r"drop\(3\) of 2 ids"):
        ids.drop(3)
    with pytest.raises(ValueError, match=r"drop\(-1\) of 2 ids"):
        ids.drop(-1)
    assert 7 not in ids
    assert ids.ids() == ["e1", "e2"]


def test_the_core_uses_the_c_type_when_the_build_is_fresh() -> None:
    expected = "EventIds" if _native.STATUS == "compiled" else "PyEventIds"
    assert new_event_ids.__name__ == expected
