"""``Idempotency-Key`` for create requests: the same key with the same body answers the first
response again; the same key with another body is refused (422). Keys are kept per user, for
``KEEP`` after their first use (a retry comes within minutes; a day covers a script rerun)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from . import errors
from .models import IdempotencyKey

HEADER = "Idempotency-Key"
KEY_MAX = IdempotencyKey._meta.get_field("key").max_length
IN_PROGRESS = 0  # status_code of a key whose first request has not answered yet
KEEP = dt.timedelta(hours=24)

E_KEY_REUSED = (
    "This Idempotency-Key was already used with another request body: use a new key for a new request."
)
E_KEY_IN_PROGRESS = "A request with this Idempotency-Key is still being processed: retry in a moment."
E_KEY_INVALID = f"The Idempotency-Key header must be 1 to {KEY_MAX} printable ASCII characters."
REPLAYED_HEADER = "Idempotent-Replayed"


def request_hash(request) -> str:
    # The parsed body, keys sorted: the same JSON sent with other spacing is the same request.
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def respond(request, handle: Callable[[], Response]) -> Response:
    """Run ``handle`` once per key (when the request has one) and keep its answer."""
    key = request.headers.get(HEADER)
    if key is None:
        return handle()
    if not (0 < len(key) <= KEY_MAX and key.isascii() and key.isprintable()):
        return errors.problem(
            400, E_KEY_INVALID, type=errors.VALIDATION, errors=[{"field": None, "message": E_KEY_INVALID}]
        )
    digest = request_hash(request)
    # The user's expired keys go as a new one comes (the unique (user, key) index finds them).
    IdempotencyKey.objects.filter(user=request.user, created_at__lt=timezone.now() - KEEP).delete()
    try:
        with transaction.atomic():
            record = IdempotencyKey.objects.create(
                user=request.user, key=key, request_hash=digest, status_code=IN_PROGRESS, response={}
            )
    except IntegrityError:
        return _replay(request.user, key, digest)
    try:
        response = handle()
    except BaseException:
        record.delete()  # nothing was answered: the key may be used again
        raise
    IdempotencyKey.objects.filter(pk=record.pk).update(
        status_code=response.status_code, response=response.data
    )
    return response


def _replay(user, key: str, digest: str) -> Response:
    record = IdempotencyKey.objects.filter(user=user, key=key).first()
    if record is None or record.status_code == IN_PROGRESS:
        return errors.problem(409, E_KEY_IN_PROGRESS, type=errors.IDEMPOTENCY_IN_PROGRESS)
    if record.request_hash != digest:
        return errors.problem(422, E_KEY_REUSED, type=errors.IDEMPOTENCY_MISMATCH)
    content_type = errors.PROBLEM_CONTENT_TYPE if record.status_code >= 400 else None
    return Response(
        record.response,
        status=record.status_code,
        headers={REPLAYED_HEADER: "true"},
        content_type=content_type,
    )
