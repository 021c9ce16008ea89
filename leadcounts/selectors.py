"""Leads per status of a campaign (or of every campaign), from the maintained counts: a few rows
read, never a count over the leads table."""

from __future__ import annotations

from collections.abc import Iterable

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


def leads_with(campaign_id: int | None, statuses: Iterable[str]) -> int:
    """How many leads of a campaign (None: of every campaign) have one of ``statuses`` (none given:
    any status); one query over the counts, whatever the number of leads."""
    where, params = [], []
    if campaign_id is not None:
        where.append("campaign_id = %s")
        params.append(campaign_id)
    statuses = list(statuses)
    if statuses:
        where.append(f"status IN ({', '.join(['%s'] * len(statuses))})")
        params.extend(statuses)
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COALESCE(SUM(n), 0) FROM (SELECT campaign_id, status, n FROM {COUNTS} "
            f"UNION ALL SELECT campaign_id, status, n FROM {DELTAS}) t{condition}",
            params,
        )
        return int(cursor.fetchone()[0])


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
