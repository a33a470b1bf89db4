"""The receiver's pure parts: Twilio's signature and splitting bodies into keyed records."""

from __future__ import annotations

import hashlib
import json

import pytest

from auxstream.ingest.signature import expected_signature, valid_form_request, valid_json_request
from auxstream.ingest.split import BadBody, connect_records, genesys_records, twilio_records

# Twilio's own worked example (docs "Webhooks security": validating requests).
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
          "From": "+12349013030", "To": "+18005551212"}  # fmt: skip
BODY = "&".join(f"{k}={v.replace('+', '%2B')}" for k, v in PARAMS.items()).encode()


def test_twilio_documented_example() -> None:
    assert expected_signature("12345", URL, PARAMS.items()) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert valid_form_request("12345", URL, BODY, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


@pytest.mark.parametrize(
    ("token", "url", "body", "sig"),
    [
        ("12345", URL, BODY, None),
        ("12345", URL, BODY, ""),
        ("54321", URL, BODY, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
        ("12345", URL.replace("https", "http"), BODY, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
        ("12345", URL, BODY.replace(b"1234&", b"9999&"), "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
    ],
)
def test_twilio_signature_refusals(token: str, url: str, body: bytes, sig: str | None) -> None:
    assert not valid_form_request(token, url, body, sig)


def test_twilio_json_body_hash() -> None:
    body = b'{"a": 1}'
    url = f"https://example.com/twilio?bodySHA256={hashlib.sha256(body).hexdigest()}"
    sig = expected_signature("tok", url)
    assert valid_json_request("tok", url, body, sig)
    assert not valid_json_request("tok", url, b'{"a": 2}', sig)
    assert not valid_json_request(
        "tok",
        "https://example.com/twilio",
        body,
        expected_signature("tok", "https://example.com/twilio"),
    )


def test_records_are_keyed_by_agent() -> None:
    assert twilio_records(b"EventType=x&WorkerSid=WK1", "application/x-www-form-urlencoded") == [
        (b"WK1", b"EventType=x&WorkerSid=WK1")
    ]
    assert twilio_records(b"EventType=task.created", "application/x-www-form-urlencoded") == [
        (None, b"EventType=task.created")
    ]
    cloud = [{"data": {"payload": {"worker_sid": "WK2"}}}, {"data": {}}]
    assert [k for k, _ in twilio_records(json.dumps(cloud).encode(), "application/json")] == [
        b"WK2",
        None,
    ]
    note = {"topicName": "v2.users.u-9.presence", "eventBody": {}}
    assert genesys_records(json.dumps({"detail": note}).encode())[0][0] == b"u-9"
    arn = "arn:aws:connect:r:1:instance/i/agent/a-3"
    assert connect_records(json.dumps([{"AgentARN": arn}, {}]).encode())[0][0] == b"a-3"


@pytest.mark.parametrize("body", [b"", b"{", b"[]"])
def test_bodies_that_are_not_json_are_bad(body: bytes) -> None:
    with pytest.raises(BadBody):
        genesys_records(body)
