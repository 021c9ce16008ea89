"""Leads per campaign and status, kept up to date by database triggers on the leads table.

Every path that writes leads (the lifecycle, the runner, manual and bulk changes, the CSV import's
raw inserts, the fast raw delete, a move to another campaign, the admin) goes through the table,
so triggers keep the counts in the writer's own transaction without any of them knowing; a page
reads a handful of rows instead of counting a million (see ``leadmgr.storage.counts``).

On PostgreSQL the triggers append deltas (``StatusCountDelta``) instead of updating the count row:
an import's one transaction would otherwise update the same row once per lead, and PostgreSQL
slows down with every version of one row a transaction writes. The runner folds the deltas into
``StatusCount`` at each pass; a reader adds the ones not folded yet.
"""

from __future__ import annotations

from django.db import models

from campaigns.models import Campaign


class StatusCount(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+", db_index=False)
    status = models.CharField(max_length=16)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # The triggers' upsert key, and the readers' index (a campaign's rows).
            models.UniqueConstraint(fields=["campaign", "status"], name="status_count_unique")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.status}: {self.n}"


class StatusCountDelta(models.Model):
    """A change not yet folded into StatusCount (PostgreSQL only; insert-only, so never contended)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+", db_index=False)
    status = models.CharField(max_length=16)
    n = models.BigIntegerField()

    class Meta:
        indexes = [
            # Readers add a campaign's pending deltas.
            models.Index(fields=["campaign", "status"], name="status_count_delta_campaign")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.status}: {self.n:+d}"
