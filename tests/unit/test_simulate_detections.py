"""The simulator's injected behaviours are exactly what the detectors find."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from auxstream.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(("agents", "hours", "seed"), [(60, 8, 3), (40, 24, 11)])
def test_detections_match_the_injected_behaviours(
    tmp_path: Path, agents: int, hours: int, seed: int
) -> None:
    day, manifest_path, out = tmp_path / "day.jsonl", tmp_path / "manifest.json", tmp_path / "out"
    assert (
        main(
            [
                "simulate",
                "--agents",
                str(agents),
                "--hours",
                str(hours),
                "--seed",
                str(seed),
                "--out",
                str(day),
                "--manifest",
                str(manifest_path),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "replay",
                str(day),
                "--policy",
                str(EXAMPLES / "policy.yaml"),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    manifest: dict[str, Any] = orjson.loads(manifest_path.read_bytes())
    found = [orjson.loads(line) for line in (out / "detections.jsonl").read_bytes().splitlines()]

    def key(d: dict[str, Any]) -> tuple[str, str, str, tuple[str, ...]]:
        return (d["rule"], d["agent_id"], d["ts"], tuple(d["evidence_event_ids"]))

    expected = sorted(key(d) for d in manifest["expected_detections"])
    assert expected, "the simulator injected nothing to detect"
    assert sorted(key(d) for d in found) == expected

    checkins = [orjson.loads(line) for line in (out / "checkins.jsonl").read_bytes().splitlines()]
    assert sorted((c["agent_id"], c["ts"]) for c in checkins) == sorted(
        (c["agent_id"], c["ts"]) for c in manifest["checkins"]
    )

    summary = orjson.loads((out / "summary.json").read_bytes())
    outcomes = {k: v for k, v in summary["events"].items() if k != "total"}
    assert outcomes == manifest["lines_by_outcome"]
    dead = [orjson.loads(line) for line in (out / "deadletters.jsonl").read_bytes().splitlines()]
    late_lines = sorted(d["offset"] for d in dead if d["reason"] == "late")
    assert late_lines == sorted(f["line"] for f in manifest["faults"]["late"])
    invalid_lines = sorted(d["offset"] for d in dead if d["reason"] == "invalid")
    assert invalid_lines == sorted(f["line"] for f in manifest["faults"]["malformed"])
