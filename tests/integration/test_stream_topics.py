"""`auxstream topics create|check` against the broker, and the declaration they read."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.integration.kafka_helpers import create_topics
from tests.integration.test_stream_support import StreamSetup, worker


def test_topics_are_created_idempotently_and_match_the_declaration(
    kafka_broker: str, tmp_path: Path
) -> None:
    setup = StreamSetup(kafka_broker, tmp_path)
    first = setup.cli("topics", "create")
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("created") == 10
    again = setup.cli("topics", "create")
    assert again.returncode == 0 and "created" not in again.stdout

    check = setup.cli("topics", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "all declared topics match" in check.stdout


def test_topics_check_names_every_difference(
    kafka_broker: str, tmp_path: Path, shared_examples: Path
) -> None:
    setup = StreamSetup(kafka_broker, tmp_path)
    # Someone made the input topic by hand, with the wrong partition count and default settings.
    asyncio.run(create_topics(kafka_broker, [setup.topics["input"]], partitions=1))
    check = setup.cli("topics", "check")
    assert check.returncode == 1
    lines = check.stdout.splitlines()
    assert f"{setup.topics['input']}: 1 partitions, declared {setup.partitions}" in lines
    assert any(line.startswith(f"{setup.topics['input']}: max.message.bytes=") for line in lines)
    assert f"{setup.topics['segments']}: missing (output topic)" in lines

    # And a worker refuses to start on it rather than mixing up agents' partitions.
    created = setup.cli("topics", "create")
    assert created.returncode == 0
    with worker(setup, "--policy", str(shared_examples / "policy.yaml")) as w:
        assert w.proc.wait(timeout=60) == 2
        assert "must match" in w.text()
