"""Replay pauses the cyclic garbage collector: that is only safe while it makes no cycles."""

from __future__ import annotations

import gc
from pathlib import Path

import orjson

from auxstream.cli import main
from auxstream.policy import load_policy
from auxstream.replay.runner import RECORD_NAMES, Replayer

ROOT = Path(__file__).resolve().parents[2]


def test_replay_makes_no_reference_cycles(tmp_path: Path) -> None:
    """Two simulated hours with every injected behaviour and delivery fault, plus bad lines."""
    day = tmp_path / "day.jsonl"
    assert (
        main(["simulate", "--agents", "60", "--hours", "2", "--seed", "3", "--out", str(day)]) == 0
    )
    lines = day.read_bytes().splitlines()
    lines += [b"{not json", b'{"event_id": "x"}', orjson.dumps([1, 2]), b""]
    kept: list[tuple[object, ...]] = []
    pol = load_policy(ROOT / "examples" / "policy.yaml")
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        replayer = Replayer(
            pol,
            lambda kind, key, line: kept.append((*key, line)),
            dict.fromkeys(RECORD_NAMES, lambda first, rest, line: kept.append((first, rest, line))),
        )
        replayer.feed(lines)
        replayer.finish()
        assert kept
        assert gc.collect() == 0
    finally:
        if was_enabled:
            gc.enable()
