"""Writes of subscriptions (the pages call these)."""

from __future__ import annotations

import secrets

from django.db import transaction

from . import outbox
from .models import Subscription


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


@transaction.atomic
def subscription_create(
    *, url: str, events: list[str], description: str = "", active: bool = True, user=None
):
    return Subscription.objects.create(
        url=url,
        events=list(events),
        description=description,
        active=active,
        secret=new_secret(),
        created_by=user if getattr(user, "pk", None) else None,
    )


@transaction.atomic
def subscription_set_active(subscription: Subscription, *, active: bool) -> None:
    subscription.active = active
    subscription.save(update_fields=["active", "updated_at"])


@transaction.atomic
def subscription_send_test(subscription: Subscription, *, user=None) -> None:
    outbox.send_test(subscription, user=user)
