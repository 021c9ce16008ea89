"""API token writes and the one lookup behind ``Authorization: Bearer <key>``."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from .models import ApiToken

KEY_PREFIX = "lm_"
# last_used_at is written at most this often per token: a script making 50 requests a second would
# otherwise turn every read into a write.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
NAME_MAX_LENGTH = ApiToken._meta.get_field("name").max_length

E_NAME_EMPTY = "Name the token (for example the script or system that will use it)."
E_NAME_TOO_LONG = f"A token's name has at most {NAME_MAX_LENGTH} characters."


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def clean_name(name: str) -> str:
    """The token's name, or ValueError with the message to show."""
    name = (name or "").strip()
    if not name:
        raise ValueError(E_NAME_EMPTY)
    if len(name) > NAME_MAX_LENGTH:
        raise ValueError(E_NAME_TOO_LONG)
    return name


@transaction.atomic
def token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns it and its key, which is never stored and cannot be shown again."""
    key = KEY_PREFIX + secrets.token_urlsafe(40)
    token = ApiToken.objects.create(user=user, name=clean_name(name), key_hash=hash_key(key), prefix=key[:10])
    return token, key


def token_revoke(*, user, token_id: int) -> bool:
    """Revoke one of ``user``'s own tokens; False when it is not theirs or already revoked."""
    return bool(
        ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


def authenticate_key(key: str) -> ApiToken | None:
    """The live token with this key (its user loaded), noting its use; None for anything else."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_key(key), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
