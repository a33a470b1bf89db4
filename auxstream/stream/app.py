"""``create_app(settings)``: the one place the Faust application is built.

One agent reads the input topic and the repartition topic as one stream; one timer flushes
(records acknowledged by Kafka, then agents stored, then messages acked), one moves time.
All hand the work to the :class:`~auxstream.stream.shell.Shell`, whose order of flushing
is what makes the worker at-least-once.
"""

from __future__ import annotations

import faust

from auxstream.adapters.stream import register_vendor_agents
from auxstream.domain.policy import Policy
from auxstream.policy import load_policy
from auxstream.stream.api import register_api
from auxstream.stream.fetch import WorkerApp
from auxstream.stream.intake import intake_topic
from auxstream.stream.metrics import register_metrics
from auxstream.stream.settings import Settings
from auxstream.stream.shell import Shell

COMMIT_EVERY_NEVER = 2**62
"""broker_commit_every: a count of acks never reached."""
RELEASE_EVERY_S = 0.1
"""How often the worker also checks for held events whose grace ran out (Shell.arm_release
wakes it at the exact moment; this is the safety net)."""


class PolicyTable(faust.GlobalTable):
    """A GlobalTable over a changelog topic of our choosing (the policy topic).

    faust-streaming's assignor looks a global table's changelog up by the *default* name
    (``<app id>-<table>-changelog``), not by the topic the table was given, and fails the
    whole group assignment with a KeyError that aiokafka swallows: the worker then waits
    forever. Naming the given topic here makes both agree.
    """

    def _changelog_topic_name(self) -> str:
        return str(self.changelog_topic.get_topic_name())


def create_app(
    settings: Settings, policy: Policy | None = None, policy_raw: bytes | None = None
) -> faust.App:
    """The worker's Faust app.

    ``policy`` (else the ``settings.policy`` file) is the starting policy; ``policy_raw`` is
    the published message it came from, when it was published.
    """
    if policy is None:
        if settings.policy is None:
            raise ValueError("no policy: pass one, or set settings.policy")
        policy = load_policy(settings.policy)
    app = WorkerApp(
        settings.app_id,
        broker=settings.broker,
        # TLS and SASL (AUXSTREAM_SECURITY_PROTOCOL, ...): None for PLAINTEXT
        broker_credentials=settings.kafka_security.faust_credentials(),
        store=settings.store,
        datadir=str(settings.data_dir),
        processing_guarantee=settings.processing_guarantee,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        # Commits on a timer only (broker_commit_interval, 2.8 s): Faust's count-based commit
        # (every 10,000 acks) runs inside its fetch loop, where flushing the producer and
        # committing stop delivery for a round trip or two (seen as 150-250 ms latency steps).
        broker_commit_every=COMMIT_EVERY_NEVER,
        producer_linger=settings.producer_linger_s,
        producer_max_batch_size=settings.producer_batch_bytes,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=settings.web_port != 0,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port or 6066,
        autodiscover=False,
        # Unacked messages are not waited for on revocation or stop: they are not committed
        # and are processed again by the partition's next owner (see shell.py).
        stream_wait_empty=False,
        # No standby replicas: with them, a worker reading another worker's changelog as a
        # standby can stop fetching its own partitions after a rebalance (seen with two
        # workers: Consumer._drain_messages stuck on a standby changelog message). A
        # partition that moves is recovered from its changelog instead.
        table_standby_replicas=0,
        GlobalTable=PolicyTable,
    )
    shell = Shell(app, settings, policy, policy_raw)
    shell.gaps.security = settings.kafka_security  # its own consumer and admin client
    shell.policy_table = app.GlobalTable(
        "policy",
        changelog_topic=app.topic(
            settings.policy_topic,
            partitions=1,
            compacting=True,
            deleting=False,
            key_serializer="raw",
            value_serializer="raw",
        ),
        partitions=1,
        key_type=bytes,
        value_type=bytes,
        # Written from outside (policy publish), not by the workers: every worker must keep
        # reading it after recovery, also the one that holds its partition as an active one.
        # Faust resumes an active-only changelog partition after recovery only for a table
        # with recovery_buffer_size=1 (faust/tables/recovery.py; cf. robinhood/faust#541).
        recovery_buffer_size=1,
        help="The published policy (auxstream policy publish).",
    )
    # The input and repartition topics, delivered in bulk (see auxstream.stream.intake).
    intake = intake_topic(
        app, [settings.input_topic, settings.repartition_topic], settings.intake_max
    ).intake
    shell.intake = intake
    app.watch_deliveries(intake)

    @app.task
    async def agent_events() -> None:
        """Agent events in batches, in partition order; acked only after their flush."""
        while not app.should_stop:
            generation, batch = await intake.take(settings.batch_max, settings.batch_within_s)
            if batch:
                # Decode, validate, re-key or apply; count outcomes; hand the records to Kafka.
                await shell.handle_batch(generation, batch)

    @app.timer(settings.batch_within_s, name="flush")
    async def flush() -> None:
        """Wait until Kafka has every record, then store the changed agents, then ack."""
        await shell.flush()

    @app.task
    async def release_held() -> None:
        """Apply held events the moment their grace runs out (Shell.arm_release), without
        waiting for the next tick."""
        wake = shell.release_wake
        while not app.should_stop:
            await wake.wait()
            wake.clear()
            if not app.rebalancing:
                await shell.release_held()

    @app.timer(RELEASE_EVERY_S, name="release-held-check")
    async def release_held_check() -> None:
        """A safety net under the precise wake-up: release whatever is due."""
        if not app.rebalancing:
            await shell.release_held()

    @app.task
    async def advance() -> None:
        """Advance silent agents to the watermark the tick moved, paced while caught up."""
        wake = shell.advance_wake
        while not app.should_stop:
            await wake.wait()
            wake.clear()
            await shell.advance()

    @app.timer(settings.tick_s, name="move-time")
    async def move_time() -> None:
        """Release events that waited out their grace, advance silent agents to the watermark."""
        if not app.rebalancing:
            await shell.move_time()

    app.on_partitions_revoked.connect(shell.on_revoked)
    app.on_rebalance_complete.connect(shell.on_rebalance_complete)
    app.on_before_shutdown.connect(shell.on_shutdown)

    register_metrics(app, shell)  # /metrics: contract §6 and Faust's sensor
    register_api(app, shell, settings)  # /health, /agents/{agent_id}, /teams/{team}
    # acd.raw.<vendor> topics named in the policy's adapters:, counted with the worker's metrics
    register_vendor_agents(app, settings, counts=shell.processor.counts)
    return app
