"""The triggers behind ``leadcounts`` and the SQL that reads and folds the counts, per database,
and the bulk writers' own counting (a statement per batch instead of a trigger call per lead).

``leadcounts.services`` says when each runs; which SQL runs, and whether counts go through
deltas, is decided here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import connection
from django.db.models import Count, QuerySet
from django.db.models.deletion import Collector
from django.db.models.sql import DeleteQuery

from . import POSTGRESQL, is_postgresql

LEADS = "leads_lead"
COUNTS = "leadcounts_statuscount"
DELTAS = "leadcounts_statuscountdelta"

# SQLite: row triggers update the count row in place (one writer at a time, no version chains).
# A delete only decrements a row that exists: Django's test flush empties the counts table before
# or after the leads table, and must leave both empty.
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER leadcounts_insert AFTER INSERT ON {LEADS} BEGIN
        INSERT INTO {COUNTS} (campaign_id, status, n) VALUES (NEW.campaign_id, NEW.status, 1)
        ON CONFLICT (campaign_id, status) DO UPDATE SET n = n + 1;
    END""",
    f"""CREATE TRIGGER leadcounts_delete AFTER DELETE ON {LEADS} BEGIN
        UPDATE {COUNTS} SET n = n - 1 WHERE campaign_id = OLD.campaign_id AND status = OLD.status;
    END""",
    f"""CREATE TRIGGER leadcounts_update AFTER UPDATE OF status, campaign_id ON {LEADS}
    WHEN OLD.status IS NOT NEW.status OR OLD.campaign_id IS NOT NEW.campaign_id BEGIN
        UPDATE {COUNTS} SET n = n - 1 WHERE campaign_id = OLD.campaign_id AND status = OLD.status;
        INSERT INTO {COUNTS} (campaign_id, status, n) VALUES (NEW.campaign_id, NEW.status, 1)
        ON CONFLICT (campaign_id, status) DO UPDATE SET n = n + 1;
    END""",
]
# SQLite has no session setting a trigger can read, but DDL is transactional and the write lock
# (taken at BEGIN: transaction_mode IMMEDIATE) shuts every other writer out until COMMIT, so a bulk
# writer drops the insert/delete triggers, writes and counts, and creates them again in its own
# transaction: no other writer ever runs without them, and a rollback puts them back.
SQLITE_INSERT_DELETE = f"""SELECT name, sql FROM sqlite_master
    WHERE type = 'trigger' AND tbl_name = '{LEADS}' AND name IN ('leadcounts_insert', 'leadcounts_delete')"""

SQLITE_DROP = [f"DROP TRIGGER IF EXISTS leadcounts_{kind}" for kind in ("insert", "delete", "update")]

# PostgreSQL: row triggers append a delta per lead written (insert-only, so no row is contended and
# no transaction writes one row many times). An UPDATE fires only when the status or the campaign
# changes (the WHEN clause is checked before any call). Statement triggers with transition tables
# were measured slower (each copies every changed row, variables and all): bench/lead_counts.py.
# A bulk writer (the CSV import's batch INSERTs, the fast delete) counts its rows itself, one
# statement per batch, and turns the insert/delete row triggers off for its own statements with a
# transaction-local setting (``PG_SUSPEND``): no lock, no DDL, other sessions unaffected. The WHEN
# clause is checked before any call, so a suspended row costs next to nothing.
PG_NOT_SUSPENDED = "current_setting('leadcounts.suspend', true) IS DISTINCT FROM 'on'"
PG_SUSPEND = "SELECT set_config('leadcounts.suspend', 'on', true)"
PG_RESUME = "SELECT set_config('leadcounts.suspend', 'off', true)"
PG_INSTALLED = f"""SELECT count(*) FROM pg_trigger WHERE tgrelid = '{LEADS}'::regclass
    AND tgname IN ('leadcounts_insert', 'leadcounts_delete')"""
PG_INSERT_DELETE = [
    f"""CREATE TRIGGER leadcounts_insert AFTER INSERT ON {LEADS} FOR EACH ROW
        WHEN ({PG_NOT_SUSPENDED}) EXECUTE FUNCTION leadcounts_insert()""",
    f"""CREATE TRIGGER leadcounts_delete AFTER DELETE ON {LEADS} FOR EACH ROW
        WHEN ({PG_NOT_SUSPENDED}) EXECUTE FUNCTION leadcounts_delete()""",
]

POSTGRES_TRIGGERS = [
    f"""CREATE FUNCTION leadcounts_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        INSERT INTO {DELTAS} (campaign_id, status, n) VALUES (NEW.campaign_id, NEW.status, 1);
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION leadcounts_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        INSERT INTO {DELTAS} (campaign_id, status, n) VALUES (OLD.campaign_id, OLD.status, -1);
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION leadcounts_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        INSERT INTO {DELTAS} (campaign_id, status, n)
        VALUES (OLD.campaign_id, OLD.status, -1), (NEW.campaign_id, NEW.status, 1);
        RETURN NULL;
    END $$""",
    *PG_INSERT_DELETE,
    f"""CREATE TRIGGER leadcounts_update AFTER UPDATE OF status, campaign_id ON {LEADS} FOR EACH ROW
        WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.campaign_id IS DISTINCT FROM NEW.campaign_id)
        EXECUTE FUNCTION leadcounts_update()""",
]
POSTGRES_DROP = [
    *(f"DROP TRIGGER IF EXISTS leadcounts_{kind} ON {LEADS}" for kind in ("insert", "delete", "update")),
    *(f"DROP FUNCTION IF EXISTS leadcounts_{kind}()" for kind in ("insert", "delete", "update")),
]

# The counts as they are when the triggers start (the migration), and again on demand (``recount``).
RECOUNT = [
    f"DELETE FROM {DELTAS}",
    f"DELETE FROM {COUNTS}",
    f"""INSERT INTO {COUNTS} (campaign_id, status, n)
        SELECT campaign_id, status, count(*) FROM {LEADS} GROUP BY campaign_id, status""",
]

# Fold the deltas committed so far into the counts, in one statement (PostgreSQL). Deltas of
# transactions still running are not visible, so not deleted: they are folded at a later pass.
FOLD = f"""WITH moved AS (DELETE FROM {DELTAS} RETURNING campaign_id, status, n)
    INSERT INTO {COUNTS} (campaign_id, status, n)
    SELECT campaign_id, status, sum(n) FROM moved GROUP BY campaign_id, status
    ON CONFLICT (campaign_id, status) DO UPDATE SET n = {COUNTS}.n + excluded.n"""


# Folds are serialised: two runners folding at once deleted the same deltas in different orders and
# one of them died of a deadlock (the 4-worker concurrency test on PostgreSQL). A runner that finds
# another folding skips its turn: the other takes every committed delta, the rest wait for a next pass.
FOLD_LOCK_KEY = 0x1EAD_C0DE  # pg_advisory_xact_lock's key for "folding the lead-count deltas"


def fold(conn=None) -> bool:
    """Fold the committed deltas into the counts, inside the caller's transaction, unless another
    transaction is folding them now; True when it folded."""
    with (conn or connection).cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [FOLD_LOCK_KEY])
        if not cursor.fetchone()[0]:
            return False
        cursor.execute(FOLD)
    return True


def triggers(vendor: str) -> list[str]:
    return POSTGRES_TRIGGERS if vendor == POSTGRESQL else SQLITE_TRIGGERS


def drop(vendor: str) -> list[str]:
    return POSTGRES_DROP if vendor == POSTGRESQL else SQLITE_DROP


def run(statements: Iterable[str], conn=None) -> None:
    with (conn or connection).cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


# A batch of inserted leads, counted by the writer: %s per (campaign_id, status, n).
def add_counts(rows: int, conn=None) -> str:
    values = ", ".join(["(%s, %s, %s)"] * rows)
    if is_postgresql(conn):
        return f"INSERT INTO {DELTAS} (campaign_id, status, n) VALUES {values}"
    return f"""INSERT INTO {COUNTS} (campaign_id, status, n) VALUES {values}
        ON CONFLICT (campaign_id, status) DO UPDATE SET n = n + excluded.n"""


# SQLite: the leads about to go, counted per (campaign, status) by ``grouped`` (a SELECT of
# campaign_id, status, n), taken off the counts in one statement (a count row exists for each).
def sqlite_subtract(grouped: str) -> str:
    return f"""UPDATE {COUNTS} SET n = {COUNTS}.n - gone.n FROM ({grouped}) AS gone
        WHERE {COUNTS}.campaign_id = gone.campaign_id AND {COUNTS}.status = gone.status"""


# PostgreSQL: under READ COMMITTED a separate count could miss a lead committed between it and the
# DELETE, so the DELETE itself returns what went, and one statement both deletes and counts.
def postgres_delete_counted(delete: str) -> str:
    return f"""WITH gone AS ({delete} RETURNING campaign_id, status),
        counted AS (INSERT INTO {DELTAS} (campaign_id, status, n)
            SELECT campaign_id, status, -count(*) FROM gone GROUP BY campaign_id, status)
        SELECT count(*) FROM gone"""


def uses_deltas(conn=None) -> bool:
    """Whether the triggers append deltas that a fold moves into the counts (PostgreSQL), rather
    than updating the count rows in place (SQLite)."""
    return is_postgresql(conn)


def can_count_delete(leads: QuerySet, conn=None) -> bool:
    """Whether a delete of ``leads`` can count its rows itself: not where Django deletes them in
    Python (delete signals or cascades) and each row's own trigger delta is the way to count."""
    conn = conn or connection
    return not uses_deltas(conn) or Collector(using=conn.alias).can_fast_delete(leads)


def delete_counted(leads: QuerySet, conn=None) -> int:
    """Delete ``leads`` with the counts following in one statement; inside ``triggers_suspended``,
    with the triggers installed. Returns how many leads were deleted."""
    conn = conn or connection
    if uses_deltas(conn):
        # QuerySet.delete's own statement when it can delete fast (no delete signals, only
        # database-level cascades: ``can_count_delete``), returning what went.
        query = leads.query.chain(klass=DeleteQuery)
        query.select_for_update = False
        delete, params = query.get_compiler(conn.alias).as_sql()
        with conn.cursor() as cursor:
            cursor.execute(postgres_delete_counted(delete), params)
            return cursor.fetchone()[0]
    # SQLite: the write lock is held, so the count taken first is of the very rows deleted.
    if leads.query.annotations or leads.query.distinct:
        leads = leads.model.objects.filter(pk__in=leads.values("pk"))
    grouped, params = (
        leads.values("campaign_id", "status").annotate(n=Count("pk")).order_by().query.sql_with_params()
    )
    with conn.cursor() as cursor:
        cursor.execute(sqlite_subtract(grouped), params)
    return leads.delete()[0]


@contextmanager
def triggers_suspended(conn=None) -> Iterator[bool]:
    """The insert and delete row triggers off for this connection's statements in the block (which
    must be in a transaction); yields whether they are installed at all (a bulk writer counts only
    then). On an error nothing is put back here: the rollback does it."""
    conn = conn or connection
    assert conn.in_atomic_block, "the suspension must end with its transaction"
    with conn.cursor() as cursor:
        if is_postgresql(conn):
            cursor.execute(PG_INSTALLED)
            installed = cursor.fetchone()[0] > 0
            if installed:
                cursor.execute(PG_SUSPEND)
            yield installed
            if installed:
                cursor.execute(PG_RESUME)
            return
        cursor.execute(SQLITE_INSERT_DELETE)
        found = cursor.fetchall()
        for name, _ in found:
            cursor.execute(f"DROP TRIGGER {name}")
        yield bool(found)
        for _, create in found:
            cursor.execute(create)
