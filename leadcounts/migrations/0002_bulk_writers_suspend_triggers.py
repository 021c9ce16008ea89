"""PostgreSQL: the insert and delete row triggers step aside for a bulk writer's own statements
(a transaction-local setting read in their WHEN clause), which counts its rows itself. SQLite's
triggers are unchanged (a bulk writer drops and recreates them inside its own transaction)."""

from django.db import migrations

from leadmgr.storage import counts as sql

LEADS = sql.LEADS
# The triggers as 0001 created them, for the way back.
PREVIOUS = [
    f"""CREATE TRIGGER leadcounts_insert AFTER INSERT ON {LEADS}
        FOR EACH ROW EXECUTE FUNCTION leadcounts_insert()""",
    f"""CREATE TRIGGER leadcounts_delete AFTER DELETE ON {LEADS}
        FOR EACH ROW EXECUTE FUNCTION leadcounts_delete()""",
]
DROP = [f"DROP TRIGGER IF EXISTS leadcounts_{kind} ON {LEADS}" for kind in ("insert", "delete")]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        sql.run([*DROP, *sql.PG_INSERT_DELETE], schema_editor.connection)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        sql.run([*DROP, *PREVIOUS], schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("leadcounts", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
