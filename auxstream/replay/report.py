"""The replay summary: summary.json and the table printed at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auxstream.domain.outputs import APPLIED, DUPLICATE, INVALID, LATE, NOOP
from auxstream.domain.policy import Policy
from auxstream.domain.rules import RULES
from auxstream.domain.timefmt import format_ts
from auxstream.replay.runner import ReplayStats

OUTCOMES = (APPLIED, NOOP, DUPLICATE, LATE, INVALID)
KINDS = ("segments", "intervals", "durations", "detections", "checkins", "deadletters")


def summary_dict(
    stats: ReplayStats, policy: Policy, input_name: str, elapsed_s: float
) -> dict[str, Any]:
    events = {outcome: stats.outcomes.get(outcome, 0) for outcome in OUTCOMES}
    events["total"] = sum(events.values())
    return {
        "input": input_name,
        "policy_version": policy.version,
        "lines": stats.lines,
        "blank_lines": stats.blank_lines,
        "agents": stats.agents,
        "events": events,
        "implicit_logins": stats.implicit_logins,
        "unknown_codes": dict(sorted(stats.unknown_codes.items())),
        "records": {kind: stats.records.get(kind, 0) for kind in KINDS},
        "detections": {rule: stats.detections.get(rule, 0) for rule in RULES},
        "event_time": {
            "first": format_ts(stats.first_ts) if stats.first_ts is not None else None,
            "last": format_ts(stats.last_ts) if stats.last_ts is not None else None,
        },
        "elapsed_s": round(elapsed_s, 3),
        "events_per_s": round(stats.lines / elapsed_s) if elapsed_s > 0 else None,
    }


def print_summary(summary: dict[str, Any], out_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"auxstream replay of {summary['input']}", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    for outcome, count in summary["events"].items():
        table.add_row(f"events {outcome}", f"{count:,}")
    for kind, count in summary["records"].items():
        table.add_row(kind, f"{count:,}")
    for rule, count in summary["detections"].items():
        if count:
            table.add_row(f"  detections: {rule}", f"{count:,}")
    table.add_row("agents", f"{summary['agents']:,}")
    if summary["implicit_logins"]:
        table.add_row("implicit logins", f"{summary['implicit_logins']:,}")
    for code, count in summary["unknown_codes"].items():
        table.add_row(f"unknown code {code}", f"{count:,}")
    console.print(table)
    console.print(
        f"{summary['lines']:,} lines in {summary['elapsed_s']} s "
        f"({summary['events_per_s'] or 0:,} lines/s); files in {out_dir}/"
    )
