"""`auxstream replay INPUT --policy P --out DIR`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from auxstream.replay.files import InputError, open_input
from auxstream.replay.report import print_summary, summary_dict
from auxstream.replay.run import replay_file


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="run the engine over a file of events and write the output records",
        description=(
            "Run the same engine as the streaming workers over a JSONL file of agent events "
            "(contract §1) and write segments, intervals, durations, detections, check-ins, "
            "dead letters and summary.json into DIR. Invalid and late lines become dead "
            "letters; the exit code is 0 unless the policy or the input cannot be read."
        ),
    )
    parser.add_argument("input", help="JSONL events: a file, a .gz file, or - for standard input")
    parser.add_argument("--policy", required=True, help="policy YAML file (contract §4)")
    parser.add_argument("--out", required=True, help="output directory (created if missing)")
    parser.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar: on a terminal by default",
    )
    parser.add_argument(
        "--format",
        default="canonical",
        choices=("canonical", "amazon-connect", "twilio", "genesys", "finesse", "csv"),
        help="input records: canonical events (default) or a vendor's own, converted by its "
        "adapter with the policy's adapters: mapping (docs/integrations.md)",
    )
    parser.add_argument("--mapping", help="column-mapping YAML for --format csv")
    parser.add_argument("--quiet", action="store_true", help="do not print the summary table")
    parser.add_argument("--json", action="store_true", help="print summary.json instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from auxstream.policy import PolicyError, load_policy

    try:
        policy = load_policy(args.policy)
    except PolicyError as exc:
        print(f"auxstream replay: {exc}", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(
            f"auxstream replay: cannot create output directory {out_dir}: {exc.strerror}",
            file=sys.stderr,
        )
        return 2
    show_progress = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    adapter = None
    if args.format != "canonical":
        from auxstream.adapters.csv_export import MappingError
        from auxstream.adapters.replay import vendor_adapter

        try:
            adapter = vendor_adapter(args.format, args.policy, args.mapping)
        except (PolicyError, MappingError, ValueError) as exc:
            print(f"auxstream replay: {exc}", file=sys.stderr)
            return 2
    try:
        with open_input(args.input) as source:
            if adapter is None:
                stats, elapsed = replay_file(source, policy, out_dir, show_progress=show_progress)
            else:
                from auxstream.adapters.replay import replay_vendor_source

                stats, elapsed = replay_vendor_source(source, adapter, policy, out_dir)
    except InputError as exc:
        print(f"auxstream replay: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # The input is read through InputError; this is an output file or a spilled run
        # (a full disk, a folder where a file must go, no permission).
        return _cannot_write(out_dir, exc)
    summary = summary_dict(stats, policy, args.input, elapsed)
    if adapter is not None:
        from auxstream.adapters.replay import adapter_summary

        summary["adapter"] = adapter_summary(adapter)
    try:
        (out_dir / "summary.json").write_bytes(_dump(summary))
    except OSError as exc:
        return _cannot_write(out_dir, exc)
    if args.json:
        sys.stdout.write(_dump(summary).decode() + "\n")
    elif not args.quiet:
        print_summary(summary, out_dir)
    return 0


def _cannot_write(out_dir: Path, exc: OSError) -> int:
    where = exc.filename or out_dir
    print(
        f"auxstream replay: cannot write the output in {out_dir}: {exc.strerror or exc} ({where})",
        file=sys.stderr,
    )
    return 2


def _dump(summary: dict[str, Any]) -> bytes:
    import orjson

    return orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
