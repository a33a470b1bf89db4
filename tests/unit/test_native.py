"""The mypyc-compiled core writes the same bytes as the pure Python it is compiled from.

``make test`` builds ``auxstream/_native/`` first (``make native``); where that build is
missing or stale the comparison is skipped (the rest of the suite then ran pure Python).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from auxstream import _native
from auxstream.domain.state import AgentState
from auxstream.policy import load_policy
from auxstream.replay.runner import Replayer

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "examples" / "policy.yaml"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FILES = (
    "segments",
    "intervals",
    "durations",
    "detections",
    "checkins",
    "deadletters",
)


def _replay(source: Path, out: Path, pure: bool) -> str:
    env = {k: v for k, v in os.environ.items() if k != _native.PURE_ENV}
    if pure:
        env[_native.PURE_ENV] = "1"
    code = (
        "import sys, auxstream._native as n; from auxstream.cli import main; "
        "rc = main(sys.argv[1:]); print(n.STATUS); sys.exit(rc)"
    )
    args = ["replay", str(source), "--policy", str(POLICY), "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-c", code, *args, "--progress", "never", "--quiet"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    )
    return done.stdout.strip().splitlines()[-1]


def _simulated_day(tmp: Path) -> Path:
    day = tmp / "day.jsonl"
    args = ["simulate", "--agents", "300", "--hours", "24", "--seed", "11", "--out", str(day)]
    subprocess.run(
        [sys.executable, "-m", "auxstream", *args],
        capture_output=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, _native.PURE_ENV: "1"},
    )
    return day


@pytest.mark.skipif(
    _native._check()[0] is None, reason="no fresh compiled core (make native builds it)"
)
@pytest.mark.parametrize("source", ["example", "simulated"])
def test_compiled_and_pure_replay_write_the_same_bytes(tmp_path: Path, source: str) -> None:
    example = ROOT / "examples" / "example-day.jsonl"
    day = example if source == "example" else _simulated_day(tmp_path)
    assert _replay(day, tmp_path / "compiled", pure=False) == "compiled"
    assert _replay(day, tmp_path / "pure", pure=True) == "pure"
    for name in FILES:
        compiled = (tmp_path / "compiled" / f"{name}.jsonl").read_bytes()
        pure = (tmp_path / "pure" / f"{name}.jsonl").read_bytes()
        assert compiled == pure, f"{name}.jsonl differs between compiled and pure Python"
    if source == "simulated":
        assert (tmp_path / "pure" / "segments.jsonl").stat().st_size > 1_000_000


def test_an_edited_source_disables_the_compiled_core(monkeypatch: pytest.MonkeyPatch) -> None:
    if _native._check()[0] is None:
        pytest.skip("no fresh compiled core (make native builds it)")
    real = _native.source_hash
    monkeypatch.setattr(
        _native,
        "source_hash",
        lambda module: "0" * 64 if module == "auxstream.domain.engine" else real(module),
    )
    files, status = _native._check()
    assert files is None
    assert status == "stale: auxstream/domain/engine.py changed"


def test_pure_is_forced_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_native.PURE_ENV, "1")
    assert _native._check() == (None, "pure")


def _states_after(lines: int) -> dict[str, AgentState]:
    replayer = Replayer(load_policy(POLICY), lambda name, key, line: None)
    for line in (ROOT / "examples" / "example-day.jsonl").read_bytes().splitlines()[:lines]:
        replayer.feed_line(line)
    return replayer.states


def test_agent_states_stored_before_reduce_still_load() -> None:
    """The stream keeps pickled AgentState in its changelog: states pickled by the pure
    dataclasses before they had __reduce__ load in the compiled classes too."""
    blobs = pickle.loads((FIXTURES / "agent-states-before-reduce.pickle").read_bytes())  # noqa: S301 - our fixture
    expected = _states_after(20)
    assert sum(len(state.held) for state in expected.values()) == 3
    assert {k: pickle.loads(v) for k, v in blobs.items()} == expected  # noqa: S301 - as above


def test_agent_states_move_between_compiled_and_pure(tmp_path: Path) -> None:
    """A state pickled by one build loads in the other, both ways."""
    code = (
        "import pickle, sys; sys.path.insert(0, 'tests/unit');"
        "from test_native import _states_after;"
        "open(sys.argv[1], 'wb').write(pickle.dumps(_states_after(20), protocol=5))"
    )
    for pure in (True, False):
        env = {k: v for k, v in os.environ.items() if k != _native.PURE_ENV}
        if pure:
            env[_native.PURE_ENV] = "1"
        out = tmp_path / f"states-{pure}.pickle"
        subprocess.run([sys.executable, "-c", code, str(out)], check=True, cwd=ROOT, env=env)
        assert pickle.loads(out.read_bytes()) == _states_after(20)  # noqa: S301 - our own file
