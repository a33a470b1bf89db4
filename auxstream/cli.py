"""The `auxstream` command: one argparse tree; each feature module registers its subcommand.

Each feature exposes ``add_parser(subparsers)`` which registers its parser and sets
``func`` (a callable taking the parsed namespace and returning an exit code). Keeping the
registration in the feature module keeps option docs next to the code that reads them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Feature modules that register a subcommand, in the order `--help` lists them.
_FEATURES = (
    "auxstream.replay.cli",
    "auxstream.simulate.cli",
    "auxstream.policy.cli",
    "auxstream.stream.cli",
    "auxstream.ingest.cli",
    "auxstream.demo.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auxstream",
        description="Streaming processor for contact-centre agent states and AUX codes.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _FEATURES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    return int(func(args))
