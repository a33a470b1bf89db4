"""The plain Faust peer: one agent, event by event, one table write and one send per event.

What a user would write without auxstream's batching: decode the event, update the agent's
entry in a changelog-backed table, send one output record. Run by ``bench.stream`` as

    python -m bench.baselines.faust_peer worker

with the broker, topics and app id in ``PEER_*`` environment variables.
"""

from __future__ import annotations

import os
from typing import Any

import faust
import orjson

BROKER = os.environ.get("PEER_BROKER", "kafka://127.0.0.1:9092")
INPUT_TOPIC = os.environ.get("PEER_INPUT_TOPIC", "acd.agent-events")
OUTPUT_TOPIC = os.environ.get("PEER_OUTPUT_TOPIC", "peer.outputs")
PARTITIONS = int(os.environ.get("PEER_PARTITIONS", "12"))

app = faust.App(
    os.environ.get("PEER_APP_ID", "faust-peer"),
    broker=BROKER,
    store="memory://",
    topic_partitions=PARTITIONS,
    topic_replication_factor=1,
    consumer_auto_offset_reset="earliest",
    key_serializer="raw",
    value_serializer="raw",
    web_enabled=False,
    autodiscover=False,
    # Faust's default, "<app id>-data" in the working directory, left a folder in the
    # checkout per run; the bench passes one in its temporary folder.
    datadir=os.environ.get("PEER_DATADIR") or f"{os.environ.get('PEER_APP_ID', 'faust-peer')}-data",
)
events = app.topic(INPUT_TOPIC, key_serializer="raw", value_serializer="raw")
outputs = app.topic(OUTPUT_TOPIC, key_serializer="raw", value_serializer="raw")
agents = app.Table("agents", default=dict, partitions=PARTITIONS)


@app.agent(events)
async def agent_events(stream: Any) -> None:
    """Each event: decode, update the agent's entry, send one output."""
    async for key, value in stream.items():
        try:
            event = orjson.loads(value)
            agent_id = event["agent_id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            agent_id = None
            event = {}
        state = dict(agents[agent_id]) if agent_id else {}
        state["events"] = state.get("events", 0) + 1
        state["last_type"] = event.get("type")
        state["last_ts"] = event.get("ts")
        if agent_id:
            agents[agent_id] = state
        await outputs.send(key=key, value=orjson.dumps({"agent_id": agent_id, **state}))


if __name__ == "__main__":
    app.main()
