"""The webhook receiver's settings: one frozen object; the only reader of the environment here.

Each value can be set as ``AUXSTREAM_<NAME>`` (e.g. ``AUXSTREAM_TWILIO_AUTH_TOKEN``) and is
overridden by the command line. Secrets are never printed: they are ``SecretStr``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from auxstream.kafka_security import KafkaSecuritySettings

ENV_PREFIX = "AUXSTREAM_"
_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")
_TOPIC_PREFIX = re.compile(r"^[A-Za-z0-9._-]{0,200}$")


class IngestSettingsError(ValueError):
    """Settings that cannot run the receiver; one problem per line."""


class IngestSettings(KafkaSecuritySettings):
    """What ``auxstream ingest http`` needs (TLS and SASL for Kafka: ``kafka_security``)."""

    # Other AUXSTREAM_ variables belong to the worker: ignored here, not errors.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    broker: str = "kafka://127.0.0.1:9092"
    """Kafka bootstrap servers, ``kafka://host:port[;host:port...]`` (or a bare host:port)."""
    ingest_host: str = "127.0.0.1"
    """Address the receiver listens on (put a TLS-terminating proxy in front of it)."""
    ingest_port: int = Field(default=8085, ge=0, le=65_535)
    """Port the receiver listens on (0: any free port)."""
    max_body: int = Field(default=65_536, ge=1_024, le=16 * 1024 * 1024)
    """Largest request body accepted, in bytes; larger ones are refused with 413."""
    raw_topic_prefix: str = "acd.raw."
    """Raw vendor records go to ``<prefix><vendor>``: acd.raw.twilio, acd.raw.genesys, ..."""
    public_url: str | None = None
    """The receiver's URL as the vendor calls it (``https://ingest.example.com``), when a proxy
    changes scheme or host: Twilio signs the URL it called, not the one this process sees."""
    twilio_auth_token: SecretStr | None = None
    """Twilio auth token: the key of ``X-Twilio-Signature``. Without one, /twilio refuses all."""
    twilio_auth_token_file: Path | None = None
    """A file holding the auth token (a mounted secret), when ``twilio_auth_token`` is unset."""
    connect_secret: SecretStr | None = None
    """When set, POST /connect must carry it in the ``X-Auxstream-Secret`` header."""
    genesys_secret: SecretStr | None = None
    """When set, POST /genesys must carry it in the ``X-Auxstream-Secret`` header."""
    send_timeout_s: float = Field(default=10.0, gt=0, le=14.0)
    """Longest wait for Kafka to acknowledge a record before answering 503 (Twilio waits 15 s)."""

    @field_validator("broker")
    @classmethod
    def _broker(cls, value: str) -> str:
        scheme, sep, rest = value.strip().partition("://")
        if not sep:
            scheme, rest = "kafka", value.strip()
        if scheme not in ("kafka", "aiokafka"):
            raise ValueError(f"must start with kafka:// (got {scheme}://)")
        hosts = [h.strip() for h in re.split(r"[;,]", rest) if h.strip()]
        if not hosts or any(not _HOST_PORT.match(h) for h in hosts):
            raise ValueError("must be host:port, or several separated by ;")
        return "kafka://" + ";".join(hosts)

    @field_validator("raw_topic_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _TOPIC_PREFIX.match(value):
            raise ValueError("use the characters A-Z a-z 0-9 . _ -")
        return value

    @property
    def bootstrap_servers(self) -> str:
        return self.broker.removeprefix("kafka://").replace(";", ",")

    def twilio_token(self) -> str | None:
        """The auth token from the setting, else from the file (read at start-up)."""
        if self.twilio_auth_token is not None:
            return self.twilio_auth_token.get_secret_value() or None
        if self.twilio_auth_token_file is not None:
            try:
                return self.twilio_auth_token_file.read_text(encoding="utf-8").strip() or None
            except OSError as exc:
                name = self.twilio_auth_token_file
                raise IngestSettingsError(
                    f"cannot read the Twilio auth token file {name}: {exc.strerror}"
                ) from None
        return None

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any] | None = None) -> IngestSettings:
        given = {k: v for k, v in (overrides or {}).items() if v is not None}
        try:
            return cls(**given)
        except ValidationError as exc:
            lines = []
            for error in exc.errors():
                if not error["loc"]:  # a rule across settings: its message names them
                    lines += str(error["msg"]).removeprefix("Value error, ").splitlines()
                    continue
                name = str(error["loc"][0])
                source = (
                    f"--{name.replace('_', '-')}"
                    if name in given
                    else f"{ENV_PREFIX}{name.upper()}"
                )
                lines.append(
                    f"{name} ({source}): {str(error['msg']).removeprefix('Value error, ')}"
                )
            raise IngestSettingsError("\n".join(lines)) from None
