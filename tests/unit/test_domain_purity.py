"""The core stays pure: no Kafka, Faust, Prometheus or asyncio, and no clock."""

from __future__ import annotations

import ast
from pathlib import Path

import auxstream.domain

FORBIDDEN_MODULES = {
    "faust",
    "aiokafka",
    "prometheus_client",
    "asyncio",
    "mode",
    "socket",
    "time",
    "random",
}
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


def _domain_files() -> list[Path]:
    root = Path(auxstream.domain.__file__).parent
    files = sorted(root.glob("*.py"))
    assert len(files) >= 5
    return files


def test_domain_imports_nothing_impure() -> None:
    for path in _domain_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN_MODULES, f"{path.name} imports {name}"


def test_domain_never_reads_a_clock() -> None:
    for path in _domain_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in CLOCK_CALLS, (
                    f"{path.name}:{node.lineno} calls .{node.func.attr}()"
                )
