"""Retention: call attempts and status history are kept ``LEADMGR_HISTORY_RETENTION_DAYS`` days."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from leads.models import CallAttempt, StatusChange

CHUNK = 10_000


def purge_history(*, days: int, now: dt.datetime | None = None) -> tuple[int, int]:
    """Delete call attempts that ended and status changes older than ``days``, in chunks (each its
    own transaction, so the runner and the pages never wait long). Returns (calls, history) deleted.

    A call still under way (no end) is kept whatever its age: the runner records its result."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    totals = []
    for model, old in (
        (CallAttempt, {"started_at__lt": cutoff, "ended_at__isnull": False}),
        (StatusChange, {"at__lt": cutoff}),
    ):
        total = 0
        while True:
            with transaction.atomic():
                ids = list(model.objects.filter(**old).order_by().values_list("pk", flat=True)[:CHUNK])
                if not ids:
                    break
                total += model.objects.filter(pk__in=ids).delete()[0]
        totals.append(total)
    return totals[0], totals[1]
