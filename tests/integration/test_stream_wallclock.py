"""With the wall clock (the default), a quiet floor still raises limits at their exact moment."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from tests.integration.test_stream_support import StreamSetup, produce_lines, read_outputs, worker


def test_a_limit_is_raised_while_the_agent_is_still_in_the_code(
    kafka_broker: str, tmp_path: Path, shared_examples: Path
) -> None:
    setup = StreamSetup(kafka_broker, tmp_path)
    policy = tmp_path / "short-break.yaml"
    text = (shared_examples / "policy.yaml").read_text()
    policy.write_text(text.replace("max_occurrence_s: 900", "max_occurrence_s: 4"))
    assert setup.cli("topics", "create").returncode == 0

    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(seconds=30)
    on_break = now - timedelta(seconds=1)

    def event(event_id: str, at: datetime, kind: str, **extra: object) -> bytes:
        ts = at.isoformat().replace("+00:00", "Z")
        body = {"event_id": event_id, "agent_id": "W1", "ts": ts, "type": kind, "team": "north"}
        return orjson.dumps({**body, **extra})

    with worker(setup, "--policy", str(policy), AUXSTREAM_WATERMARK="wall-clock") as running:
        running.wait_log("Worker ready")
        began = time.monotonic()
        asyncio.run(
            produce_lines(
                kafka_broker,
                setup.topics["input"],
                [
                    event("w-1", start, "login"),
                    event("w-2", on_break, "not_ready", reason_code="BREAK"),
                ],
            )
        )
        # No further event: only the wall clock can tell that the break passed 4 s.
        outputs = asyncio.run(read_outputs(kafka_broker, setup.topics, at_least=2, quiet_s=3.0))
        waited = time.monotonic() - began

    (detection,) = outputs["detections"]
    crossing = (on_break + timedelta(seconds=4)).isoformat().replace("+00:00", ".000Z")
    assert (detection["rule"], detection["ts"]) == ("occurrence_limit", crossing)
    (segment,) = outputs["segments"]  # the ready stretch before the break, closed by w-2
    assert segment["end_event_id"] == "w-2"
    assert waited < 30
