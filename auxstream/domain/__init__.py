"""The pure core of auxstream.

Everything here is a function of its inputs: no clock, no I/O, no Kafka, no asyncio.
The Faust workers and `auxstream replay` both drive this core, so they cannot disagree.
The public surface is in :mod:`auxstream.domain.engine` (``apply``, ``advance``,
``release``) plus the value types in :mod:`events`, :mod:`policy` and :mod:`outputs`.
"""
