"""``auxstream worker``, ``auxstream topics create|check`` and ``auxstream policy publish``.

Settings are built in one place, :func:`settings_from`: the environment (``AUXSTREAM_*``)
overridden by the options given. Every problem a person can fix (bad setting, unreadable
policy, unreachable broker) is one line on stderr and exit status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auxstream.kafka_security import MECHANISMS, PROTOCOLS
from auxstream.policy import PolicyError
from auxstream.stream.settings import GUARANTEES, STORES, WATERMARK_MODES, Settings, SettingsError
from auxstream.stream.topics import BrokerUnavailable, TopologyError

_ENV = "environment AUXSTREAM_{}"


def add_parser(subparsers: Any) -> None:
    """Register ``worker``, ``topics`` and ``policy`` on the ``auxstream`` parser."""
    worker = subparsers.add_parser(
        "worker",
        help="run a streaming worker (Faust on Kafka)",
        description=(
            "Run a Faust worker of the streaming topology: read agent events from the input "
            "topic, keep one state per agent in a changelog-backed table, and publish segments, "
            "intervals, durations, detections, check-ins and dead letters to their topics. "
            "Missing topics are created first (topologies/topics.yaml). Every option can also be "
            "set in the environment as AUXSTREAM_<OPTION> (e.g. AUXSTREAM_BROKER). Stop with "
            "Ctrl-C or SIGTERM: the worker finishes its batch, commits and leaves the group."
        ),
    )
    _common(worker)
    worker.add_argument(
        "--store",
        choices=STORES,
        help="table store: rocksdb:// (durable, default) or memory:// (tests)",
    )
    worker.add_argument(
        "--partitions",
        type=int,
        help="partitions of the input, repartition and changelog topics (default 12)",
    )
    worker.add_argument(
        "--web-port", type=int, help="HTTP port for /metrics (default 6066; 0 turns the server off)"
    )
    worker.add_argument("--web-host", help="address the HTTP server listens on (default 127.0.0.1)")
    worker.add_argument(
        "--watermark",
        choices=WATERMARK_MODES,
        help="wall-clock (default): time moves with the clock while caught up and quiet; "
        "event-time: only event times move it (backfills through Kafka)",
    )
    worker.add_argument(
        "--processing-guarantee",
        choices=GUARANTEES,
        help="at_least_once (default; records may repeat after a crash, ids are deterministic) "
        "or exactly_once (Kafka transactions; see docs/streaming.md for what holds)",
    )
    worker.add_argument(
        "--data-dir", type=Path, help="directory for local table state (default .auxstream)"
    )
    worker.add_argument(
        "--app-id", help="Faust app id = consumer group, changelog prefix (default auxstream)"
    )
    worker.add_argument(
        "--tick", dest="tick_s", type=float, help="seconds between watermark ticks (default 0.5)"
    )
    worker.add_argument(
        "--stall-timeout",
        dest="stall_timeout_s",
        type=float,
        help="seconds a partition may have messages waiting with none processed before the "
        "worker stops itself to be restarted (default 60)",
    )
    worker.add_argument(
        "--session-timeout",
        dest="session_timeout_s",
        type=float,
        help="seconds Kafka waits for a silent worker before moving its partitions "
        "(default 60, at least 6)",
    )
    worker.add_argument(
        "--loglevel",
        choices=("debug", "info", "warning", "error", "critical"),
        help="log level (default info)",
    )
    worker.set_defaults(func=run_worker)

    topics = subparsers.add_parser(
        "topics",
        help="create or check the Kafka topics of topologies/topics.yaml",
        description="Create the topics declared in topologies/topics.yaml, or compare the broker "
        "with it.",
    )
    actions = topics.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create the missing topics (idempotent)")
    check = actions.add_parser(
        "check", help="list every difference from the declaration; exit 1 if any"
    )
    for parser in (create, check):
        _common(parser, policy=False)
        parser.add_argument(
            "--partitions", type=int, help="partitions of the keyed topics (default 12)"
        )
        parser.add_argument(
            "--app-id", help="app id, which names the changelog topic (default auxstream)"
        )
    create.set_defaults(func=run_topics_create)
    check.set_defaults(func=run_topics_check)

    policy = subparsers.add_parser(
        "policy",
        help="publish a policy to running workers",
        description="Work with the live policy that running workers follow.",
    )
    policy_actions = policy.add_subparsers(dest="action", metavar="ACTION", required=True)
    publish = policy_actions.add_parser(
        "publish",
        help="validate a policy file and publish it; running workers switch without restart",
        description="Validate P.yaml and write it to the compacted policy topic. Every running "
        "worker switches to it within a tick; detections made under it carry its version.",
    )
    publish.add_argument("file", type=Path, metavar="P.yaml", help="the policy file (contract §4)")
    _common(publish, policy=False)
    publish.set_defaults(func=run_policy_publish)


def _common(parser: argparse.ArgumentParser, *, policy: bool = True) -> None:
    parser.add_argument(
        "--broker",
        help="Kafka bootstrap servers, kafka://host:port (default kafka://127.0.0.1:9092)",
    )
    if policy:
        parser.add_argument(
            "--policy", type=Path, help="policy YAML used until one is published (contract §4)"
        )
    # No --sasl-password: a password on a command line is visible to every local user.
    secure = parser.add_argument_group(
        "Kafka security",
        "TLS and SASL login (docs/operations.md, Secure connections); the password comes from "
        "AUXSTREAM_SASL_PASSWORD_FILE or AUXSTREAM_SASL_PASSWORD",
    )
    secure.add_argument(
        "--security-protocol",
        type=str.upper,
        choices=PROTOCOLS,
        help="PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL",
    )
    secure.add_argument(
        "--sasl-mechanism",
        type=str.upper,
        choices=MECHANISMS,
        help="SCRAM-SHA-512 (default), SCRAM-SHA-256 or PLAIN",
    )
    secure.add_argument("--sasl-username", help="the SASL user")
    secure.add_argument(
        "--sasl-password-file", type=Path, help="file holding the SASL password (a mounted secret)"
    )
    secure.add_argument(
        "--ssl-cafile", type=Path, help="PEM CA certificate(s) the brokers' certificates chain to"
    )
    secure.add_argument("--ssl-certfile", type=Path, help="client certificate (PEM), mutual TLS")
    secure.add_argument("--ssl-keyfile", type=Path, help="its private key, if not in the cert file")
    secure.add_argument(
        "--no-ssl-check-hostname",
        dest="ssl_check_hostname",
        action="store_const",
        const=False,
        help="do not check that a broker's certificate names its host (the CA still is)",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    """The one place settings are built: environment, overridden by the options given."""
    names = set(Settings.model_fields)
    return Settings.from_overrides({k: v for k, v in vars(args).items() if k in names})


def _guarded(
    command: str, body: Callable[[argparse.Namespace], int], args: argparse.Namespace
) -> int:
    # aiokafka logs a failed connection itself; without this, Python's last-resort handler
    # would print it above our one-line message. Worker logging (Faust's) still shows it.
    logging.getLogger("aiokafka").addHandler(logging.NullHandler())
    try:
        return body(args)
    except (SettingsError, PolicyError, BrokerUnavailable, TopologyError) as exc:
        for line in str(exc).splitlines():
            print(f"auxstream {command}: {line}", file=sys.stderr)
        return 2


# ---------------------------------------------------------------------- worker
def run_worker(args: argparse.Namespace) -> int:
    return _guarded("worker", _worker, args)


def _worker(args: argparse.Namespace) -> int:
    from auxstream.policy import load_policy
    from auxstream.stream import livepolicy
    from auxstream.stream.topics import create_topics, partition_count

    settings = settings_from(args)
    file_policy = load_policy(settings.policy) if settings.policy is not None else None

    async def prepare() -> livepolicy.Published | None:
        await create_topics(settings)
        count = await partition_count(settings, settings.input_topic)
        if count != settings.partitions:
            raise TopologyError(
                f"{settings.input_topic} has {count} partitions but --partitions is "
                f"{settings.partitions}: they must match (one agent's events and state meet on "
                "one partition)"
            )
        return await livepolicy.read_published(settings)

    published = asyncio.run(prepare())
    if published is None and file_policy is None:
        raise PolicyError(
            "no policy: pass --policy P.yaml (or AUXSTREAM_POLICY), or publish one with "
            "`auxstream policy publish`"
        )
    if published is not None:
        policy, raw = published.policy, published.raw
        note = f"published policy {policy.version} ({published.source}, {published.published_at})"
        if file_policy is not None and file_policy.version != policy.version:
            note += (
                f"; --policy {settings.policy} ({file_policy.version}) is not used: "
                "publish it to switch"
            )
    elif file_policy is not None:
        policy, raw = file_policy, None
        note = f"policy {policy.version} from {settings.policy} (none published yet)"
    print(f"auxstream worker: {note}", file=sys.stderr)
    return _run_faust(settings, policy, raw)


def _run_faust(settings: Settings, policy: Any, raw: bytes | None) -> int:
    import faust

    from auxstream.stream.app import create_app
    from auxstream.stream.shell import quiet_collector

    app = create_app(settings, policy, raw)
    quiet_collector()
    worker = faust.Worker(app, loglevel=settings.loglevel, quiet=True, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


# ---------------------------------------------------------------------- topics
def run_topics_create(args: argparse.Namespace) -> int:
    def body(args: argparse.Namespace) -> int:
        from auxstream.stream.topics import create_topics, declared

        settings = settings_from(args)
        created = asyncio.run(create_topics(settings))
        for spec in declared(settings):
            print(f"{'created' if spec.name in created else 'exists '}  {spec.name}")
        return 0

    return _guarded("topics create", body, args)


def run_topics_check(args: argparse.Namespace) -> int:
    def body(args: argparse.Namespace) -> int:
        from auxstream.stream.topics import check_topics

        settings = settings_from(args)
        problems = asyncio.run(check_topics(settings))
        for line in problems:
            print(line)
        if not problems:
            print(f"all declared topics match on {settings.bootstrap_servers}")
        return 1 if problems else 0

    return _guarded("topics check", body, args)


# ---------------------------------------------------------------------- policy
def run_policy_publish(args: argparse.Namespace) -> int:
    def body(args: argparse.Namespace) -> int:
        from auxstream.stream.livepolicy import publish
        from auxstream.stream.topics import create_topics

        settings = settings_from(args)

        async def go() -> Any:
            await create_topics(settings)
            return await publish(settings, args.file)

        policy = asyncio.run(go())
        print(
            f"published policy {policy.version} from {args.file} to {settings.policy_topic} "
            f"on {settings.bootstrap_servers}"
        )
        return 0

    return _guarded("policy publish", body, args)
