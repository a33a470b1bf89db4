"""TLS and SASL for every Kafka client auxstream opens: the one place settings become options.

:class:`KafkaSecuritySettings` holds the settings (``AUXSTREAM_SECURITY_PROTOCOL``,
``AUXSTREAM_SASL_*``, ``AUXSTREAM_SSL_*``); the worker's ``Settings`` and the receiver's
``IngestSettings`` both have them. Validating them reads the password file and the CA, so a
missing or unreadable file stops a command before it connects. ``settings.kafka_security`` is
then a :class:`KafkaSecurity`, which gives

- :meth:`KafkaSecurity.client_options`: keyword arguments for any aiokafka client;
- :meth:`KafkaSecurity.faust_credentials`: Faust's ``broker_credentials``;

and :func:`connect_failure` turns a client that would not start into one line for a person
(authentication failed, certificate not trusted, a plaintext client at a TLS listener, ...).
Passwords never appear in a repr, an error message or a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]

PROBE_TIMEOUT_S = 8.0
"""Longest a failed start spends finding out why (one connection to the first broker)."""


class KafkaSecurity:
    """How to connect to Kafka: protocol, SASL login and TLS trust, with the password resolved."""

    def __init__(
        self,
        protocol: Protocol = "PLAINTEXT",
        mechanism: Mechanism = "SCRAM-SHA-512",
        username: str | None = None,
        password: SecretStr | None = None,
        cafile: Path | None = None,
        certfile: Path | None = None,
        keyfile: Path | None = None,
        check_hostname: bool = True,
    ) -> None:
        self.protocol = protocol
        self.mechanism = mechanism
        self.username = username
        self.password = password
        self.cafile = cafile
        self.certfile = certfile
        self.keyfile = keyfile
        self.check_hostname = check_hostname
        self._context: ssl.SSLContext | None = None

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def __repr__(self) -> str:  # never the password
        return f"KafkaSecurity({self.describe()})"

    def describe(self) -> str:
        """``SASL_SSL, SCRAM-SHA-512 as auxstream``: for log lines and messages."""
        if not self.uses_sasl:
            return self.protocol
        return f"{self.protocol}, {self.mechanism} as {self.username}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context (built once): the CA file's certificates, else the system's.

        Raises ValueError naming the file when a CA, certificate or key cannot be used.
        """
        if not self.uses_tls:
            return None
        if self._context is None:
            self._context = _context(self.cafile, self.certfile, self.keyfile, self.check_hostname)
        return self._context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        if self.uses_sasl:
            options["sasl_mechanism"] = self.mechanism
            options["sasl_plain_username"] = self.username
            options["sasl_plain_password"] = (
                self.password.get_secret_value() if self.password is not None else None
            )
        return options

    def faust_credentials(self) -> Any:
        """``broker_credentials`` for ``faust.App`` (None for PLAINTEXT)."""
        import faust

        if self.uses_sasl:
            # Faust picks SASL_SSL when the credentials carry a TLS context, else SASL_PLAINTEXT.
            return faust.SASLCredentials(
                username=self.username,
                password=self.password.get_secret_value() if self.password is not None else None,
                ssl_context=self.ssl_context(),
                mechanism=self.mechanism,
            )
        if self.uses_tls:
            return faust.SSLCredentials(self.ssl_context())
        return None


PLAINTEXT = KafkaSecurity()
"""No TLS, no login: the default, and what a local development broker wants."""


def _context(
    cafile: Path | None, certfile: Path | None, keyfile: Path | None, check_hostname: bool
) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    except FileNotFoundError:
        raise ValueError(f"the CA file {cafile} does not exist") from None
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"the CA file {cafile} is not a usable PEM certificate: {exc}") from None
    if certfile is not None:
        try:
            context.load_cert_chain(str(certfile), str(keyfile) if keyfile else None)
        except FileNotFoundError:
            missing = certfile if not certfile.exists() else keyfile
            raise ValueError(
                f"the client certificate or key file {missing} does not exist"
            ) from None
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"the client certificate {certfile} (key {keyfile or 'in the same file'}) cannot "
                f"be used: {exc}"
            ) from None
    # Without the hostname check the certificate must still chain to a trusted CA.
    context.check_hostname = check_hostname
    return context


class KafkaSecuritySettings(BaseSettings):
    """The Kafka connection settings shared by the worker's and the receiver's settings."""

    security_protocol: Protocol = "PLAINTEXT"
    """PLAINTEXT, SSL (TLS), SASL_PLAINTEXT (login, no TLS) or SASL_SSL (login over TLS)."""
    sasl_mechanism: Mechanism = "SCRAM-SHA-512"
    """SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN (PLAIN sends the password itself: TLS only)."""
    sasl_username: str | None = None
    """The SASL user (SASL_SSL, SASL_PLAINTEXT)."""
    sasl_password: SecretStr | None = None
    """The SASL password; or set ``sasl_password_file`` (one of the two)."""
    sasl_password_file: Path | None = None
    """A file holding the SASL password (a mounted secret), read at start-up; a trailing
    newline is not part of the password."""
    ssl_cafile: Path | None = None
    """PEM file of the CA(s) that signed the brokers' certificates; unset: the system's CAs."""
    ssl_certfile: Path | None = None
    """Client certificate (PEM) for mutual TLS; it may hold the key too."""
    ssl_keyfile: Path | None = None
    """The client certificate's private key (PEM, unencrypted), when not in ``ssl_certfile``."""
    ssl_check_hostname: bool = True
    """Check that a broker's certificate names the host connected to (the CA is always checked)."""

    _kafka_security: KafkaSecurity = PrivateAttr(default=PLAINTEXT)

    @field_validator(
        "sasl_username",
        "sasl_password",
        "sasl_password_file",
        "ssl_cafile",
        "ssl_certfile",
        "ssl_keyfile",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # VAR= in a compose file or manifest means "not set", not "the current directory"
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("security_protocol", mode="before")
    @classmethod
    def _protocol(cls, value: Any) -> Any:
        return value.strip().upper().replace("-", "_") if isinstance(value, str) else value

    @field_validator("sasl_mechanism", mode="before")
    @classmethod
    def _mechanism(cls, value: Any) -> Any:
        return value.strip().upper().replace("_", "-") if isinstance(value, str) else value

    @model_validator(mode="after")
    def _security(self) -> KafkaSecuritySettings:
        problems = []
        password: SecretStr | None = None
        sasl = self.security_protocol.startswith("SASL_")
        tls = self.security_protocol.endswith("SSL")
        if sasl:
            if not (self.sasl_username or "").strip():
                problems.append(
                    f"security_protocol {self.security_protocol} needs a user name: set "
                    "AUXSTREAM_SASL_USERNAME (--sasl-username)"
                )
            if self.sasl_password is not None and self.sasl_password_file is not None:
                problems.append(
                    "set AUXSTREAM_SASL_PASSWORD or AUXSTREAM_SASL_PASSWORD_FILE, not both"
                )
            elif self.sasl_password is not None:
                password = self.sasl_password
            elif self.sasl_password_file is not None:
                try:
                    password = _read_password(self.sasl_password_file)
                except ValueError as exc:
                    problems.append(f"sasl_password_file (AUXSTREAM_SASL_PASSWORD_FILE): {exc}")
            else:
                problems.append(
                    f"security_protocol {self.security_protocol} needs a password: set "
                    "AUXSTREAM_SASL_PASSWORD_FILE (a mounted secret) or AUXSTREAM_SASL_PASSWORD"
                )
            if password is not None and not password.get_secret_value():
                problems.append("the SASL password is empty")
        else:
            given = [
                name
                for name in ("sasl_username", "sasl_password", "sasl_password_file")
                if getattr(self, name) is not None
            ]
            if given:
                problems.append(
                    f"{', '.join(f'AUXSTREAM_{n.upper()}' for n in given)} set, but "
                    f"security_protocol is {self.security_protocol}: set "
                    "AUXSTREAM_SECURITY_PROTOCOL=SASL_SSL to log in"
                )
        if not tls:
            given = [
                name
                for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
                if getattr(self, name) is not None
            ]
            if given:
                problems.append(
                    f"{', '.join(f'AUXSTREAM_{n.upper()}' for n in given)} set, but "
                    f"security_protocol is {self.security_protocol}: set "
                    "AUXSTREAM_SECURITY_PROTOCOL=SSL or SASL_SSL to use TLS"
                )
        elif self.ssl_keyfile is not None and self.ssl_certfile is None:
            problems.append("AUXSTREAM_SSL_KEYFILE needs AUXSTREAM_SSL_CERTFILE (the certificate)")
        security = KafkaSecurity(
            self.security_protocol,
            self.sasl_mechanism,
            (self.sasl_username or "").strip() or None,
            password,
            self.ssl_cafile,
            self.ssl_certfile,
            self.ssl_keyfile,
            self.ssl_check_hostname,
        )
        if tls and not problems:
            try:
                security.ssl_context()  # a missing or broken CA or certificate stops us here
            except ValueError as exc:
                problems.append(f"TLS (AUXSTREAM_SSL_*): {exc}")
        if problems:
            raise ValueError("\n".join(problems))
        self._kafka_security = security
        return self

    @property
    def kafka_security(self) -> KafkaSecurity:
        """TLS and login for Kafka clients, password resolved (read from its file if need be)."""
        return self._kafka_security


def _read_password(path: Path) -> SecretStr:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a directory, not a file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return SecretStr(text.rstrip("\r\n"))


async def connect_failure(
    bootstrap: str, security: KafkaSecurity, exc: BaseException, generic: str | None = None
) -> str:
    """One line on why a Kafka client with ``security`` could not start against ``bootstrap``.

    aiokafka reports every failed bootstrap as "Unable to bootstrap" (the cause only goes to
    its log), so this opens one connection to the first broker the same way, sends one
    request, and names what went wrong; ``generic`` (default: cannot reach Kafka at ...) when
    nothing more precise is known, e.g. nothing listens. Bounded by PROBE_TIMEOUT_S.
    """
    generic = generic or f"cannot reach Kafka at {bootstrap}: {exc}"
    host, _, port_text = bootstrap.split(",")[0].strip().rpartition(":")
    if not host or not port_text.isdigit():
        return generic
    try:
        await asyncio.wait_for(_probe(host, int(port_text), security), PROBE_TIMEOUT_S)
    except Exception as cause:
        return _explain(bootstrap, security, cause) or generic
    return generic


async def _probe(host: str, port: int, security: KafkaSecurity) -> None:
    from aiokafka.conn import create_conn
    from aiokafka.protocol.metadata import MetadataRequest

    conn = await create_conn(
        host, port, client_id="auxstream-probe", request_timeout_ms=5_000,
        **security.client_options(),
    )  # fmt: skip
    try:
        await conn.send(MetadataRequest([]))
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def _explain(bootstrap: str, security: KafkaSecurity, cause: BaseException) -> str | None:
    from aiokafka import errors

    where = f"Kafka at {bootstrap}"
    setting = f"AUXSTREAM_SECURITY_PROTOCOL is {security.protocol}"
    if isinstance(cause, errors.SaslAuthenticationFailed | errors.AuthenticationFailedError):
        return (
            f"{where}: authentication failed for user {security.username!r} with "
            f"{security.mechanism} (check AUXSTREAM_SASL_USERNAME and the password)"
        )
    if isinstance(cause, errors.UnsupportedSaslMechanismError):
        return f"{where} does not accept SASL {security.mechanism} (AUXSTREAM_SASL_MECHANISM)"
    if isinstance(cause, ssl.SSLCertVerificationError):
        trusted = security.cafile or "the system's CAs"
        return (
            f"{where}: its TLS certificate is not trusted ({cause.verify_message}); trusted: "
            f"{trusted} (AUXSTREAM_SSL_CAFILE)"
        )
    if isinstance(cause, ssl.SSLError) or (
        security.uses_tls and isinstance(cause, ConnectionResetError | EOFError)
    ):
        return f"{where}: the TLS handshake failed ({cause}); is that a TLS listener? ({setting})"
    if isinstance(cause, ConnectionRefusedError | OSError) and not isinstance(
        cause, ConnectionResetError
    ):
        return None  # nothing listens there: the caller's own message says so
    if not security.uses_tls and isinstance(
        cause, errors.KafkaConnectionError | ConnectionResetError | TimeoutError
    ):
        return (
            f"{where} closed the connection without answering: the listener may want TLS "
            f"or a login ({setting})"
        )
    return None
