"""Issue 6, security: the worker's HTTP endpoints under hostile requests.

The token check on ``/agents`` and ``/teams``, size limits on what a request may carry, and
no stack trace in any answer (a 5xx must not leak code paths either). The webhook
receiver's limits and answers are tested in tests/integration/test_ingest_http.py.
"""

from __future__ import annotations

import http.client
import socket
from pathlib import Path

import pytest

from tests.integration.prometheus_helpers import free_port
from tests.integration.test_stream_support import StreamSetup, Worker
from tests.reliability.support import Row

TOKEN = "reliability-token"  # noqa: S105 - loopback test token
LEAKS = ("Traceback", 'File "', "site-packages", "auxstream/stream")


def ask(
    port: int, method: str, path: str, *, body: bytes | None = None, token: str | None = TOKEN,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:  # fmt: skip
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    try:
        connection.request(method, path, body=body, headers=sent)
        reply = connection.getresponse()
        return reply.status, reply.read()
    except (ConnectionError, http.client.HTTPException):
        return 0, b""  # the server closed the connection: refused, nothing leaked
    finally:
        connection.close()


@pytest.fixture(scope="module")
def web_port(
    kafka_broker: str, tmp_path_factory: pytest.TempPathFactory, shared_examples: Path
) -> object:
    setup = StreamSetup(kafka_broker, tmp_path_factory.mktemp("http"))
    assert setup.cli("topics", "create").returncode == 0
    port = free_port()
    running = Worker(
        setup, "--policy", str(shared_examples / "policy.yaml"),
        AUXSTREAM_WEB_PORT=str(port), AUXSTREAM_API_TOKEN=TOKEN,
    )  # fmt: skip
    try:
        running.wait_log("Worker ready")
        yield port
        assert running.proc.poll() is None, running.text()[-3000:]
    finally:
        running.stop()


CASES = [
    ("no token", "GET", "/agents/A00001", None, None, {401}),
    ("wrong token", "GET", "/teams/north", None, "nope", {401}),
    ("token in another scheme", "GET", "/teams/north", None, None, {401}),
    ("id too long", "GET", "/agents/" + "x" * 4000, None, TOKEN, {400, 414}),
    ("control characters", "GET", "/agents/%00%0a%1b", None, TOKEN, {400, 404}),
    ("path traversal", "GET", "/agents/..%2f..%2fetc%2fpasswd", None, TOKEN, {400, 404}),
    ("bad scope", "GET", "/teams/north?scope=%27%3B--", None, TOKEN, {400}),
    ("unknown agent", "GET", "/agents/NOBODY", None, TOKEN, {404, 503}),
    ("unknown path", "GET", "/admin", None, TOKEN, {404}),
    ("POST 5 MB", "POST", "/agents/A00001", b"x" * (5 * 1024 * 1024), TOKEN, {0, 405, 413}),
    ("POST 5 MB to health", "POST", "/health", b"{" * (5 * 1024 * 1024), None, {0, 405, 413}),
    ("PUT to metrics", "PUT", "/metrics", b"1", None, {405}),
]


@pytest.mark.parametrize(
    ("case", "method", "path", "body", "token", "allowed"), CASES, ids=[c[0] for c in CASES]
)
def test_hostile_requests_get_a_plain_refusal(
    web_port: int,
    case: str,
    method: str,
    path: str,
    body: bytes | None,
    token: str | None,
    allowed: set[int],
) -> None:
    headers = {"Authorization": f"Basic {TOKEN}"} if case == "token in another scheme" else None
    status, text = ask(web_port, method, path, body=body, token=token, headers=headers)
    assert status in allowed, (status, text[:500])
    assert not any(leak.encode() in text for leak in LEAKS), text[:2000]


def test_oversized_headers_are_refused(web_port: int, row: Row) -> None:
    row.scenario = "security: HTTP"
    status, text = ask(web_port, "GET", "/health", headers={"X-Big": "y" * 64 * 1024})
    assert status in (0, 400, 431), (status, text[:300])
    assert b"Traceback" not in text
    # And the server still answers afterwards.
    status, _ = ask(web_port, "GET", "/health/live", token=None)
    assert status == 200
    with socket.create_connection(("127.0.0.1", web_port), timeout=5) as raw:
        raw.sendall(b"GARBAGE / HTTP/9.9\r\n\r\n")
        answer = raw.recv(4096)
    assert b"Traceback" not in answer
    row.note = f"{len(CASES)} hostile requests plus oversized headers and a garbage request line"
