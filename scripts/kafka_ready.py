"""Ask a Kafka broker for metadata, with the standard library only.

Used by scripts/kafka.sh to decide that a broker is ready: it must answer a Metadata request
and list at least one broker. A KRaft broker that is still fenced (catching up with the
controller) lists none, so an open port alone is not enough. Runs before any virtual
environment exists, hence no aiokafka here.

    python3 scripts/kafka_ready.py 127.0.0.1:9092        # exit 0 when ready, 1 otherwise
    python3 scripts/kafka_ready.py --cafile ca.pem --scram-user admin \
        --scram-password-file admin.password 127.0.0.1:9092   # a SASL_SSL listener

With --cafile the connection is TLS (the broker's certificate must chain to that CA and name
the host); with --scram-user it authenticates with SCRAM-SHA-512 first (SaslHandshake v1,
SaslAuthenticate v0), so a ready answer also proves the user and its password work.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import secrets
import socket
import ssl
import struct
import sys

# Metadata v4 is the oldest version Kafka 4.x still accepts and the newest one that needs no
# "flexible" (tagged-field) encoding; its response lists brokers first.
_METADATA_KEY = 3
_METADATA_VERSION = 4
_CLIENT_ID = b"auxstream-ready"


_SASL_HANDSHAKE_KEY, _SASL_HANDSHAKE_VERSION = 17, 1
_SASL_AUTHENTICATE_KEY, _SASL_AUTHENTICATE_VERSION = 36, 0
_MECHANISM = "SCRAM-SHA-512"


class AuthenticationFailed(Exception):
    """The broker refused the SASL handshake or the credentials."""


def _frame(key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    header = struct.pack(">hhih", key, version, correlation_id, len(_CLIENT_ID))
    payload = header + _CLIENT_ID + body
    return struct.pack(">i", len(payload)) + payload


def _request(correlation_id: int) -> bytes:
    # topics: empty array (we only want the brokers), allow_auto_topic_creation: false
    return _frame(_METADATA_KEY, _METADATA_VERSION, correlation_id, struct.pack(">ib", 0, 0))


def _exchange(sock: socket.socket, request: bytes) -> bytes:
    """Send one request; its response without the size and the correlation id."""
    sock.sendall(request)
    (size,) = struct.unpack(">i", _read_exact(sock, 4))
    return _read_exact(sock, size)[4:]


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">h", len(data)) + data


def _authenticate(sock: socket.socket, correlation_id: int, message: bytes) -> bytes:
    """One SaslAuthenticate round: send ``message``, return the broker's answer."""
    body = struct.pack(">i", len(message)) + message
    data = _exchange(
        sock, _frame(_SASL_AUTHENTICATE_KEY, _SASL_AUTHENTICATE_VERSION, correlation_id, body)
    )
    (error,) = struct.unpack_from(">h", data, 0)
    (text_len,) = struct.unpack_from(">h", data, 2)
    text = data[4 : 4 + max(text_len, 0)].decode(errors="replace")
    offset = 4 + max(text_len, 0)
    (size,) = struct.unpack_from(">i", data, offset)
    if error:
        raise AuthenticationFailed(f"error {error}: {text}")
    return data[offset + 4 : offset + 4 + max(size, 0)]


def scram_login(sock: socket.socket, user: str, password: str) -> None:
    """SCRAM-SHA-512 (RFC 5802) over Kafka's SaslHandshake and SaslAuthenticate requests."""
    data = _exchange(
        sock, _frame(_SASL_HANDSHAKE_KEY, _SASL_HANDSHAKE_VERSION, 2, _string(_MECHANISM))
    )
    (error,) = struct.unpack_from(">h", data, 0)
    if error:
        raise AuthenticationFailed(f"the broker does not offer {_MECHANISM} (error {error})")
    name = user.replace("=", "=3D").replace(",", "=2C")
    nonce = secrets.token_urlsafe(24)
    first_bare = f"n={name},r={nonce}"
    server_first = _authenticate(sock, 3, f"n,,{first_bare}".encode()).decode()
    fields = dict(item.split("=", 1) for item in server_first.split(","))
    if not fields.get("r", "").startswith(nonce):
        raise AuthenticationFailed("the broker's SCRAM nonce does not extend ours")
    salted = hashlib.pbkdf2_hmac(
        "sha512", password.encode(), base64.b64decode(fields["s"]), int(fields["i"])
    )
    client_key = hmac.digest(salted, b"Client Key", "sha512")
    final_bare = f"c=biws,r={fields['r']}"
    auth_message = f"{first_bare},{server_first},{final_bare}".encode()
    signature = hmac.digest(hashlib.sha512(client_key).digest(), auth_message, "sha512")
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True)))
    server_final = _authenticate(sock, 4, f"{final_bare},p={proof.decode()}".encode()).decode()
    server_key = hmac.digest(salted, b"Server Key", "sha512")
    expected = base64.b64encode(hmac.digest(server_key, auth_message, "sha512")).decode()
    if server_final != f"v={expected}":
        raise AuthenticationFailed("the broker's SCRAM signature is wrong")


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        chunks += chunk
    return bytes(chunks)


def broker_ids(
    host: str,
    port: int,
    timeout_s: float = 2.0,
    *,
    cafile: str | None = None,
    scram: tuple[str, str] | None = None,
) -> list[tuple[int, str, int]]:
    """The (node_id, host, port) of each broker the cluster reports as available.

    ``cafile``: connect with TLS, trusting that CA; ``scram``: (user, password) to log in with
    SCRAM-SHA-512 before asking.
    """
    with socket.create_connection((host, port), timeout=timeout_s) as raw:
        sock = raw
        if cafile is not None:
            context = ssl.create_default_context(cafile=cafile)
            sock = context.wrap_socket(raw, server_hostname=host)
        if scram is not None:
            scram_login(sock, *scram)
        data = _exchange(sock, _request(correlation_id=1))
    # response body: throttle_time_ms, brokers[...]
    _throttle_ms, count = struct.unpack_from(">ii", data, 0)
    offset = 8
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
    parser = argparse.ArgumentParser(prog="kafka_ready.py")
    parser.add_argument("address", metavar="HOST:PORT")
    parser.add_argument("--cafile", help="connect with TLS, trusting this CA (PEM)")
    parser.add_argument("--scram-user", help="log in with SCRAM-SHA-512 as this user")
    parser.add_argument("--scram-password-file", help="the file holding that user's password")
    args = parser.parse_args(argv)
    if ":" not in args.address or (args.scram_user is None) != (args.scram_password_file is None):
        parser.print_usage(sys.stderr)
        return 2
    host, _, port = args.address.rpartition(":")
    try:
        scram = None
        if args.scram_user is not None:
            with open(args.scram_password_file, encoding="utf-8") as secret:
                scram = (args.scram_user, secret.read().rstrip("\r\n"))
        brokers = broker_ids(host, int(port), cafile=args.cafile, scram=scram)
    except (OSError, struct.error, AuthenticationFailed, KeyError, ValueError) as exc:
        print(f"not ready: {exc}", file=sys.stderr)
        return 1
    if not brokers:
        print("not ready: no broker is available yet", file=sys.stderr)
        return 1
    print(", ".join(f"broker {node} at {h}:{p}" for node, h, p in brokers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
