"""The benchmark's report: the machine it ran on, the table of figures and targets, the doc."""

# ruff: noqa: S603, S607 - the harness runs our own interpreter, git, tar, rm and scripts/kafka.sh

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

from bench.latency import markdown_table, ratio, verdict

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def machine(bootstrap: str) -> dict[str, Any]:
    """nproc, memory, CPU model, Python, Kafka version and the commit measured."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    mem = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
    version = ROOT / ".cache" / "kafka" / "libs" / ".kafka-version"

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(int(mem.group(1)) / 1024 / 1024, 1) if mem else None,
        "cpu": model.group(1).strip() if model else platform.processor(),
        "python": platform.python_version(),
        "kafka": f"Apache Kafka {version.read_text().strip() if version.exists() else '?'} (KRaft, "
        f"one node on {bootstrap}, the same machine)",
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "auxstream")),
    }


def _get(result: dict[str, Any], *path: str) -> Any:
    node: Any = result
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def rows(result: dict[str, Any]) -> str:
    floor = _get(result, "floor", "events_per_s")
    worker = _get(result, "worker", "events_per_s")
    peer = _get(result, "peer", "events_per_s")
    idle99 = _get(result, "bare_hop", "p99_ms")
    # The floor of the latency runs: the hop at their offered load (older results: idle)
    hop99 = _get(result, "bare_hop_loaded", "p99_ms") or idle99
    loaded = _get(result, "bare_hop_loaded", "p99_ms") is not None
    lat0 = _get(result, "latency_grace_0", "p99_ms")
    lat2 = _get(result, "latency_grace_2", "p99_ms")
    beyond2 = (_get(result, "latency_grace_2", "beyond_hold") or {}).get("p99_ms")
    changelog = _get(result, "recovery", "changelog_s")
    kept = _get(result, "recovery", "rocksdb_kept_s")
    rss = _get(result, "recovery", "peak_rss_mb")
    vs_peer, vs_floor = ratio(worker, peer), ratio(worker, floor)
    agents = _get(result, "recovery", "agents") or 0
    p99_ratio = ratio(lat0, hop99)
    idle_ratio = ratio(lat0, idle99)
    bound = None if hop99 is None else 4 * hop99

    def check(ok: bool | None) -> str:
        return verdict(ok)

    table = [
        {"measure": "floor: getmany + orjson", "value": floor, "unit": " events/s"},
        {"measure": "auxstream worker, all outputs", "value": worker, "unit": " events/s"},
        {
            "measure": f"plain Faust peer ({_get(result, 'peer', 'events') or 0:,} events)",
            "value": peer,
            "unit": " events/s",
        },
        {
            "measure": "worker / peer",
            "value": vs_peer,
            "unit": "x",
            "target": ">= 3x",
            "result": check(None if vs_peer is None else vs_peer >= 3),
        },
        {
            "measure": "worker / floor",
            "value": None if vs_floor is None else 100 * vs_floor,
            "unit": " %",
            "target": ">= 25% (moonshot)",
            "result": check(None if vs_floor is None else vs_floor >= 0.25),
        },
    ]
    for name, label in (
        ("bare_hop", "bare hop, one record at a time"),
        ("bare_hop_loaded", "bare hop at the offered load"),
        ("latency_grace_0", "event-to-output, grace 0"),
        ("latency_grace_2", "event-to-output, grace 2 s"),
        ("latency_grace_2.beyond_hold", "grace 2 s, after the contract's release"),
    ):
        top, _, sub = name.partition(".")
        summary = _get(result, top) or {}
        if sub:
            summary = summary.get(sub) or {}
        if summary.get("count"):
            table.append(
                {
                    "measure": f"{label} p50 / p95 / p99 ms",
                    "value": f"{summary['p50_ms']} / {summary['p95_ms']} / {summary['p99_ms']}",
                }
            )
    table += [
        {
            "measure": "p99 grace 0 / bare-hop p99" + (" at the offered load" if loaded else ""),
            "value": p99_ratio,
            "unit": "x",
            "target": "<= 4x",
            "result": check(None if p99_ratio is None else p99_ratio <= 4),
        },
        *(
            [
                {
                    "measure": "p99 grace 0 / bare-hop p99 one record at a time",
                    "value": idle_ratio,
                    "unit": "x",
                    "target": "(shown)",
                    "result": check(None if idle_ratio is None else idle_ratio <= 4),
                }
            ]
            if loaded
            else []
        ),
        {
            "measure": "p99 grace 2 s",
            "value": lat2,
            "unit": " ms",
            "target": "<= 2000 ms + 4x hop p99"
            + ("" if bound is None else f" ({2000 + bound:,.0f} ms)"),
            "result": check(None if lat2 is None or bound is None else lat2 <= 2000 + bound),
        },
        {
            "measure": "p99 grace 2 s, after the moment the contract releases the event",
            "value": beyond2,
            "unit": " ms",
            "target": "<= 4x hop p99" + ("" if bound is None else f" ({bound:,.1f} ms)"),
            "result": check(None if beyond2 is None or bound is None else beyond2 <= bound),
        },
        {
            "measure": f"recovery from changelog ({agents:,} agents)",
            "value": changelog,
            "unit": " s",
            "target": "< 30 s",
            "result": check(None if changelog is None else changelog < 30),
        },
        {
            "measure": "recovery, RocksDB store kept",
            "value": kept,
            "unit": " s",
            "target": "< 5 s",
            "result": check(None if kept is None else kept < 5),
        },
        {
            "measure": "worker peak RSS with those agents",
            "value": rss,
            "unit": " MB",
            "target": "< 1024 MB",
            "result": check(None if rss is None else rss < 1024),
        },
    ]
    return markdown_table(table)


def write_doc(path: Path, result: dict[str, Any], table: str) -> None:
    """Put the machine and the table between the bench markers of ``path`` (made if missing)."""
    m = result["machine"]
    sizes = result["sizes"]
    quick = " BENCH_ARGS=--quick" if result["quick"] else ""
    events = _get(result, "preload", "events") or sizes["events"]
    measured = m.get("measured") or (
        "auxstream/ of the work tree" + (", with uncommitted changes" if m["dirty"] else "")
    )
    load = f"load average {' '.join(m.get('loadavg_before', []))} before the run"
    block = "\n".join(
        [
            START,
            f"Measured {result['date']} by `make bench{quick}` (HEAD {m['commit']}; {measured}; "
            f"{result.get('wall_s', '?')} s in all) on {m['nproc']} cores ({m['cpu']}), "
            f"{m['memory_gb']} GB, Python {m['python']}, {m['kafka']}. "
            f"{events:,} events, {sizes['agents']:,} agents, "
            f"{sizes['partitions']} partitions; "
            f"latency at {sizes['rate']:,} events/s for {sizes['duration']:g} s; {load}.",
            "",
            table,
            END,
        ]
    )
    text = path.read_text() if path.exists() else "# Performance\n\n" + START + "\n" + END + "\n"
    if START not in text:
        text += "\n" + START + "\n" + END + "\n"
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    path.write_text(head + block + tail)
