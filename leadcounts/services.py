"""Writes of the lead counts: folding PostgreSQL's deltas (the runner, each pass), a full recount,
and the bulk writers' own counting (a statement per batch instead of a trigger call per lead)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import Count, QuerySet
from django.db.models.deletion import Collector
from django.db.models.sql import DeleteQuery

from . import sql


def fold_deltas() -> None:
    """Fold the committed deltas into the counts (PostgreSQL; SQLite's triggers update in place)."""
    if connection.vendor != "postgresql":
        return
    with transaction.atomic():
        sql.run([sql.FOLD])


def recount() -> None:
    """Count every campaign's leads afresh (a repair; the triggers make it needless in normal use)."""
    with transaction.atomic():
        sql.run(sql.RECOUNT)


@contextmanager
def bulk_inserted(counts: Mapping[tuple[int, str], int]) -> Iterator[None]:
    """Around a writer's batch INSERT of leads, ``counts`` per (campaign id, status) being what it
    inserts: the row trigger stays out of the block's statements and the counts take the batch in
    one statement. An error in the block rolls back its savepoint, the trigger's suspension too."""
    with transaction.atomic(), _triggers_suspended() as installed:
        yield
        counts = {key: n for key, n in counts.items() if n}
        if installed and counts:
            params = [
                value for (campaign_id, status), n in counts.items() for value in (campaign_id, status, n)
            ]
            with connection.cursor() as cursor:
                cursor.execute(sql.add_counts(connection.vendor, len(counts)), params)


def delete_leads(leads: QuerySet) -> int:
    """Delete these leads (``QuerySet.delete``: one statement, the children by the database's
    cascades) with the counts following in one statement rather than a trigger call per lead.
    Returns how many leads were deleted."""
    leads = leads.order_by().select_related(None)
    if connection.vendor == "postgresql" and not Collector(using=connection.alias).can_fast_delete(leads):
        return leads.delete()[0]  # delete signals or cascades in Python: Django's way, counted per row
    with transaction.atomic(), _triggers_suspended() as installed:
        if not installed:
            return leads.delete()[0]
        if connection.vendor == "postgresql":
            # QuerySet.delete's own statement when it can delete fast (no delete signals, only
            # database-level cascades: checked above), returning what went.
            query = leads.query.chain(klass=DeleteQuery)
            query.select_for_update = False
            delete, params = query.get_compiler(connection.alias).as_sql()
            with connection.cursor() as cursor:
                cursor.execute(sql.postgres_delete_counted(delete), params)
                return cursor.fetchone()[0]
        # SQLite: the write lock is held, so the count taken first is of the very rows deleted.
        if leads.query.annotations or leads.query.distinct:
            leads = leads.model.objects.filter(pk__in=leads.values("pk"))
        grouped, params = (
            leads.values("campaign_id", "status").annotate(n=Count("pk")).order_by().query.sql_with_params()
        )
        with connection.cursor() as cursor:
            cursor.execute(sql.sqlite_subtract(grouped), params)
        return leads.delete()[0]


@contextmanager
def _triggers_suspended() -> Iterator[bool]:
    """The insert and delete row triggers off for this connection's statements in the block (which
    must be in a transaction); yields whether they are installed at all (a bulk writer counts only
    then). On an error nothing is put back here: the rollback does it."""
    assert connection.in_atomic_block, "the suspension must end with its transaction"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(sql.PG_INSTALLED)
            installed = cursor.fetchone()[0] > 0
            if installed:
                cursor.execute(sql.PG_SUSPEND)
            yield installed
            if installed:
                cursor.execute(sql.PG_RESUME)
            return
        cursor.execute(sql.SQLITE_INSERT_DELETE)
        found = cursor.fetchall()
        for name, _ in found:
            cursor.execute(f"DROP TRIGGER {name}")
        yield bool(found)
        for _, create in found:
            cursor.execute(create)
