"""Webhook subscriptions and the outbox of their deliveries.

The outbox is ``Delivery``: one row per (event, subscription), written by ``webhooks.outbox`` in the
transaction of the change that caused the event, so an event exists exactly when its change
committed. The delivery worker (``webhooks.delivery``) is the only other writer.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from leadmgr.fields import Timestamped

from .http import Answer

EVENT_TYPES = {
    "lead.created": "A lead was created (form, import, admin)",
    "lead.status_changed": "A lead's status changed (automatic or manual)",
    "call.ended": "A dial of one number ended",
    "import.finished": "A CSV import was written",
}
TEST_EVENT = "webhook.test"


class Subscription(Timestamped):
    url = models.URLField("URL", max_length=2000)
    events = models.JSONField(default=list)  # names from EVENT_TYPES
    # Kept in the clear: every delivery is signed with it. Shown once, when the subscription is made.
    secret = models.CharField(max_length=64, editable=False)
    description = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    # Set when a delivery was given up after its last retry; cleared by the next success.
    failing = models.BooleanField(default=False)
    failing_since = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class Delivery(models.Model):
    """One event for one subscription: the outbox row, and its delivery state.

    ``next_attempt_at`` is both the retry time and the claim's lease: a worker that claims a row
    moves it to the end of its lease, so a row whose worker died is due again when the lease ends.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed", "Given up"

    subscription = models.ForeignKey(
        Subscription, on_delete=models.DB_CASCADE, related_name="deliveries", db_index=False
    )
    event_id = models.UUIDField()  # the same for every subscription's copy of one event
    event_type = models.CharField(max_length=32)
    # No foreign key: the event outlives its lead, and lead deletes stay one statement per table.
    lead_id = models.BigIntegerField(null=True, blank=True)
    body = models.TextField()  # the JSON sent, byte for byte the same on every attempt
    created_at = models.DateTimeField()  # the event's time
    state = models.CharField(max_length=10, choices=State, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Three indexes, each paid by every emitted event (an import with one subscription writes a
        # row per lead): keep them few.
        indexes = [
            # The worker's claim: pending rows due now, oldest first. Partial: delivered rows (the
            # great majority) cost it nothing and are not scanned.
            models.Index(
                fields=["next_attempt_at", "id"],
                name="webhook_delivery_due",
                condition=models.Q(state="pending"),
            ),
            # Order per lead: "is an earlier event of this lead still pending for this subscription?"
            models.Index(
                fields=["subscription", "lead_id", "id"],
                name="webhook_delivery_lead_order",
                condition=models.Q(state="pending"),
            ),
            # The subscription's page (newest first) and the cascade when a subscription is deleted.
            models.Index(fields=["subscription", "id"], name="webhook_delivery_sub"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → {self.subscription_id} ({self.state})"


class DeliveryAttempt(models.Model):
    """One POST of a delivery: the subscription's delivery log."""

    delivery = models.ForeignKey(Delivery, on_delete=models.DB_CASCADE, related_name="log", db_index=False)
    subscription = models.ForeignKey(
        Subscription, on_delete=models.DB_CASCADE, related_name="+", db_index=False
    )
    number = models.PositiveIntegerField()  # 1 for the first attempt of the delivery
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)  # None: no HTTP answer
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            # The delivery log: a subscription's last 100 attempts.
            models.Index(fields=["subscription", "id"], name="webhook_attempt_sub"),
            # Pruning old deliveries cascades to their attempts.
            models.Index(fields=["delivery"], name="webhook_attempt_delivery"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}: {self.status_code or self.error}"

    @property
    def ok(self) -> bool:
        return Answer(self.status_code).ok  # the receiver's answer, judged as when it came
