"""The worker's settings: one frozen, validated object; the only reader of the environment.

Every value has a default that runs against a local broker, can be set in the environment
as ``AUXSTREAM_<NAME>`` (e.g. ``AUXSTREAM_BROKER``), and is overridden by the command
line (``Settings.from_overrides``). A bad value stops the worker before it connects, with a
message naming the setting and its environment variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from auxstream.kafka_security import KafkaSecuritySettings

ENV_PREFIX = "AUXSTREAM_"
WATERMARK_MODES = ("wall-clock", "event-time")
GUARANTEES = ("at_least_once", "exactly_once")
STORES = ("rocksdb://", "memory://")

# Kafka's own rule for topic names (and a sensible one for the consumer group id).
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


class SettingsError(ValueError):
    """Settings that cannot run a worker; the message says which and why, one per line."""


class Settings(KafkaSecuritySettings):
    """Everything a worker (and the topics and policy commands) needs to know.

    TLS and SASL for Kafka (``security_protocol``, ``sasl_*``, ``ssl_*``) come from
    :class:`~auxstream.kafka_security.KafkaSecuritySettings`; ``kafka_security`` is the result.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    broker: str = "kafka://127.0.0.1:9092"
    """Kafka bootstrap servers, ``kafka://host:port[;host:port...]`` (bare host:port accepted)."""
    policy: Path | None = None
    """Policy YAML used until one is published to ``policy_topic`` (contract §4)."""
    app_id: str = "auxstream"
    """Faust application id: the consumer group, and the prefix of the changelog topic."""

    input_topic: str = "acd.agent-events"
    """Agent events from the ACD, keyed by agent_id (contract §1)."""
    segments_topic: str = "auxstream.segments"
    """Closed stretches of a logged-in state."""
    intervals_topic: str = "auxstream.intervals"
    """An agent's time per reporting interval, with revisions."""
    durations_topic: str = "auxstream.durations"
    """Rolling totals per code, emitted when a not-ready stretch closes."""
    detections_topic: str = "auxstream.detections"
    """Patterns for a team leader's review."""
    checkins_topic: str = "auxstream.checkins"
    """Wellbeing check-ins."""
    deadletters_topic: str = "auxstream.deadletters"
    """Invalid and late input, with where it came from."""
    repartition_topic: str = "auxstream.agent-events.by-agent"
    """Events whose key was missing or not their agent_id, re-keyed by agent_id."""
    policy_topic: str = "auxstream.policy"
    """Compacted topic holding the published policy (``auxstream policy publish``)."""

    partitions: int = Field(default=12, ge=1, le=10_000)
    """Partitions of the input, repartition and changelog topics (bounds the number of workers)."""
    replication: int = Field(default=1, ge=1, le=32)
    """Replication factor of the topics ``auxstream topics create`` makes."""
    store: str = "rocksdb://"
    """Table store: ``rocksdb://`` keeps agent state on disk; ``memory://`` is for tests."""
    data_dir: Path = Path(".auxstream")
    """Where the worker keeps its local state (RocksDB files)."""
    web_host: str = "127.0.0.1"
    """Address the worker's HTTP server (``/metrics``) listens on."""
    web_port: int = Field(default=6066, ge=0, le=65_535)
    """Port of the worker's HTTP server; 0 turns it off."""
    web_url: str | None = None
    """URL other workers reach this one's HTTP server at (routing ``/agents``); default
    ``http://web_host:web_port``. Set it when ``web_host`` is 0.0.0.0 (containers)."""
    api_token: SecretStr | None = None
    """Bearer token the ``/agents`` and ``/teams`` endpoints require (personal data); unset:
    open. ``/metrics`` and ``/health`` never ask for it."""
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    """at_least_once (ids let consumers de-duplicate) or exactly_once (Kafka transactions)."""
    watermark: Literal["wall-clock", "event-time"] = "wall-clock"
    """``wall-clock``: time moves on while the floor is quiet; ``event-time``: never the clock."""
    tick_s: float = Field(default=0.5, gt=0.0, le=60.0)
    """Seconds between ticks: watermark, release of held events, advancing silent agents."""
    advance_per_s: int = Field(default=5_000, ge=0, le=10_000_000)
    """Silent agents advanced per second at most while the worker is caught up (0: no
    limit). At an interval boundary every logged-in agent is due at once; spreading that
    work keeps live events fast, and silent agents' interval records follow the boundary
    by up to agents / this many seconds."""
    batch_max: int = Field(default=10_000, ge=1, le=100_000)
    """Most messages handled between two flushes (one delivery wait, one write per agent)."""
    batch_within_s: float = Field(default=0.1, gt=0.0, le=10.0)
    """Longest time between flushes (records are sent at once; this delays storing and acking)."""
    flushes_in_flight: int = Field(default=8, ge=1, le=64)
    """Flushes waiting for Kafka's acknowledgement at once, while later messages are handled;
    beyond it handling waits. They complete in order whatever this is (a later message is
    never acked before an earlier one's agents are stored)."""
    fault_hold_first_flush_s: float = Field(default=0.0, ge=0.0, le=600.0)
    """Fault injection for the reliability suite (issue 6, item 11): hold the first flush this
    long after Kafka acknowledged its records, before its agents are stored and its messages
    acked, while later messages are handled. Leave at 0."""
    intake_max: int = Field(default=50_000, ge=1, le=1_000_000)
    """Most messages fetched and waiting for the worker; Faust's fetching waits beyond it."""
    rocksdb_write_buffer_mb: int = Field(default=8, ge=1, le=1024)
    """RocksDB memtable size per partition (two at most); bounds the store's write memory."""
    rocksdb_block_cache_mb: int = Field(default=16, ge=1, le=8192)
    """RocksDB block cache per partition (reads of agents not held in memory)."""
    producer_linger_s: float = Field(default=0.0005, ge=0.0, le=1.0)
    """How long the producer gathers records into one request. 0 sends each turn of the event
    loop on its own: thousands of small requests a second, most of a busy worker's time."""
    producer_batch_bytes: int = Field(default=262_144, ge=16_384, le=8_388_608)
    """Most bytes per partition in one produce request."""
    stall_timeout_s: float = Field(default=60.0, ge=1.0, le=3600.0)
    """Messages waiting on a partition and none processed this long: the worker stops itself."""
    session_timeout_s: float = Field(default=60.0, ge=6.0, le=1800.0)
    """How long Kafka waits for a silent worker before its partitions go to the others."""
    loglevel: Literal["debug", "info", "warning", "error", "critical"] = "info"
    """Log level of the worker."""

    @property
    def rocksdb_options(self) -> dict[str, int]:
        """Faust's RocksDB options for the agents table (``rocksdb://`` store)."""
        mb = 1024 * 1024
        return {
            "write_buffer_size": self.rocksdb_write_buffer_mb * mb,
            "max_write_buffer_number": 2,
            "block_cache_size": self.rocksdb_block_cache_mb * mb,
            "block_cache_compressed_size": self.rocksdb_block_cache_mb * mb,
        }

    @field_validator("broker")
    @classmethod
    def _broker(cls, value: str) -> str:
        text = value.strip()
        scheme, sep, rest = text.partition("://")
        if not sep:
            scheme, rest = "kafka", text
        if scheme not in ("kafka", "aiokafka"):
            raise ValueError(f"must start with kafka:// (got {scheme}://)")
        hosts = [h.strip() for h in re.split(r"[;,]", rest) if h.strip()]
        if not hosts:
            raise ValueError("names no host:port")
        for host in hosts:
            if not _HOST_PORT.match(host) or int(host.rsplit(":", 1)[1]) > 65_535:
                raise ValueError(f"{host!r} is not host:port")
        return "kafka://" + ";".join(hosts)

    @field_validator(
        "app_id",
        "input_topic",
        "segments_topic",
        "intervals_topic",
        "durations_topic",
        "detections_topic",
        "checkins_topic",
        "deadletters_topic",
        "repartition_topic",
        "policy_topic",
    )
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value) or value in (".", ".."):
            raise ValueError("use 1-249 of the characters A-Z a-z 0-9 . _ -")
        return value

    @field_validator("web_url")
    @classmethod
    def _web_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.match(r"^https?://[^/\s]+(:\d{1,5})?/?$", value.strip()):
            raise ValueError("must be http://host:port (no path)")
        return value.strip().rstrip("/")

    @field_validator("store")
    @classmethod
    def _store(cls, value: str) -> str:
        if value not in STORES:
            raise ValueError(f"must be one of {', '.join(STORES)}")
        return value

    @property
    def bootstrap_servers(self) -> str:
        """The broker list as Kafka clients take it: ``host:port,host:port``."""
        return self.broker.removeprefix("kafka://").replace(";", ",")

    @property
    def output_topics(self) -> dict[str, str]:
        """Record name (``records.KINDS``) -> topic name."""
        return {
            "segments": self.segments_topic,
            "intervals": self.intervals_topic,
            "durations": self.durations_topic,
            "detections": self.detections_topic,
            "checkins": self.checkins_topic,
            "deadletters": self.deadletters_topic,
        }

    @property
    def changelog_topic(self) -> str:
        """Faust's name for the agent table's changelog."""
        return f"{self.app_id}-agents-changelog"

    def check_distinct_topics(self) -> None:
        names = [
            self.input_topic,
            self.repartition_topic,
            self.policy_topic,
            *self.output_topics.values(),
        ]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise SettingsError(f"each topic needs its own name; used twice: {', '.join(twice)}")

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any] | None = None) -> Settings:
        """Environment plus explicit values (the command line); None values are left out."""
        given = {k: v for k, v in (overrides or {}).items() if v is not None}
        try:
            settings = cls(**given)
        except ValidationError as exc:
            raise SettingsError(_explain(exc, given)) from None
        settings.check_distinct_topics()
        return settings


_OPTION = {
    "tick_s": "--tick",
    "session_timeout_s": "--session-timeout",
    "stall_timeout_s": "--stall-timeout",
}


def _explain(exc: ValidationError, given: Mapping[str, Any]) -> str:
    lines = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:  # a rule across settings: its message names them
            lines.extend(message.splitlines())
            continue
        name = str(error["loc"][0])
        option = _OPTION.get(name, f"--{name.replace('_', '-')}")
        source = option if name in given else f"{ENV_PREFIX}{name.upper()}"
        if error["type"] == "extra_forbidden":
            lines.append(f"{ENV_PREFIX}{name.upper()}: unknown setting")
        else:
            lines.append(f"{name} ({source}): {message}")
    return "\n".join(lines)
