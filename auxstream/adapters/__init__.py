"""Vendor adapters: an ACD's native records -> canonical agent events (contract §1).

Each adapter is pure (``convert(record: bytes) -> list[dict]``, or :class:`AdapterError`)
and counts, in ``states.unmapped``, the vendor status names that neither the policy's
``adapters:`` section nor the adapter's defaults map.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

from auxstream.adapters import amazon_connect, finesse, genesys, twilio
from auxstream.adapters.base import AdapterError, StateMap, Target
from auxstream.adapters.csv_export import CsvAdapter, CsvMapping

FORMATS = ("canonical", "amazon-connect", "twilio", "genesys", "finesse", "csv")
"""``auxstream replay --format`` choices; every one but ``canonical`` is a vendor."""
VENDORS = FORMATS[1:]

__all__ = [
    "FORMATS",
    "VENDORS",
    "Adapter",
    "AdapterError",
    "Target",
    "make_adapter",
    "policy_targets",
]


class Adapter(Protocol):
    source: str
    states: StateMap

    def convert(self, record: bytes) -> list[dict[str, Any]]: ...


# vendor -> (adapter class, its built-in status defaults)
_CLASSES: dict[str, tuple[Any, Mapping[str, Target]]] = {
    "amazon-connect": (amazon_connect.AmazonConnectAdapter, amazon_connect.DEFAULTS),
    "twilio": (twilio.TwilioAdapter, twilio.DEFAULTS),
    "genesys": (genesys.GenesysAdapter, genesys.DEFAULTS),
    "finesse": (finesse.FinesseAdapter, finesse.DEFAULTS),
}


def make_adapter(
    vendor: str,
    targets: Mapping[str, Target] | None = None,
    csv_mapping: CsvMapping | None = None,
) -> Adapter:
    """The adapter for ``vendor``, with the policy's mapping for it laid over its defaults."""
    if vendor == "csv":
        if csv_mapping is None:
            raise ValueError("the csv format needs a column mapping (--mapping FILE)")
        return CsvAdapter(csv_mapping, dict(targets or {}))
    found = _CLASSES.get(vendor)
    if found is None:
        raise ValueError(f"unknown vendor {vendor!r}; expected one of {', '.join(VENDORS)}")
    cls, defaults = found
    adapter: Adapter = cls(StateMap(defaults, targets))
    return adapter


def policy_targets(policy_file: Any, vendor: str) -> dict[str, Target]:
    """The ``adapters.<vendor>.states`` section of a validated :class:`PolicyFile` as targets."""
    mapping = policy_file.adapters.get(vendor)
    if mapping is None:
        return {}
    return {name: Target(t.type, t.reason_code) for name, t in mapping.states.items()}


def unmapped_report(adapter: Adapter) -> Counter[str]:
    """Status names the mapping lacked, with how often each was seen."""
    return Counter(adapter.states.unmapped)
