"""The import's writes: a decided batch of rows, its new rows by ``storage.bulk.insert_rows`` (a
COPY on PostgreSQL) and its changed leads' variables by one ``executemany``.

The lifecycle decides what an arriving lead starts with (its next attempt time, its history row);
this module only writes it, a statement per table and batch, inside the import's one transaction.
The live per-status counts follow the inserted leads (``leadcounts``), and every created lead gets
its ``lead.created`` event in the same transaction (``webhooks.outbox``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

from django.db import connection
from django.utils import timezone

from leadcounts import services as lead_counts
from leadmgr.storage.bulk import insert_rows
from webhooks import outbox

from .. import lifecycle
from ..models import Lead, SecondaryContact, StatusChange
from .rows import LeadRow

# One encoder for every row: json.dumps with options builds a new encoder per call.
_to_json = json.JSONEncoder(ensure_ascii=False).encode

_LEAD_COLUMNS = (
    "campaign_id",
    "phone",
    "status",
    "variables",
    "attempts",
    "next_attempt_at",
    "created_at",
    "updated_at",
)
_CONTACT_COLUMNS = ("lead_id", "phone", "variables", "position")


class BatchWriter:
    """Writes the decided rows of a batch: ``create`` rows as new leads with their contacts and
    history, ``update`` rows' merged variables into the lead ``existing`` names."""

    def __init__(self, *, user, reason: str):
        self.user_id = getattr(user, "pk", None)
        self.reason = reason
        qn = connection.ops.quote_name
        self.lead_table = qn(Lead._meta.db_table)

    def write(self, batch: list[LeadRow], existing: dict[tuple[int, str], tuple[int, dict]]) -> None:
        now = timezone.now()
        creates = [r for r in batch if r.action == "create"]
        updates = [r for r in batch if r.action == "update"]
        with connection.cursor() as cursor:
            if creates:
                self._create(cursor, creates, now)
            if updates:
                now_db = connection.ops.adapt_datetimefield_value(now)
                cursor.executemany(
                    f"UPDATE {self.lead_table} SET variables = %s, updated_at = %s WHERE id = %s",
                    [(_to_json(r.variables), now_db, existing[(r.campaign.pk, r.phone)][0]) for r in updates],
                )

    def _create(self, cursor, creates: list[LeadRow], now: dt.datetime) -> None:
        adapt = connection.ops.adapt_datetimefield_value
        now_db = adapt(now)
        leads = []
        for r in creates:
            next_at = lifecycle.arrival_next_attempt_at(r.status, r.campaign, r.next_attempt_at, now)
            next_db = adapt(next_at) if next_at else None
            leads.append(
                (r.campaign.pk, r.phone, r.status, _to_json(r.variables), 0, next_db, now_db, now_db)
            )
        with lead_counts.bulk_inserted(Counter((r.campaign.pk, r.status) for r in creates)):
            insert_rows(Lead, _LEAD_COLUMNS, leads)
        ids = self._ids(cursor, creates)
        contacts = [
            (ids[(r.campaign.pk, r.phone)], c.phone, _to_json(c.variables), position)
            for r in creates
            for position, c in enumerate(r.contacts)
        ]
        if contacts:
            insert_rows(SecondaryContact, _CONTACT_COLUMNS, contacts)
        arrivals = ((ids[(r.campaign.pk, r.phone)], r.status) for r in creates)
        history = lifecycle.arrival_history(arrivals, at=now_db, user_id=self.user_id, reason=self.reason)
        if history:
            insert_rows(StatusChange, lifecycle.ARRIVAL_HISTORY_COLUMNS, history)
        outbox.leads_imported(creates, ids, at=now)

    def _ids(self, cursor, rows: list[LeadRow]) -> dict[tuple[int, str], int]:
        by_campaign: dict[int, list[str]] = {}
        for r in rows:
            by_campaign.setdefault(r.campaign.pk, []).append(r.phone)
        ids: dict[tuple[int, str], int] = {}
        for campaign_id, phones in by_campaign.items():
            marks = ", ".join(["%s"] * len(phones))
            cursor.execute(
                f"SELECT phone, id FROM {self.lead_table} WHERE campaign_id = %s AND phone IN ({marks})",
                [campaign_id, *phones],
            )
            for phone, pk in cursor.fetchall():
                ids[(campaign_id, phone)] = pk
        return ids
