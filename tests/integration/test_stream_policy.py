"""`auxstream policy publish` changes a running worker's policy; detections say which one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from auxstream.policy import load_policy
from tests.integration.test_stream_support import StreamSetup, produce_lines, read_outputs, worker


def event(event_id: str, agent: str, ts: str, kind: str, **extra: object) -> bytes:
    return orjson.dumps(
        {"event_id": event_id, "agent_id": agent, "ts": ts, "type": kind, "team": "north", **extra}
    )


def a_break(agent: str, hour: int) -> list[bytes]:
    """Login, a 3-minute BREAK, ready again: over a 60 s limit, well within the example's 900 s."""
    return [
        event(f"{agent}-1", agent, f"2026-05-12T{hour:02d}:00:00Z", "login"),
        event(
            f"{agent}-2", agent, f"2026-05-12T{hour:02d}:01:00Z", "not_ready", reason_code="BREAK"
        ),
        event(f"{agent}-3", agent, f"2026-05-12T{hour:02d}:04:00Z", "ready"),
    ]


def test_a_published_policy_takes_effect_on_a_running_worker(
    kafka_broker: str, tmp_path: Path, shared_examples: Path
) -> None:
    setup = StreamSetup(kafka_broker, tmp_path)
    original = shared_examples / "policy.yaml"
    strict = tmp_path / "strict.yaml"
    text = original.read_text()
    needle = "{code: BREAK, label: Break, category: break, paid: true, max_occurrence_s: 900"
    assert needle in text
    strict.write_text(text.replace(needle, needle.replace("900", "60")))
    old, new = load_policy(original).version, load_policy(strict).version
    assert old != new
    assert setup.cli("topics", "create").returncode == 0

    with worker(setup, "--policy", str(original)) as running:
        running.wait_log("Worker ready")
        asyncio.run(produce_lines(kafka_broker, setup.topics["input"], a_break("before", 8)))
        before = asyncio.run(read_outputs(kafka_broker, setup.topics, at_least=2))
        assert not before["detections"]

        published = setup.cli("policy", "publish", str(strict))
        assert published.returncode == 0, published.stderr
        assert new in published.stdout
        running.wait_log(f"policy {old} -> {new}", timeout_s=30)

        asyncio.run(produce_lines(kafka_broker, setup.topics["input"], a_break("after", 9)))
        after = asyncio.run(read_outputs(kafka_broker, setup.topics, at_least=5))

    (detection,) = after["detections"]
    assert detection["agent_id"] == "after"
    assert detection["rule"] == "occurrence_limit"
    assert detection["threshold"] == 60
    assert detection["ts"] == "2026-05-12T09:02:00.000Z"
    assert detection["policy_version"] == new

    # A worker started now begins with the published policy, not the file it is given.
    with worker(setup, "--policy", str(original)) as restarted:
        restarted.wait_log(f"published policy {new}")
