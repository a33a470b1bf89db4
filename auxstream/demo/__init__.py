"""``auxstream demo``: the main job in one command, on a local broker.

Creates a private set of topics, starts one worker as a subprocess, feeds it a simulated
contact centre at an accelerated speed and shows what comes out, live, until Ctrl-C or
``--duration``; then stops everything it started and prints a summary.

- ``floor``: what the view knows (agents' states, time by code, detections, counts); pure.
- ``render``: the live view, the plain progress line and the summary, from a ``floor``.
- ``feed``: the simulated centre, one period after another, as Kafka messages.
- ``processes``: the worker and ``topics create`` subprocesses, started and stopped by pid.
- ``kafka``: broker check, reading the output topics, the worker's metrics, removing the topics.
- ``run``: the order of it all; ``cli``: the command.
"""
