"""One agent's accepted event ids, for the duplicate check: ``EventIds``.

The ids are kept in the order they were accepted, so that the oldest can be forgotten
together (``engine._forget_old``), and tested for membership with every event. The C
type (``eventids.c``, built by ``make native`` with the compiled core) keeps them in
about 40 bytes each instead of about 130 as Python objects; ``PyEventIds`` here is the
same behaviour in Python, used when the build is absent or ``AUXSTREAM_PURE=1``.
tests/unit/test_event_ids.py holds both to the same results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol


class EventIds(Protocol):
    """What the core needs of an agent's ids."""

    def __contains__(self, event_id: object, /) -> bool: ...

    def __len__(self) -> int: ...

    def append(self, event_id: str, /) -> None:
        """Keep one more id, the newest (the caller has checked it is not kept yet)."""

    def drop(self, count: int, /) -> None:
        """Forget the ``count`` oldest ids."""

    def ids(self) -> list[str]:
        """The ids, oldest first."""

    def joined(self) -> str | None:
        """The ids joined by NUL (how a stored state keeps them), or None when one holds
        a NUL."""


class PyEventIds:
    """``EventIds`` as a set and a list of the same strings."""

    __slots__ = ("_order", "_set")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._order: list[str] = []
        self._set: set[str] = set()
        for event_id in ids:
            self.append(event_id)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._set

    def __len__(self) -> int:
        return len(self._order)

    def append(self, event_id: str) -> None:
        if type(event_id) is not str:
            raise TypeError(f"EventIds: an event id must be str, not {type(event_id).__name__}")
        self._set.add(event_id)
        self._order.append(event_id)

    def drop(self, count: int) -> None:
        if not 0 <= count <= len(self._order):
            raise ValueError(f"EventIds.drop({count}) of {len(self._order)} ids")
        if count:
            del self._order[:count]
            self._set = set(self._order)

    def ids(self) -> list[str]:
        return list(self._order)

    def joined(self) -> str | None:
        if any("\x00" in event_id for event_id in self._order):
            return None
        return "\x00".join(self._order)

    def __eq__(self, other: object) -> bool:
        """The same ids, in any order: what a set of them compared (a state loaded from
        the oldest stored format knows its ids' times, not the order they came in)."""
        if not isinstance(other, PyEventIds):
            return NotImplemented
        return len(self._order) == len(other._order) and all(
            event_id in other._set for event_id in self._order
        )

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, tuple[list[str]]]:
        return (PyEventIds, (list(self._order),))

    def __repr__(self) -> str:
        return f"EventIds({len(self._order)} ids)"


new_event_ids: Callable[..., EventIds]
"""``new_event_ids(ids=())``: the C type when it is built and fresh, else ``PyEventIds``."""
try:
    from auxstream.domain.eventids import EventIds as new_event_ids
except ImportError:  # no fresh native build (make native), or AUXSTREAM_PURE=1
    new_event_ids = PyEventIds
