"""The triggers behind ``leadcounts`` and the SQL that reads and folds the counts, per database."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

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
SQLITE_DROP = [f"DROP TRIGGER IF EXISTS leadcounts_{kind}" for kind in ("insert", "delete", "update")]

# PostgreSQL: row triggers append a delta per lead written (insert-only, so no row is contended and
# no transaction writes one row many times). An UPDATE fires only when the status or the campaign
# changes (the WHEN clause is checked before any call). Statement triggers with transition tables
# were measured slower (each copies every changed row, variables and all): bench/lead_counts.py.
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
    f"""CREATE TRIGGER leadcounts_insert AFTER INSERT ON {LEADS}
        FOR EACH ROW EXECUTE FUNCTION leadcounts_insert()""",
    f"""CREATE TRIGGER leadcounts_delete AFTER DELETE ON {LEADS}
        FOR EACH ROW EXECUTE FUNCTION leadcounts_delete()""",
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


def triggers(vendor: str) -> list[str]:
    return POSTGRES_TRIGGERS if vendor == "postgresql" else SQLITE_TRIGGERS


def drop(vendor: str) -> list[str]:
    return POSTGRES_DROP if vendor == "postgresql" else SQLITE_DROP


def run(statements: Iterable[str], conn=None) -> None:
    with (conn or connection).cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
