"""What the demo shows: the live view (rich), the plain progress line and the summary.

All three read a :class:`~auxstream.demo.floor.Floor` and a :class:`Status`; nothing here
talks to Kafka or a process, so the view can be rendered in a test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from auxstream.demo.floor import NOT_READY, ON_CONTACT, READY, RECORD_KINDS, Floor
from auxstream.simulate.kafka import ProduceStats


@dataclass
class Status:
    """The run around the floor: clocks, the worker, the producer."""

    agents: int
    speed: str
    """``60x``, ``realtime`` or ``max``."""
    started: float
    """Monotonic time the demo started."""
    now: float
    worker_pid: int | None = None
    web_url: str | None = None
    """The worker's HTTP server, if it serves one."""
    metrics_url: str | None = None
    """Its Prometheus endpoint, once it answered."""
    metrics_missing: bool = False
    """The HTTP server answered, but not on /metrics: the view says "metrics: not yet"."""
    log: Path | None = None
    sent: ProduceStats = field(default_factory=ProduceStats)
    processed: int | None = None
    """Input messages the worker has processed (from its metrics)."""
    processed_grew_at: float | None = None
    """Monotonic time ``processed`` last grew."""
    stopping_at: float | None = None
    """Monotonic time the run was asked to end (Ctrl-C, --duration, a failure)."""
    first_output_s: float | None = None
    """Seconds from the start to the first output record read."""
    feed_done: bool = False
    """The simulator has sent everything it will (``max``: one period)."""

    @property
    def elapsed(self) -> float:
        """Seconds from the start to now, or to the moment the run was asked to end."""
        return (self.stopping_at or self.now) - self.started

    def processed_rate(self) -> float | None:
        """Input messages per second the worker processed (first send to its last growth)."""
        if not self.processed or self.sent.started is None or self.processed_grew_at is None:
            return None
        span = self.processed_grew_at - self.sent.started
        return self.processed / span if span > 0 else None


def clock(seconds: float) -> str:
    """``1:02:03`` for seconds (whole seconds)."""
    total = int(max(0.0, seconds))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def _num(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def _sim_clock(floor: Floor, status: Status) -> str:
    ts = status.sent.newest_ts
    return "not started" if ts is None else floor.local_time(ts, "%a %d %b %H:%M")


# ---------------------------------------------------------------------- plain lines
def plain_line(floor: Floor, status: Status) -> str:
    """One progress line for logs and CI (no terminal control characters)."""
    records = " ".join(f"{kind} {floor.records[kind]:,}" for kind in RECORD_KINDS)
    worker = _num(status.processed)
    rate = status.sent.rate(status.now)
    return (
        f"demo {clock(status.elapsed)}  floor {_sim_clock(floor, status)}  "
        f"sent {status.sent.sent:,} ({rate:,.0f}/s)  worker {worker}  {records}"
    )


# ---------------------------------------------------------------------- live view
WIDE = 136
"""From this many columns, check-ins sit beside the detections and tables show labels."""


def live_view(floor: Floor, status: Status, width: int = 140, height: int = 40) -> RenderableType:
    """The whole screen: header, counters, agents and time by code, detections and check-ins."""
    wide = width >= WIDE
    header = Text.assemble(
        ("auxstream demo", "bold"),
        f"  ·  {status.agents} agents at {status.speed}  ·  floor ",
        (_sim_clock(floor, status), "bold cyan"),
        f" {floor.policy.timezone}  ·  running {clock(status.elapsed)}  ·  ",
        ("Ctrl-C stops", "bold yellow"),
    )
    top = Table.grid(padding=(0, 2), collapse_padding=True)
    top.add_row(_agents_table(floor, wide), _codes_table(floor, wide))
    parts: list[RenderableType] = [header, _worker_line(status), _counters(floor, status), top]
    if wide:
        rows = max(3, min(15, height - 17))
        bottom = Table.grid(padding=(0, 2), collapse_padding=True, expand=True)
        bottom.add_column(ratio=1)
        bottom.add_column()
        bottom.add_row(_detections_table(floor, rows), _checkins_table(floor, rows))
        parts.append(bottom)
    else:
        parts += [_detections_table(floor, max(3, min(10, height - 23))), _checkins_table(floor, 2)]
    return Group(*parts)


def _worker_line(status: Status) -> Text:
    text = Text()
    if status.worker_pid is not None:
        text.append(f"worker pid {status.worker_pid}  ·  ")
    if status.metrics_url:
        text.append("metrics ")
        text.append(status.metrics_url, style="underline")
    elif status.metrics_missing:
        text.append("metrics: not yet" + (f" (web {status.web_url})" if status.web_url else ""))
    else:
        text.append(f"metrics: waiting for the worker's web server {status.web_url or ''}".rstrip())
    first = (
        "waiting" if status.first_output_s is None else f"{status.first_output_s:.1f} s after start"
    )
    text.append(f"  ·  first output {first}")
    return text


def _counters(floor: Floor, status: Status) -> Text:
    """Events in, records out, as two lines of text."""
    sent = status.sent
    text = Text("events sent ")
    text.append(f"{sent.sent:,}", style="bold")
    text.append(f" ({sent.rate(status.now):,.0f}/s{', all sent' if status.feed_done else ''})")
    text.append("  ·  worker processed ")
    text.append(_num(status.processed), style="bold")
    if status.processed is not None:
        text.append(f" ({max(0, sent.sent - status.processed):,} held in grace or in flight)")
    text.append("\n")
    for i, kind in enumerate(RECORD_KINDS):
        text.append(("  " if i else "") + f"{kind} ")
        text.append(f"{floor.records[kind]:,}", style="bold")
    dead = ", ".join(f"{r} {n}" for r, n in sorted(floor.dead_letters.items()))
    if dead:
        text.append(f" ({dead})")
    return text


def _table(title: str, *columns: str, right: tuple[str, ...] = (), expand: bool = False) -> Table:
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        title_justify="left",
        pad_edge=False,
        show_edge=False,
        expand=expand,
        title_style="bold",
    )
    for name in columns:
        table.add_column(
            name, justify="right" if name in right else "left", no_wrap=True, min_width=len(name)
        )
    return table


def _agents_table(floor: Floor, wide: bool) -> Table:
    numbers = ("logged in", "ready", "on contact", "not ready")
    table = _table(
        "Agents by state",
        "team",
        *numbers,
        *(("top codes",) if wide else ()),
        right=numbers,
    )
    teams = floor.states_by_team()
    table.columns[0].min_width = min(14, max((len(t) for t in teams), default=4))
    if wide:
        table.columns[-1].min_width = 16  # "BREAK 14 ACW 3"
    total = [0, 0, 0, 0]
    for team, counts in teams.items():
        row = [
            counts[READY] + counts[ON_CONTACT] + counts[NOT_READY],
            counts[READY],
            counts[ON_CONTACT],
            counts[NOT_READY],
        ]
        total = [a + b for a, b in zip(total, row, strict=True)]
        codes = sorted(
            ((k[5:], v) for k, v in counts.items() if k.startswith("code:")),
            key=lambda kv: (-kv[1], kv[0]),
        )
        extra = [" ".join(f"{c} {n}" for c, n in codes[:2])] if wide else []
        table.add_row(team, *(f"{n:,}" for n in row), *extra)
    if floor.agents:
        cells = [Text(f"{n:,}", style="bold") for n in total]
        table.add_row(Text("all", style="bold"), *cells, *([""] if wide else []))
    return table


def _codes_table(floor: Floor, wide: bool) -> Table:
    day, rows = floor.time_by_code()
    numbers = ("total", "stretches", "agents")
    table = _table(
        f"Time by code today{f' ({day})' if day else ''}",
        "code",
        *(("label",) if wide else ()),
        *numbers,
        right=numbers,
    )
    for code, seconds, stretches, agents in rows:
        label = [floor.policy.labels.get(code, "(not in policy)")] if wide else []
        table.add_row(code, *label, clock(seconds), f"{stretches:,}", f"{agents:,}")
    return table


def _detections_table(floor: Floor, rows: int) -> Table:
    total = sum(floor.detections_by_rule.values())
    table = _table(f"Latest detections ({total:,})", "time", "rule", "agent", "team", expand=True)
    table.add_column("message", overflow="ellipsis", no_wrap=True, ratio=1)
    for shown in list(floor.detections)[-rows:][::-1]:
        table.add_row(shown.local_time, shown.kind, shown.agent_id, shown.team, shown.message)
    return table


def _checkins_table(floor: Floor, rows: int) -> Table:
    table = _table(f"Check-ins ({floor.checkins_total:,})", "time", "agent", "team", "code")
    for shown in list(floor.checkins)[-rows:][::-1]:
        table.add_row(shown.local_time, shown.agent_id, shown.team, shown.kind)
    return table


# ---------------------------------------------------------------------- summary
def summary_lines(floor: Floor, status: Status, reason: str) -> list[str]:
    """The summary printed when the demo ends."""
    sent = status.sent
    span = (sent.last_sent or status.now) - (sent.started or status.now)
    first = (
        "none" if status.first_output_s is None else f"{status.first_output_s:.1f} s after start"
    )
    records = ", ".join(f"{kind} {floor.records[kind]:,}" for kind in RECORD_KINDS)
    rules = ", ".join(f"{rule} {n}" for rule, n in sorted(floor.detections_by_rule.items()))
    dead = ", ".join(f"{r} {n}" for r, n in sorted(floor.dead_letters.items()))
    stopping = (
        ""
        if status.stopping_at is None
        else f"; stopping took {status.now - status.stopping_at:.1f} s"
    )
    lines = [
        f"demo summary: ran {clock(status.elapsed)} ({status.elapsed:.1f} s) "
        f"until {reason}{stopping}",
        f"  first output record  {first}",
        f"  events sent          {sent.sent:,} in {span:.1f} s "
        f"({sent.rate():,.0f} events/s sustained)",
    ]
    if status.processed is not None:
        rate = status.processed_rate()
        per_s = "" if rate is None else f" ({rate:,.0f}/s from the first send to the last)"
        lines.append(f"  worker processed     {status.processed:,} input messages{per_s}")
    lines += [
        f"  records              {records}",
        f"  detections by rule   {rules or 'none'}",
        f"  check-ins            {floor.checkins_total:,}",
        f"  dead letters         {floor.records['deadletters']:,}" + (f" ({dead})" if dead else ""),
    ]
    return lines
