"""HMAC-SHA256 signatures for provider traffic: over ``<timestamp>.<body>`` with a shared secret.

Headers: ``X-Leadmgr-Timestamp`` (Unix seconds) and ``X-Leadmgr-Signature`` (``sha256=<hex>``).
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Leadmgr-Timestamp"
SIGNATURE_HEADER = "X-Leadmgr-Signature"
PREFIX = "sha256="

E_NO_SECRET = "The provider secret is not configured (LEADMGR_PROVIDER_SECRET)."
E_MISSING = "Missing signature or timestamp header."
E_BAD_TIMESTAMP = "The timestamp is not a whole number of seconds."
E_STALE = "The timestamp is more than {max_age} seconds away from now: refusing a stale request."
E_BAD_SIGNATURE = "The signature does not match the body and timestamp."


class SignatureError(Exception):
    pass


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return PREFIX + mac.hexdigest()


def headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, *, now: float, max_age: int
) -> None:
    """Raise SignatureError unless the signature is right and the timestamp is fresh."""
    if not secret:
        raise SignatureError(E_NO_SECRET)
    if not timestamp or not signature:
        raise SignatureError(E_MISSING)
    try:
        stamp = int(timestamp)
    except ValueError:
        raise SignatureError(E_BAD_TIMESTAMP) from None
    # As bytes: compare_digest refuses str with non-ASCII characters, which a header may carry.
    given = signature.encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(sign(secret, timestamp, body).encode("utf-8", "surrogateescape"), given):
        raise SignatureError(E_BAD_SIGNATURE)
    if abs(int(now) - stamp) > max_age:  # whole numbers: a huge stamp does not fit in a float
        raise SignatureError(E_STALE.format(max_age=max_age))
