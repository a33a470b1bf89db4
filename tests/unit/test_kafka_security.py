"""Kafka security settings (TLS, SASL): where the password comes from, what is refused, what
never shows the password. No broker here: tests/integration/test_secure_broker.py has one."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from auxstream.ingest.settings import IngestSettings, IngestSettingsError
from auxstream.kafka_security import PLAINTEXT, KafkaSecurity, connect_failure
from auxstream.stream.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-Passw0rd-never-printed"  # noqa: S105 - a test value


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AUXSTREAM_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed CA certificate (openssl, as scripts/kafka.sh makes them)."""
    folder = tmp_path_factory.mktemp("ca")
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=test CA", "-keyout", str(folder / "ca.key")),
            *("-out", str(folder / "ca.pem")),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return folder / "ca.pem"


def sasl_ssl(**extra: object) -> dict[str, object]:
    return {"security_protocol": "SASL_SSL", "sasl_username": "auxstream", **extra}


def test_the_default_is_plaintext_and_changes_no_client() -> None:
    settings = Settings.from_overrides({})
    assert settings.security_protocol == "PLAINTEXT"
    assert settings.kafka_security.client_options() == {"security_protocol": "PLAINTEXT"}
    assert settings.kafka_security.faust_credentials() is None
    assert PLAINTEXT.client_options() == {"security_protocol": "PLAINTEXT"}


def test_password_from_the_environment(monkeypatch: pytest.MonkeyPatch, ca_pem: Path) -> None:
    monkeypatch.setenv("AUXSTREAM_SECURITY_PROTOCOL", "sasl_ssl")  # case does not matter
    monkeypatch.setenv("AUXSTREAM_SASL_USERNAME", "auxstream")
    monkeypatch.setenv("AUXSTREAM_SASL_PASSWORD", SECRET)
    monkeypatch.setenv("AUXSTREAM_SSL_CAFILE", str(ca_pem))
    security = Settings.from_overrides({}).kafka_security
    options = security.client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("auxstream", SECRET)
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].check_hostname is True
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED


def test_password_from_a_mounted_file_without_its_newline(tmp_path: Path, ca_pem: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(SECRET + "\n")
    security = Settings.from_overrides(
        sasl_ssl(sasl_password_file=secret, ssl_cafile=ca_pem, sasl_mechanism="scram-sha-256")
    ).kafka_security
    assert security.client_options()["sasl_plain_password"] == SECRET
    assert security.mechanism == "SCRAM-SHA-256"
    # read at start-up: a file that changes later does not change these settings
    secret.write_text("rotated")
    assert security.client_options()["sasl_plain_password"] == SECRET


def test_faust_gets_sasl_over_tls(tmp_path: Path, ca_pem: Path) -> None:
    import faust
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    settings = Settings.from_overrides(sasl_ssl(sasl_password=SECRET, ssl_cafile=ca_pem))
    credentials = settings.kafka_security.faust_credentials()
    assert isinstance(credentials, faust.SASLCredentials)
    auth = credentials_to_aiokafka_auth(credentials)
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert auth["sasl_plain_password"] == SECRET
    assert isinstance(auth["ssl_context"], ssl.SSLContext)
    tls_only = Settings.from_overrides({"security_protocol": "SSL", "ssl_cafile": ca_pem})
    assert isinstance(tls_only.kafka_security.faust_credentials(), faust.SSLCredentials)
    assert tls_only.kafka_security.client_options()["security_protocol"] == "SSL"


def test_sasl_without_a_user_names_the_variable() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_overrides({"security_protocol": "SASL_SSL", "sasl_password": SECRET})
    assert "AUXSTREAM_SASL_USERNAME" in str(caught.value)


def test_both_password_and_file_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(SECRET)
    with pytest.raises(SettingsError) as caught:
        Settings.from_overrides(sasl_ssl(sasl_password=SECRET, sasl_password_file=secret))
    assert "AUXSTREAM_SASL_PASSWORD or AUXSTREAM_SASL_PASSWORD_FILE, not both" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_neither_password_nor_file_is_refused() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_overrides(sasl_ssl())
    assert "needs a password" in str(caught.value)
    assert "AUXSTREAM_SASL_PASSWORD_FILE" in str(caught.value)


def test_a_missing_password_file_names_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "password"
    with pytest.raises(SettingsError) as caught:
        Settings.from_overrides(sasl_ssl(sasl_password_file=missing))
    assert f"{missing} does not exist" in str(caught.value)
    assert "AUXSTREAM_SASL_PASSWORD_FILE" in str(caught.value)


def test_an_empty_password_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "password"
    empty.write_text("\n")
    with pytest.raises(SettingsError, match="password is empty"):
        Settings.from_overrides(sasl_ssl(sasl_password_file=empty))


def test_a_missing_or_bad_ca_file_names_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "ca.pem"
    with pytest.raises(SettingsError) as caught:
        Settings.from_overrides(sasl_ssl(sasl_password=SECRET, ssl_cafile=missing))
    assert f"CA file {missing} does not exist" in str(caught.value)
    missing.write_text("not a certificate\n")
    with pytest.raises(SettingsError) as caught:
        Settings.from_overrides(sasl_ssl(sasl_password=SECRET, ssl_cafile=missing))
    assert f"CA file {missing} is not a usable PEM certificate" in str(caught.value)


def test_login_or_tls_settings_without_the_protocol_are_refused(ca_pem: Path) -> None:
    # Forgetting AUXSTREAM_SECURITY_PROTOCOL must not silently connect in plaintext.
    with pytest.raises(SettingsError) as caught:
        Settings.from_overrides({"sasl_username": "auxstream", "sasl_password": SECRET})
    assert "AUXSTREAM_SASL_USERNAME, AUXSTREAM_SASL_PASSWORD set, but security_protocol is " in str(
        caught.value
    )
    with pytest.raises(SettingsError, match="AUXSTREAM_SSL_CAFILE set, but security_protocol"):
        Settings.from_overrides({"security_protocol": "SASL_PLAINTEXT", "ssl_cafile": ca_pem})


def test_unknown_protocol_or_mechanism_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUXSTREAM_SECURITY_PROTOCOL", "TLS")
    with pytest.raises(SettingsError, match=r"security_protocol \(AUXSTREAM_SECURITY_PROTOCOL\)"):
        Settings.from_overrides({})
    monkeypatch.delenv("AUXSTREAM_SECURITY_PROTOCOL")
    with pytest.raises(SettingsError, match=r"sasl_mechanism \(--sasl-mechanism\)"):
        Settings.from_overrides(sasl_ssl(sasl_password=SECRET, sasl_mechanism="GSSAPI"))


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUXSTREAM_SSL_CAFILE", "")
    monkeypatch.setenv("AUXSTREAM_SASL_PASSWORD_FILE", "")
    assert Settings.from_overrides({}).ssl_cafile is None


def test_the_password_never_shows(tmp_path: Path, ca_pem: Path) -> None:
    from_env = Settings.from_overrides(sasl_ssl(sasl_password=SECRET, ssl_cafile=ca_pem))
    secret = tmp_path / "password"
    secret.write_text(SECRET)
    from_file = Settings.from_overrides(sasl_ssl(sasl_password_file=secret, ssl_cafile=ca_pem))
    for settings in (from_env, from_file):
        security = settings.kafka_security
        shown = [
            repr(settings),
            str(settings),
            repr(security),
            security.describe(),
            repr(security.faust_credentials()),
            str(settings.model_dump()),
            settings.model_dump_json(),
        ]
        assert all(SECRET not in text for text in shown), shown
    assert repr(from_env.kafka_security) == "KafkaSecurity(SASL_SSL, SCRAM-SHA-512 as auxstream)"


def test_ingest_settings_share_the_same_rules(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(SECRET)
    settings = IngestSettings.from_overrides(
        {"security_protocol": "SASL_PLAINTEXT", "sasl_username": "u", "sasl_password_file": secret}
    )
    assert settings.kafka_security.client_options()["sasl_plain_password"] == SECRET
    with pytest.raises(IngestSettingsError, match="AUXSTREAM_SASL_USERNAME"):
        IngestSettings.from_overrides({"security_protocol": "SASL_SSL", "sasl_password": "x"})


def test_the_worker_cli_takes_the_security_options(tmp_path: Path, ca_pem: Path) -> None:
    from auxstream.cli import build_parser
    from auxstream.stream.cli import settings_from

    secret = tmp_path / "password"
    secret.write_text(SECRET)
    args = build_parser().parse_args(
        [
            *("worker", "--security-protocol", "sasl_ssl", "--sasl-username", "auxstream"),
            *("--sasl-password-file", str(secret), "--ssl-cafile", str(ca_pem)),
            "--no-ssl-check-hostname",
        ]
    )
    security = settings_from(args).kafka_security
    assert security.protocol == "SASL_SSL"
    assert security.client_options()["sasl_plain_password"] == SECRET
    assert security.client_options()["ssl_context"].check_hostname is False


def test_a_bad_security_setting_is_one_line_and_exit_2() -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUXSTREAM_")}
    done = subprocess.run(
        [sys.executable, "-m", "auxstream", "topics", "check", "--security-protocol", "SASL_SSL"],
        cwd=ROOT,
        env={**clean, "AUXSTREAM_SASL_PASSWORD": SECRET},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "AUXSTREAM_SASL_USERNAME" in done.stderr
    assert SECRET not in done.stderr + done.stdout


def test_nothing_listening_keeps_the_plain_message() -> None:
    security = KafkaSecurity("SASL_SSL", username="u", password=None)
    why = asyncio.run(connect_failure("127.0.0.1:1", security, OSError("refused")))
    assert why == "cannot reach Kafka at 127.0.0.1:1: refused"


def test_the_k8s_overlay_mounts_the_password_as_a_file() -> None:
    import shutil

    import yaml

    overlay = ROOT / "deploy" / "k8s" / "overlays" / "sasl-scram"
    patch = yaml.safe_load((overlay / "worker-kafka-security.yaml").read_text())
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["AUXSTREAM_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["AUXSTREAM_SASL_PASSWORD_FILE"].startswith("/etc/auxstream-kafka/user/")
    assert "AUXSTREAM_SASL_PASSWORD" not in env  # never the password itself
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return  # the build itself is checked where kubectl exists
    built = subprocess.run(
        [kubectl, "kustomize", str(overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    docs = [d for d in yaml.safe_load_all(built.stdout) if d]
    (sts,) = [d for d in docs if d["kind"] == "StatefulSet"]
    names = [e["name"] for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert names.count("AUXSTREAM_BROKER") == 1
    assert any(d["kind"] == "KafkaUser" for d in docs)
