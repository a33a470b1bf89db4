"""The processes the demo starts: ``auxstream topics create`` and one ``auxstream worker``.

Both are this package's own command line run as subprocesses, with the run's settings in
their environment (``AUXSTREAM_*``, the settings module's own names). The worker runs in
a session of its own, so a Ctrl-C in the terminal reaches the demo only and the demo stops
the worker itself, by its pid, in order: SIGTERM, a bounded wait, SIGKILL if it must. On
Linux the worker also gets SIGTERM if the demo dies without stopping it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from auxstream.stream.settings import ENV_PREFIX, Settings

_PR_SET_PDEATHSIG = 1


def settings_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (the demo's environment) without any AUXSTREAM_ variable, plus every setting."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith(ENV_PREFIX)
    }
    for name, value in settings.model_dump().items():
        if isinstance(value, SecretStr):  # str() of a secret is "**********"
            value = value.get_secret_value()
        if value is not None:
            env[f"{ENV_PREFIX}{name.upper()}"] = str(value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "auxstream", *args]


def create_topics(
    env: Mapping[str, str], timeout_s: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """``auxstream topics create`` with the run's settings; never raises on a non-zero exit."""
    try:
        return subprocess.run(  # noqa: S603 - our own command line
            _command("topics", "create"),
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(
            ["topics", "create"], 124, "", f"did not finish in {timeout_s:.0f} s"
        )


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to SIGTERM the child when the demo's process goes away."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


@dataclass
class Stopped:
    """How a worker ended."""

    pid: int
    returncode: int
    seconds: float
    """From the first signal to the end."""
    killed: bool
    """True when SIGTERM was not enough (SIGKILL was sent)."""
    by_itself: bool
    """True when it had already exited before the demo stopped it."""


class WorkerProcess:
    """``python -m auxstream worker`` with its output in ``log``."""

    def __init__(self, args: list[str], env: Mapping[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(  # noqa: S603 - our own command line
            _command("worker", *args),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self.pid = self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def stop(self, timeout_s: float = 30.0, force: asyncio.Event | None = None) -> Stopped:
        """SIGTERM, wait up to ``timeout_s`` (or until ``force`` is set), then SIGKILL; by pid."""
        began = time.monotonic()
        by_itself = not self.running()
        killed = False
        if not by_itself:
            self._signal(signal.SIGTERM)
            deadline = began + timeout_s
            force = force or asyncio.Event()
            while self.running() and time.monotonic() < deadline and not force.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(force.wait(), 0.1)
            if self.running():
                killed = True
                self._signal(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    await asyncio.to_thread(self.proc.wait, 10.0)
        self._out.close()
        code = self.proc.poll()
        return Stopped(
            self.pid, -999 if code is None else code, time.monotonic() - began, killed, by_itself
        )

    def _signal(self, sig: int) -> None:
        # Popen only signals a child it has not reaped yet: never a recycled pid.
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)
