"""`auxstream worker`, `auxstream topics` and `auxstream policy publish` (being written)."""

from __future__ import annotations

from typing import Any


def add_parser(subparsers: Any) -> None:
    """Nothing registered yet."""
