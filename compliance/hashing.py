"""The keyed hash an erased number leaves behind: enough to refuse the number again, never to read it.

HMAC-SHA256 with ``LEADMGR_ERASURE_KEY`` (by default derived from ``SECRET_KEY``): without the key a
hash cannot be checked against a guessed number. Changing the key forgets which numbers were
erased, so production sets its own, stable key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from django.conf import settings


def _key() -> bytes:
    configured = getattr(settings, "LEADMGR_ERASURE_KEY", "")
    if configured:
        return configured.encode()
    return hashlib.sha256(b"leadmgr.erasure:" + settings.SECRET_KEY.encode()).digest()


def number_hash(number: str) -> str:
    return hmac.new(_key(), number.encode(), hashlib.sha256).hexdigest()


def number_hashes(numbers: Iterable[str]) -> dict[str, str]:
    """hash → number for many numbers (one key derivation, a copied HMAC state per number)."""
    base = hmac.new(_key(), digestmod=hashlib.sha256)
    out = {}
    for number in numbers:
        h = base.copy()
        h.update(number.encode())
        out[h.hexdigest()] = number
    return out
