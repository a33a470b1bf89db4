"""Kafka over TLS with SCRAM-SHA-512 logins, against the project's own broker in secure mode.

One private broker for this module: `KAFKA_SECURITY=sasl_ssl scripts/kafka.sh up` in a folder
and on ports of its own (the session's plaintext broker is not involved), stopped by its pid
with `down` at the end. Its CA, the `auxstream` user's password file and its other client
settings are in the `client.env` the script writes; every client here reads them the way a
deployment does, from AUXSTREAM_ variables.

A broker that cannot start fails these tests; it never skips them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from auxstream.stream.compare import differences
from auxstream.stream.processor import home_partition
from auxstream.stream.settings import Settings
from tests.integration.broker_script import (
    KAFKA_SCRIPT,
    TEST_KAFKA_ROOT,
    ScriptBroker,
    _free_port,
    running,
)
from tests.integration.kafka_helpers import ConditionNotMet
from tests.integration.test_stream_support import (
    RECORD_NAMES,
    StreamSetup,
    key_of,
    newest_event_time,
    replay,
    simulate,
    worker,
)

ROOT = Path(__file__).resolve().parents[2]
AGENTS, HOURS, SEED = 12, 2, 20260611
WRONG = "not-the-password-" + uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class SecureBroker(ScriptBroker):
    """A scripts/kafka.sh broker in sasl_ssl mode."""

    def run(self, command: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "KAFKA_DIR": str(self.kafka_dir),
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "KAFKA_SECURITY": "sasl_ssl",
        }
        return subprocess.run(
            [str(KAFKA_SCRIPT), command],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    @property
    def security_dir(self) -> Path:
        return self.kafka_dir / "security"

    def client_env(self) -> dict[str, str]:
        """The AUXSTREAM_ variables of `security/client.env`, as the script wrote them."""
        env = {}
        for line in (self.security_dir / "client.env").read_text().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.partition("=")
                env[name] = value
        return env


@pytest.fixture(scope="module")
def secure_broker() -> Iterator[SecureBroker]:
    broker = SecureBroker(
        kafka_dir=TEST_KAFKA_ROOT / f"secure-{os.getpid()}-{uuid.uuid4().hex[:6]}",
        port=_free_port(),
        controller_port=_free_port(),
    )
    with running(broker, "the secure test broker (KAFKA_SECURITY=sasl_ssl)"):
        yield broker


@dataclass
class SecureSetup(StreamSetup):
    """A stream test's private topics, with the broker's security settings in every command."""

    security_env: dict[str, str] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(**{**self.security_env, **extra})

    def run(
        self, *args: str, timeout_s: float = 90.0, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        """`python -m auxstream ARGS` with extra (or replaced) environment variables."""
        env = {k: v for k, v in self.env(**extra).items() if v != "<unset>"}
        return subprocess.run(
            [sys.executable, "-m", "auxstream", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )


def client_options(env: dict[str, str]) -> dict[str, Any]:
    """aiokafka options from AUXSTREAM_ variables, through the project's own settings."""
    given = {k.removeprefix("AUXSTREAM_").lower(): v for k, v in env.items()}
    return Settings.from_overrides(given).kafka_security.client_options()


async def produce_lines(
    bootstrap: str, topic: str, lines: list[bytes], partitions: int, options: dict[str, Any]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, **options)
    await producer.start()
    try:
        pending = []
        for line in lines:
            key = key_of(line)
            partition = home_partition(key.decode(), partitions) if key else 0
            pending.append(await producer.send(topic, line, key=key, partition=partition))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def read_outputs(
    bootstrap: str,
    topics: dict[str, str],
    options: dict[str, Any],
    quiet_s: float = 4.0,
    timeout_s: float = 120.0,
) -> dict[str, list[dict[str, Any]]]:
    """The six output topics from the beginning, until nothing new came for ``quiet_s``."""
    by_topic = {topics[name]: name for name in RECORD_NAMES}
    consumer = AIOKafkaConsumer(
        *by_topic,
        bootstrap_servers=bootstrap,
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=1000,
        **options,
    )
    await consumer.start()
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    total, deadline, last_new = 0, time.monotonic() + timeout_s, time.monotonic()
    try:
        while total == 0 or time.monotonic() - last_new < quiet_s:
            if time.monotonic() > deadline:
                raise ConditionNotMet(
                    f"outputs still growing (or none) after {timeout_s}s: {total} read"
                )
            batches = await consumer.getmany(timeout_ms=250)
            for tp, records in batches.items():
                out[by_topic[tp.topic]].extend(orjson.loads(r.value) for r in records)
                if records:
                    total += len(records)
                    last_new = time.monotonic()
    finally:
        await consumer.stop()
    return out


def test_the_broker_keeps_its_secrets_private(secure_broker: SecureBroker) -> None:
    status = secure_broker.run("status", timeout_s=30)
    assert status.returncode == 0 and "sasl_ssl" in status.stdout, status.stdout + status.stderr
    for name in ("admin.password", "auxstream.password", "ca.key", "broker.key", "client.key"):
        assert (secure_broker.security_dir / name).stat().st_mode & 0o077 == 0, name
    assert (secure_broker.kafka_dir / "server.properties").stat().st_mode & 0o077 == 0
    password = (secure_broker.security_dir / "auxstream.password").read_text()
    assert len(password) >= 32
    assert password not in (secure_broker.security_dir / "client.env").read_text()
    # The readiness probe logs in with SCRAM over TLS; without TLS the listener says nothing.
    plain = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "kafka_ready.py"), secure_broker.bootstrap],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert plain.returncode == 1


def test_a_worker_over_sasl_ssl_produces_what_the_replay_does(
    secure_broker: SecureBroker, tmp_path: Path, shared_examples: Path
) -> None:
    env = secure_broker.client_env()
    setup = SecureSetup(env["AUXSTREAM_BROKER"], tmp_path, security_env=env)
    policy = shared_examples / "policy.yaml"
    day = simulate(setup, AGENTS, HOURS, SEED)
    lines = day.read_bytes().splitlines()
    expected = replay(setup, day, policy)

    created = setup.cli("topics", "create")
    assert created.returncode == 0, created.stderr
    published = setup.cli("policy", "publish", str(policy))  # the live policy, over SASL_SSL
    assert published.returncode == 0, published.stderr
    options = client_options(env)
    assert options["security_protocol"] == "SASL_SSL"
    asyncio.run(
        produce_lines(
            secure_broker.bootstrap, setup.topics["input"], lines, setup.partitions, options
        )
    )
    with worker(setup) as running:
        running.wait_log("first records delivered", timeout_s=90)
        actual = asyncio.run(read_outputs(secure_broker.bootstrap, setup.topics, options))
        log = running.text()
    assert "published policy" in log

    horizon = newest_event_time(lines) - 2000  # policy grace_s = 2
    problems = differences(expected, actual, horizon=horizon)
    assert not problems, "\n".join(problems)
    assert len(actual["segments"]) == len(expected["segments"]) > 0
    password = Path(env["AUXSTREAM_SASL_PASSWORD_FILE"]).read_text()
    assert password not in log


def test_simulate_to_kafka_and_mutual_tls(secure_broker: SecureBroker, tmp_path: Path) -> None:
    env = secure_broker.client_env()
    setup = SecureSetup(env["AUXSTREAM_BROKER"], tmp_path, security_env=env)
    # A certificate of the broker's CA as well as the SCRAM login (ssl.client.auth=requested).
    mtls = {
        "AUXSTREAM_SSL_CERTFILE": str(secure_broker.security_dir / "client.crt"),
        "AUXSTREAM_SSL_KEYFILE": str(secure_broker.security_dir / "client.key"),
    }
    created = setup.run("topics", "create", **mtls)
    assert created.returncode == 0, created.stderr
    sent = setup.run(
        "simulate", "--agents", "5", "--hours", "1", "--seed", "3", "--to-kafka", "--rate", "max",
        "--topic", setup.topics["input"],
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert "acknowledged" in sent.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("worker", "--policy", "examples/policy.yaml"),
        ("topics", "create"),
        ("policy", "publish", "examples/policy.yaml"),
        ("simulate", "--agents", "2", "--hours", "1", "--seed", "1", "--to-kafka", "--rate", "max"),
        ("ingest", "http", "--port", "0"),
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_a_wrong_password_says_authentication_failed(
    secure_broker: SecureBroker, tmp_path: Path, command: tuple[str, ...]
) -> None:
    env = secure_broker.client_env()
    setup = SecureSetup(env["AUXSTREAM_BROKER"], tmp_path, security_env=env)
    began = time.monotonic()
    done = setup.run(
        *command,
        timeout_s=60,  # bounded: a hang fails here
        AUXSTREAM_SASL_PASSWORD_FILE="<unset>",  # noqa: S106 - not a password
        AUXSTREAM_SASL_PASSWORD=WRONG,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert (
        f"Kafka at {secure_broker.bootstrap}: authentication failed for user 'auxstream'" in output
    )
    assert "Traceback" not in output
    assert WRONG not in output
    assert time.monotonic() - began < 45


def test_a_plaintext_client_is_told_the_listener_wants_tls(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    setup = SecureSetup(f"kafka://{secure_broker.bootstrap}", tmp_path)  # no security settings
    done = setup.run("topics", "check", timeout_s=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        f"auxstream topics check: Kafka at {secure_broker.bootstrap} closed the connection without "
        "answering: the listener may want TLS or a login (AUXSTREAM_SECURITY_PROTOCOL is PLAINTEXT)"
    )


def test_a_certificate_from_another_ca_is_not_trusted(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    other = tmp_path / "other-ca.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *(
                "-subj",
                "/CN=another CA",
                "-keyout",
                str(tmp_path / "other-ca.key"),
                "-out",
                str(other),
            ),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    env = secure_broker.client_env()
    setup = SecureSetup(env["AUXSTREAM_BROKER"], tmp_path, security_env=env)
    done = setup.run("topics", "check", timeout_s=60, AUXSTREAM_SSL_CAFILE=str(other))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"Kafka at {secure_broker.bootstrap}: its TLS certificate is not trusted" in done.stderr
    assert str(other) in done.stderr
