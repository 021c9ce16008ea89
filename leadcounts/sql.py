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

# PostgreSQL: statement triggers with transition tables append one delta per (campaign, status)
# a statement changed; an UPDATE adds deltas only for rows whose status or campaign changed.
POSTGRES_TRIGGERS = [
    f"""CREATE FUNCTION leadcounts_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        INSERT INTO {DELTAS} (campaign_id, status, n)
        SELECT campaign_id, status, count(*) FROM new_rows GROUP BY campaign_id, status;
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION leadcounts_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        INSERT INTO {DELTAS} (campaign_id, status, n)
        SELECT campaign_id, status, -count(*) FROM old_rows GROUP BY campaign_id, status;
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION leadcounts_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        INSERT INTO {DELTAS} (campaign_id, status, n)
        SELECT campaign_id, status, sum(n) FROM (
            SELECT o.campaign_id, o.status, -1 AS n FROM old_rows o JOIN new_rows w ON w.id = o.id
             WHERE o.status <> w.status OR o.campaign_id <> w.campaign_id
            UNION ALL
            SELECT w.campaign_id, w.status, 1 FROM old_rows o JOIN new_rows w ON w.id = o.id
             WHERE o.status <> w.status OR o.campaign_id <> w.campaign_id
        ) changed GROUP BY campaign_id, status HAVING sum(n) <> 0;
        RETURN NULL;
    END $$""",
    f"""CREATE TRIGGER leadcounts_insert AFTER INSERT ON {LEADS} REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION leadcounts_insert()""",
    f"""CREATE TRIGGER leadcounts_delete AFTER DELETE ON {LEADS} REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION leadcounts_delete()""",
    f"""CREATE TRIGGER leadcounts_update AFTER UPDATE ON {LEADS}
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION leadcounts_update()""",
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
