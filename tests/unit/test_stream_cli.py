"""The stream's commands without a broker: settings, help, and a broker that is not there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auxstream.cli import build_parser
from auxstream.stream.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUXSTREAM_")}
    return subprocess.run(
        [sys.executable, "-m", "auxstream", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_an_unreachable_broker_is_one_line_naming_it_and_exit_2(shared_examples: Path) -> None:
    policy = str(shared_examples / "policy.yaml")
    for args in (
        ["topics", "create"],
        ["topics", "check"],
        ["policy", "publish", policy],
        ["worker", "--policy", policy],
    ):
        done = run(*args, "--broker", "127.0.0.1:1")
        assert done.returncode == 2, (args, done.stderr)
        assert "cannot reach Kafka at 127.0.0.1:1" in done.stderr
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_bad_settings_name_the_option_or_variable_and_exit_2(shared_examples: Path) -> None:
    done = run("worker", "--policy", str(shared_examples / "policy.yaml"), "--broker", "http://x:1")
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "auxstream worker: broker (--broker): must start with kafka:// (got http://)"
    )
    done = run("topics", "check", AUXSTREAM_PARTITIONS="none")
    assert done.returncode == 2
    assert "partitions (AUXSTREAM_PARTITIONS)" in done.stderr
    done = run("worker", "--policy", str(ROOT / "no-such-policy.yaml"), "--broker", "127.0.0.1:1")
    assert done.returncode == 2 and "no such policy file" in done.stderr


def test_every_worker_option_is_documented() -> None:
    parser = build_parser()
    worker = parser._subparsers._group_actions[0].choices["worker"]
    for action in worker._actions:
        assert action.help, action.option_strings
    text = worker.format_help()
    for option in (
        "--broker",
        "--policy",
        "--store",
        "--partitions",
        "--web-port",
        "--watermark",
        "--processing-guarantee",
        "--data-dir",
        "--loglevel",
    ):
        assert option in text


def test_settings_come_from_the_environment_and_the_command_line_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUXSTREAM_BROKER", "kafka://10.0.0.1:9092")
    monkeypatch.setenv("AUXSTREAM_PARTITIONS", "6")
    settings = Settings.from_overrides({"partitions": 3, "store": None})
    assert (settings.broker, settings.partitions, settings.store) == (
        "kafka://10.0.0.1:9092",
        3,
        "rocksdb://",
    )
    assert settings.bootstrap_servers == "10.0.0.1:9092"
    with pytest.raises(SettingsError, match="used twice"):
        Settings.from_overrides({"segments_topic": "auxstream.intervals"})
    with pytest.raises(SettingsError, match=r"tick_s \(--tick\)"):
        Settings.from_overrides({"tick_s": 0})
    with pytest.raises(ValueError, match="frozen"):
        settings.partitions = 1  # type: ignore[misc]


def test_a_broker_list_is_normalised() -> None:
    settings = Settings.from_overrides({"broker": "a:1, b:2"})
    assert settings.broker == "kafka://a:1;b:2"
    assert settings.bootstrap_servers == "a:1,b:2"
