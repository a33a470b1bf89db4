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


# Commands whose module is imported alone when the command line names them: `replay` is run
# on large files by `make bench-core`, where importing every feature (Faust, aiokafka,
# pydantic) would be about 0.25 s of CPU. Anything else builds the whole tree.
_ALONE = {"replay": "auxstream.replay.cli"}


def build_parser(features: Sequence[str] = _FEATURES) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auxstream",
        description="Streaming processor for contact-centre agent states and AUX codes.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in features:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else list(argv)
    alone = _ALONE.get(args_list[0]) if args_list else None
    parser = build_parser((alone,) if alone else _FEATURES)
    args = parser.parse_args(args_list)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    return int(func(args))
