"""Twilio's request signature (``X-Twilio-Signature``), checked without Twilio's SDK.

Form-encoded webhooks: base64(HMAC-SHA1(auth token, full URL + each POST parameter's name and
value, sorted by name, no separators)). JSON webhooks (Event Streams): the URL carries a
``bodySHA256`` query parameter, the signature covers the URL alone, and the body must hash to
that value. Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit


def expected_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    payload = url + "".join(
        name + value for name, value in sorted(params, key=lambda item: item[0])
    )
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def valid_form_request(auth_token: str, url: str, body: bytes, signature: str | None) -> bool:
    """A form-encoded POST: the signature over the URL and the sorted parameters."""
    if not signature:
        return False
    try:
        params = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return False
    return hmac.compare_digest(expected_signature(auth_token, url, params), signature)


def valid_json_request(auth_token: str, url: str, body: bytes, signature: str | None) -> bool:
    """A JSON POST: the signature over the URL, whose ``bodySHA256`` must match the body."""
    if not signature:
        return False
    claimed = dict(parse_qsl(urlsplit(url).query)).get("bodySHA256")
    if claimed is None:
        return False
    if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), claimed.lower()):
        return False
    return hmac.compare_digest(expected_signature(auth_token, url), signature)
