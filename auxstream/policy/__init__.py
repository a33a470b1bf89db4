"""The policy file: loading it into the core's frozen Policy, and linting it.

``load_policy`` is what the replay and the stream call at start-up; a PolicyError's
message is meant to be printed as it is, one problem per line.
"""

from auxstream.policy.errors import PolicyError
from auxstream.policy.loader import load_policy, policy_from_text

__all__ = ["PolicyError", "load_policy", "policy_from_text"]
