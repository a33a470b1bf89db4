"""Ask a Kafka broker for metadata, with the standard library only.

Used by scripts/kafka.sh to decide that a broker is ready: it must answer a Metadata request
and list at least one broker. A KRaft broker that is still fenced (catching up with the
controller) lists none, so an open port alone is not enough. Runs before any virtual
environment exists, hence no aiokafka here.

    python3 scripts/kafka_ready.py 127.0.0.1:9092        # exit 0 when ready, 1 otherwise
"""

from __future__ import annotations

import socket
import struct
import sys

# Metadata v4 is the oldest version Kafka 4.x still accepts and the newest one that needs no
# "flexible" (tagged-field) encoding; its response lists brokers first.
_METADATA_KEY = 3
_METADATA_VERSION = 4
_CLIENT_ID = b"auxstream-ready"


def _request(correlation_id: int) -> bytes:
    header = struct.pack(">hhih", _METADATA_KEY, _METADATA_VERSION, correlation_id, len(_CLIENT_ID))
    # topics: empty array (we only want the brokers), allow_auto_topic_creation: false
    body = struct.pack(">ib", 0, 0)
    payload = header + _CLIENT_ID + body
    return struct.pack(">i", len(payload)) + payload


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        chunks += chunk
    return bytes(chunks)


def broker_ids(host: str, port: int, timeout_s: float = 2.0) -> list[tuple[int, str, int]]:
    """The (node_id, host, port) of each broker the cluster reports as available."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(_request(correlation_id=1))
        (size,) = struct.unpack(">i", _read_exact(sock, 4))
        data = _read_exact(sock, size)
    # response header: correlation_id; body: throttle_time_ms, brokers[...]
    _correlation_id, _throttle_ms, count = struct.unpack_from(">iii", data, 0)
    offset = 12
    brokers = []
    for _ in range(count):
        (node_id, host_len) = struct.unpack_from(">ih", data, offset)
        offset += 6
        broker_host = data[offset : offset + host_len].decode()
        offset += host_len
        (broker_port, rack_len) = struct.unpack_from(">ih", data, offset)
        offset += 6 + max(rack_len, 0)
        brokers.append((node_id, broker_host, broker_port))
    return brokers


def main(argv: list[str]) -> int:
    if len(argv) != 1 or ":" not in argv[0]:
        print("usage: kafka_ready.py HOST:PORT", file=sys.stderr)
        return 2
    host, _, port = argv[0].rpartition(":")
    try:
        brokers = broker_ids(host, int(port))
    except (OSError, struct.error) as exc:
        print(f"not ready: {exc}", file=sys.stderr)
        return 1
    if not brokers:
        print("not ready: no broker is available yet", file=sys.stderr)
        return 1
    print(", ".join(f"broker {node} at {h}:{p}" for node, h, p in brokers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
