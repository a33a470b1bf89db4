"""``auxstream simulate``: a deterministic contact-centre event generator.

Use it as a library (``simulate(config)`` yields lines, a ``Manifest`` records what was
injected) or through the command line (``auxstream.simulate.cli``).
"""

from auxstream.simulate.config import FaultRates, SimulationConfig
from auxstream.simulate.generator import simulate, simulate_messages
from auxstream.simulate.manifest import Manifest
from auxstream.simulate.policy import SimPolicy, load_policy

__all__ = [
    "FaultRates",
    "Manifest",
    "SimPolicy",
    "SimulationConfig",
    "load_policy",
    "simulate",
    "simulate_messages",
]
