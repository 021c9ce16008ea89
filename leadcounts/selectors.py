"""Leads per status of a campaign (or of every campaign), from the maintained counts: a few rows
read, never a count over the leads table."""

from __future__ import annotations

from django.db import connection

from leadmgr.storage.counts import COUNTS, DELTAS
from leads.models import Status


def status_counts(campaign_id: int) -> dict[str, int]:
    """Leads per status of one campaign, every status present (zeros included); one query."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT status, SUM(n) FROM (SELECT status, n FROM {COUNTS} WHERE campaign_id = %s "
            f"UNION ALL SELECT status, n FROM {DELTAS} WHERE campaign_id = %s) t GROUP BY status",
            [campaign_id, campaign_id],
        )
        counts = {status: int(n) for status, n in cursor.fetchall()}
    return {status: counts.get(status, 0) for status in Status.values}


def status_counts_by_campaign() -> dict[int, dict[str, int]]:
    """Leads per status for every campaign with leads (the campaigns list); one query."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT campaign_id, status, SUM(n) FROM (SELECT campaign_id, status, n FROM {COUNTS} "
            f"UNION ALL SELECT campaign_id, status, n FROM {DELTAS}) t GROUP BY campaign_id, status"
        )
        rows = cursor.fetchall()
    counts: dict[int, dict[str, int]] = {}
    for campaign_id, status, n in rows:
        if status in counts.setdefault(campaign_id, dict.fromkeys(Status.values, 0)):
            counts[campaign_id][status] = int(n)
    return counts
