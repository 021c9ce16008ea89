from __future__ import annotations

from django.db.models import QuerySet

from .models import DeliveryAttempt, Subscription

LOG_SIZE = 100


def delivery_log(subscription: Subscription, limit: int = LOG_SIZE) -> QuerySet[DeliveryAttempt]:
    """The subscription's last ``limit`` POSTs, newest first, with their events."""
    return (
        DeliveryAttempt.objects.filter(subscription=subscription)
        .select_related("delivery")
        .only(
            "number",
            "at",
            "status_code",
            "error",
            "duration_ms",
            "delivery__event_type",
            "delivery__event_id",
            "delivery__lead_id",
            "delivery__state",
        )
        .order_by("-id")[:limit]
    )
