"""The Prometheus rules of deploy/prometheus are valid and do what their unit tests say.

Runs the real ``promtool`` (``make prometheus`` installs it from the Debian package). A missing
promtool fails these tests in CI; on a developer machine it skips them with the command to
run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = sorted((PROMETHEUS / "rules").glob("*.yaml"))
UNIT_TESTS = sorted((PROMETHEUS / "tests").glob("*.yaml"))


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = "promtool not found: run `make prometheus` (scripts/prometheus.sh install)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args],
        cwd=PROMETHEUS,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_rule_files_are_valid() -> None:
    assert RULES, "no rule files in deploy/prometheus/rules"
    done = run("check", "rules", *map(str, RULES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_scrape_config_is_valid() -> None:
    done = run("check", "config", "--syntax-only", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("unit", UNIT_TESTS, ids=lambda p: p.name)
def test_rule_unit_tests_pass(unit: Path) -> None:
    done = run("test", "rules", str(unit))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_unit_test() -> None:
    alerts = {
        rule["alert"]
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    tested = {
        case["alertname"]
        for path in UNIT_TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    }
    assert alerts - tested == set(), f"alerts without a promtool test: {sorted(alerts - tested)}"
