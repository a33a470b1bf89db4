"""``auxstream codes lint POLICY [--events FILE]``: check a code list against good practice.

Exit codes: 0 when there are only warnings (or nothing), 1 when there are errors
(contract §5), 2 when the policy or the events cannot be read at all, so a CI job can tell
"the policy needs work" from "the check could not run".
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any, cast

from auxstream.policy.errors import PolicyError
from auxstream.policy.lint import Finding, count_by_level, lint_policy
from auxstream.policy.loader import load_policy

_COUNTED_TYPES = frozenset({"not_ready", "login"})
_GZIP_MAGIC = b"\x1f\x8b"
_HEADINGS = {"error": "Errors", "warning": "Warnings"}


def add_parser(subparsers: Any) -> None:  # Any: argparse's subparsers action type is private
    """Register ``codes`` and its ``lint`` subcommand on the top-level parser."""
    codes = subparsers.add_parser("codes", help="work with the reason-code policy")
    codes.set_defaults(func=lambda _args: _print_help(codes))
    actions = codes.add_subparsers(dest="codes_command", metavar="ACTION")
    lint = actions.add_parser(
        "lint",
        help="check a policy's codes against good practice (exit 1 on errors)",
        description="Check a policy file's reason codes against the seeds of good practice.",
    )
    lint.add_argument("policy", metavar="POLICY", help="the policy YAML file")
    lint.add_argument(
        "--events",
        metavar="FILE",
        help="agent events as JSON lines (.gz or - for stdin): report unused and unknown codes",
    )
    lint.set_defaults(func=run_lint)


def run_lint(args: argparse.Namespace) -> int:
    """Lint the policy (and its use in ``args.events``), print the report, return the exit code."""
    try:
        policy = load_policy(args.policy)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 2
    used: Counter[str] | None = None
    skipped = 0
    if args.events is not None:
        try:
            with _open_events(args.events) as lines:
                used, skipped = count_reason_codes(lines)
        except (OSError, EOFError, UnicodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            print(f"{args.events}: cannot read the events: {reason}", file=sys.stderr)
            return 2
    findings = lint_policy(policy, used)
    notes = (
        [f"Skipped {skipped} line(s) of {args.events} that were not JSON objects."]
        if skipped
        else []
    )
    summary = _summary(findings, args.policy, policy.version)
    if sys.stdout.isatty():
        _print_rich(findings, notes, summary)
    else:
        _print_plain(findings, notes, summary)
    return 1 if count_by_level(findings)["error"] else 0


def count_reason_codes(lines: Iterable[str]) -> tuple[Counter[str], int]:
    """Times each reason code was selected (``not_ready`` and ``login`` events), and the
    number of non-blank lines skipped because they were not JSON objects."""
    used: Counter[str] = Counter()
    skipped = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            skipped += 1
            continue
        if not isinstance(event, dict):
            skipped += 1
            continue
        code = event.get("reason_code")
        if event.get("type") in _COUNTED_TYPES and isinstance(code, str) and code:
            used[code] += 1
    return used, skipped


@contextmanager
def _open_events(name: str) -> Iterator[IO[str]]:
    """Text lines of a file or stdin (``-``), gunzipped when the bytes say gzip."""
    with ExitStack() as stack:
        raw: io.BufferedReader
        if name == "-":  # wrapped for peek(), whatever stdin is (a pipe, a test's capture)
            raw = io.BufferedReader(cast(io.RawIOBase, sys.stdin.buffer))
        else:
            raw = stack.enter_context(Path(name).open("rb"))
        binary: io.BufferedReader | gzip.GzipFile = raw
        if raw.peek(2)[:2] == _GZIP_MAGIC:
            binary = gzip.GzipFile(fileobj=raw)
            stack.callback(binary.close)
        text = io.TextIOWrapper(binary, encoding="utf-8", errors="replace")
        yield text
        text.detach()  # leave closing to the stack (and stdin open)


def _summary(findings: list[Finding], policy_name: str, version: str) -> str:
    counts = count_by_level(findings)
    if not findings:
        return f"No findings for {policy_name} (version {version})."
    parts = [f"{count} {level}{'' if count == 1 else 's'}" for level, count in counts.items()]
    return f"{', '.join(parts)} for {policy_name} (version {version})."


def _grouped(findings: list[Finding]) -> Iterator[tuple[str, list[Finding]]]:
    for level, heading in _HEADINGS.items():
        group = [finding for finding in findings if finding.level == level]
        if group:
            yield heading, group


def _print_plain(findings: list[Finding], notes: list[str], summary: str) -> None:
    for heading, group in _grouped(findings):
        print(f"{heading}:")
        for finding in group:
            print(f"  - {finding.message}")
    for note in notes:
        print(note)
    print(summary)


def _print_rich(findings: list[Finding], notes: list[str], summary: str) -> None:
    from rich.console import Console  # imported here: only a terminal needs it
    from rich.text import Text

    console = Console()
    styles = {"Errors": "bold red", "Warnings": "bold yellow"}
    for heading, group in _grouped(findings):
        console.print(Text(f"{heading} ({len(group)})", style=styles[heading]))
        for finding in group:
            console.print(Text(f"  • {finding.message}"))
    for note in notes:
        console.print(Text(note, style="dim"))
    console.print(Text(summary, style="bold"))


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2
