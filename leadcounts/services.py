"""Writes of the lead counts: folding PostgreSQL's deltas (the runner, each pass), a full recount,
and the bulk writers' own counting (a statement per batch instead of a trigger call per lead)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import QuerySet

from leadmgr.storage import counts as sql


def fold_deltas() -> None:
    """Fold the committed deltas into the counts (PostgreSQL; SQLite's triggers update in place)."""
    if not sql.uses_deltas():
        return
    with transaction.atomic():
        sql.fold()


def recount() -> None:
    """Count every campaign's leads afresh (a repair; the triggers make it needless in normal use)."""
    with transaction.atomic():
        sql.run(sql.RECOUNT)


@contextmanager
def bulk_inserted(counts: Mapping[tuple[int, str], int]) -> Iterator[None]:
    """Around a writer's batch INSERT of leads, ``counts`` per (campaign id, status) being what it
    inserts: the row trigger stays out of the block's statements and the counts take the batch in
    one statement. An error in the block rolls back its savepoint, the trigger's suspension too."""
    with transaction.atomic(), sql.triggers_suspended() as installed:
        yield
        counts = {key: n for key, n in counts.items() if n}
        if installed and counts:
            params = [
                value for (campaign_id, status), n in counts.items() for value in (campaign_id, status, n)
            ]
            with connection.cursor() as cursor:
                cursor.execute(sql.add_counts(len(counts)), params)


def delete_leads(leads: QuerySet) -> int:
    """Delete these leads (``QuerySet.delete``: one statement, the children by the database's
    cascades) with the counts following in one statement rather than a trigger call per lead.
    Returns how many leads were deleted."""
    leads = leads.order_by().select_related(None)
    if not sql.can_count_delete(leads):
        return leads.delete()[0]  # delete signals or cascades in Python: Django's way, counted per row
    with transaction.atomic(), sql.triggers_suspended() as installed:
        if not installed:
            return leads.delete()[0]
        return sql.delete_counted(leads)
