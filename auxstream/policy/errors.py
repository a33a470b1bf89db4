"""The one exception of policy loading, kept apart so every module can raise it."""

from __future__ import annotations


class PolicyError(Exception):
    """A policy file that cannot be used, with a message a person can act on.

    Each line of the message names the file and, where there is one, the line, the code
    entry and the field: ``policy.yaml:8: codes[1] (BREAK): max_occurrence_s: Input should
    be greater than 0``. ``problems`` holds those lines one by one.
    """

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = problems or (message,)
        """Every problem found, one line each, in file order."""
