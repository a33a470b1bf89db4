"""Per-stage cost of replay, in microseconds per input line.

`python bench/stages.py FILE [REPEAT]` reports the best of REPEAT (default 3) runs of each.
Each stage includes the ones before it: parse (orjson only) -> validate (event_from_dict)
-> core (engine.apply per event, no routing) -> Replayer with no-op sinks -> Replayer with
replay's sinks buffering every record, never spilled (what `auxstream replay` does before
sorting and writing) -> files (the whole replay_file: sorted runs spilled, merged and
written into a temporary folder). The cyclic garbage collector is paused, as replay_file
does; the first line says whether the core ran compiled (auxstream/_native.py) or as pure Python.
"""

from __future__ import annotations

import gc
import io
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from auxstream import _native
from auxstream.domain import engine
from auxstream.domain.events import InvalidEvent, event_from_dict
from auxstream.domain.state import AgentState
from auxstream.policy import load_policy
from auxstream.replay.files import Source
from auxstream.replay.run import replay_file, sorted_file
from auxstream.replay.runner import RECORD_NAMES, Replayer

POLICY = load_policy("examples/policy.yaml")


def parse(lines: list[bytes]) -> None:
    loads = orjson.loads
    for line in lines:
        try:  # noqa: SIM105 - contextlib.suppress would add its own cost per line
            loads(line)
        except orjson.JSONDecodeError:
            pass


def validate(lines: list[bytes]) -> None:
    for line in lines:
        try:  # noqa: SIM105 - as above
            event_from_dict(orjson.loads(line))
        except (orjson.JSONDecodeError, InvalidEvent):
            pass


def core(lines: list[bytes]) -> None:
    states: dict[str, AgentState] = {}
    for line in lines:
        try:
            event = event_from_dict(orjson.loads(line))
        except (orjson.JSONDecodeError, InvalidEvent):
            continue
        state = states.get(event.agent_id)
        if state is None:
            state = states[event.agent_id] = engine.new_agent(event.agent_id)
        engine.apply(state, event, POLICY)


def replayer_noemit(lines: list[bytes]) -> None:
    replayer = Replayer(
        POLICY,
        lambda kind, key, line: None,
        dict.fromkeys(RECORD_NAMES, lambda first, rest, line: None),
    )
    replayer.feed(lines)


def replayer_buffered(lines: list[bytes]) -> None:
    # The sinks replay uses (the C ones when built), never spilled or written: their
    # buffers just grow, and are dropped unwritten.
    with tempfile.TemporaryDirectory(prefix="auxstream-stages-") as tmp:
        sinks = {
            name: sorted_file(Path(tmp) / f"{name}.jsonl", Path(tmp), len(lines) * 10)
            for name in RECORD_NAMES
        }
        replayer = Replayer(
            POLICY,
            lambda kind, key, line: None,
            {name: sink.add for name, sink in sinks.items()},
        )
        replayer.feed(lines)


def files(lines: list[bytes]) -> None:
    data = b"\n".join(lines) + b"\n"
    with tempfile.TemporaryDirectory(prefix="auxstream-stages-") as tmp:
        stream = io.BytesIO(data)
        replay_file(Source("stages", stream, len(data), stream), POLICY, Path(tmp))


def main() -> None:
    with open(sys.argv[1], "rb") as f:
        lines = f.read().splitlines()
    stages: list[Callable[[list[bytes]], None]] = [
        parse,
        validate,
        core,
        replayer_noemit,
        replayer_buffered,
        files,
    ]
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(f"core: {_native.STATUS}")
    gc.disable()
    for stage in stages:
        best = float("inf")
        for _ in range(repeat):  # the best of a few runs: a shared machine is noisy
            started = time.process_time()
            stage(lines)
            best = min(best, time.process_time() - started)
        print(f"{stage.__name__:16} {best / len(lines) * 1e6:6.2f} us/event")


if __name__ == "__main__":
    main()
