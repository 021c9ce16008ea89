"""The keys of JSON columns, per database: the SQL behind the export's variable names.

``leads.variable_names`` keeps a small table of (campaign, lead or contact, name) so an export
knows its header without reading every lead. Listing a JSON object's keys is where the databases
differ (SQLite's ``json_each``, PostgreSQL's ``jsonb_object_keys``, which refuses a non-object, so
a non-object reads as ``{}``), and so are the table's types, the insert that ignores a name already
there, the upsert that keeps the greater count, and the triggers that add the names of a changed
lead or contact (SQL triggers on SQLite, plpgsql functions on PostgreSQL). All of it is here;
``leads.variable_names`` decides when each runs.

Also the spellings of a text inside stored JSON (``json_text_spellings``), for substring tests on
the JSON's text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db.backends.base.base import BaseDatabaseWrapper

from . import POSTGRESQL, SQLITE, is_sqlite, vendor

LEADS = "leads_lead"
CONTACTS = "leads_secondarycontact"
TABLE = "leads_variable_names"
STATE = "leads_variable_names_state"
COUNTS = "leads_variable_names_contacts"  # per campaign: the most secondary contacts a lead has had

LEAD, CONTACT = 0, 1


@dataclass(frozen=True)
class NamesSQL:
    """One database's SQL for the variable names table."""

    tables: dict[str, str]  # name -> CREATE TABLE
    lead_names: str  # SELECT campaign_id, contact, name (one per name) of the leads ("l")
    contact_names: str  # the same of the secondary contacts ("c", their lead "l")
    insert: str  # .format(table=, select=): insert the select's rows, ignoring those present
    upsert_most: str  # .format(select=): per campaign, keep the greater of the stored and new most


_SQL = {
    SQLITE: NamesSQL(
        tables={
            TABLE: f"CREATE TABLE {TABLE} (campaign_id INTEGER NOT NULL, contact INTEGER NOT NULL, "
            "name TEXT NOT NULL, PRIMARY KEY (campaign_id, contact, name)) WITHOUT ROWID",
            STATE: f"CREATE TABLE {STATE} (id INTEGER PRIMARY KEY CHECK (id = 1), leads_through INTEGER NOT NULL, "
            "contacts_through INTEGER NOT NULL)",
            COUNTS: f"CREATE TABLE {COUNTS} (campaign_id INTEGER PRIMARY KEY, most INTEGER NOT NULL)",
        },
        lead_names=f"SELECT l.campaign_id, {LEAD}, j.key FROM {LEADS} l, json_each(l.variables) j",
        contact_names=f"SELECT l.campaign_id, {CONTACT}, j.key FROM {CONTACTS} c "
        f"JOIN {LEADS} l ON l.id = c.lead_id, json_each(c.variables) j",
        insert="INSERT OR IGNORE INTO {table} (campaign_id, contact, name) {select}",
        upsert_most=f"INSERT INTO {COUNTS} (campaign_id, most) {{select}} "
        "ON CONFLICT (campaign_id) DO UPDATE SET most = max(most, excluded.most)",
    ),
    POSTGRESQL: NamesSQL(
        tables={
            TABLE: f"CREATE TABLE {TABLE} (campaign_id bigint NOT NULL, contact smallint NOT NULL, "
            "name text NOT NULL, PRIMARY KEY (campaign_id, contact, name))",
            STATE: f"CREATE TABLE {STATE} (id integer PRIMARY KEY CHECK (id = 1), leads_through bigint NOT NULL, "
            "contacts_through bigint NOT NULL)",
            COUNTS: f"CREATE TABLE {COUNTS} (campaign_id bigint PRIMARY KEY, most integer NOT NULL)",
        },
        lead_names=f"SELECT l.campaign_id, {LEAD}, k FROM {LEADS} l, "
        "jsonb_object_keys(CASE jsonb_typeof(l.variables) WHEN 'object' THEN l.variables ELSE '{}' END) k",
        contact_names=f"SELECT l.campaign_id, {CONTACT}, k FROM {CONTACTS} c "
        f"JOIN {LEADS} l ON l.id = c.lead_id, "
        "jsonb_object_keys(CASE jsonb_typeof(c.variables) WHEN 'object' THEN c.variables ELSE '{}' END) k",
        insert="INSERT INTO {table} (campaign_id, contact, name) {select} ON CONFLICT DO NOTHING",
        upsert_most=f"INSERT INTO {COUNTS} AS t (campaign_id, most) {{select}} "
        "ON CONFLICT (campaign_id) DO UPDATE SET most = GREATEST(t.most, excluded.most)",
    ),
}

_FILE_TRIGGERS = {
    f"{TABLE}_lead_changed": (
        f"CREATE TRIGGER {TABLE}_lead_changed AFTER UPDATE OF variables, campaign_id ON {LEADS} "
        "WHEN old.variables IS NOT new.variables OR old.campaign_id IS NOT new.campaign_id BEGIN "
        f"INSERT OR IGNORE INTO {TABLE} SELECT new.campaign_id, {LEAD}, key FROM json_each(new.variables); "
        f"INSERT OR IGNORE INTO {TABLE} SELECT new.campaign_id, {CONTACT}, j.key FROM {CONTACTS} c, "
        "json_each(c.variables) j WHERE c.lead_id = new.id AND old.campaign_id IS NOT new.campaign_id; "
        f"INSERT INTO {COUNTS} (campaign_id, most) SELECT new.campaign_id, count(*) FROM {CONTACTS} "
        "WHERE lead_id = new.id AND old.campaign_id IS NOT new.campaign_id HAVING count(*) > 0 "
        "ON CONFLICT (campaign_id) DO UPDATE SET most = max(most, excluded.most); END"
    ),
    f"{TABLE}_contact_changed": (
        f"CREATE TRIGGER {TABLE}_contact_changed AFTER UPDATE OF variables, lead_id ON {CONTACTS} "
        "WHEN old.variables IS NOT new.variables OR old.lead_id IS NOT new.lead_id BEGIN "
        f"INSERT OR IGNORE INTO {TABLE} SELECT l.campaign_id, {CONTACT}, j.key FROM {LEADS} l, "
        "json_each(new.variables) j WHERE l.id = new.lead_id; END"
    ),
}
_SERVER_FUNCTIONS = {
    f"{TABLE}_lead_changed": f"""
CREATE OR REPLACE FUNCTION {TABLE}_lead_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF jsonb_typeof(NEW.variables) = 'object' THEN
    INSERT INTO {TABLE} (campaign_id, contact, name)
      SELECT NEW.campaign_id, {LEAD}, k FROM jsonb_object_keys(NEW.variables) k ON CONFLICT DO NOTHING;
  END IF;
  IF OLD.campaign_id IS DISTINCT FROM NEW.campaign_id THEN
    INSERT INTO {TABLE} (campaign_id, contact, name)
      SELECT NEW.campaign_id, {CONTACT}, k FROM {CONTACTS} c, jsonb_object_keys(
        CASE jsonb_typeof(c.variables) WHEN 'object' THEN c.variables ELSE '{{}}' END) k
      WHERE c.lead_id = NEW.id ON CONFLICT DO NOTHING;
    INSERT INTO {COUNTS} AS t (campaign_id, most)
      SELECT NEW.campaign_id, count(*) FROM {CONTACTS} WHERE lead_id = NEW.id HAVING count(*) > 0
      ON CONFLICT (campaign_id) DO UPDATE SET most = GREATEST(t.most, excluded.most);
  END IF;
  RETURN NULL;
END $$""",
    f"{TABLE}_contact_changed": f"""
CREATE OR REPLACE FUNCTION {TABLE}_contact_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF jsonb_typeof(NEW.variables) = 'object' THEN
    INSERT INTO {TABLE} (campaign_id, contact, name)
      SELECT l.campaign_id, {CONTACT}, k FROM {LEADS} l, jsonb_object_keys(NEW.variables) k
      WHERE l.id = NEW.lead_id ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END $$""",
}
_SERVER_TRIGGERS = {
    f"{TABLE}_lead_changed": f"CREATE TRIGGER {TABLE}_lead_changed AFTER UPDATE OF variables, campaign_id "
    f"ON {LEADS} FOR EACH ROW WHEN (OLD.variables IS DISTINCT FROM NEW.variables OR "
    f"OLD.campaign_id IS DISTINCT FROM NEW.campaign_id) EXECUTE FUNCTION {TABLE}_lead_changed()",
    f"{TABLE}_contact_changed": f"CREATE TRIGGER {TABLE}_contact_changed AFTER UPDATE OF variables, lead_id "
    f"ON {CONTACTS} FOR EACH ROW WHEN (OLD.variables IS DISTINCT FROM NEW.variables OR "
    f"OLD.lead_id IS DISTINCT FROM NEW.lead_id) EXECUTE FUNCTION {TABLE}_contact_changed()",
}


def names_sql(conn: BaseDatabaseWrapper) -> NamesSQL | None:
    """The variable names table's SQL for this database (None: one the table is not kept on)."""
    return _SQL.get(vendor(conn))


def install_triggers(conn: BaseDatabaseWrapper, cursor) -> None:
    """Create the triggers that add a changed lead's or contact's names, where they are missing
    (a migration that rebuilt a table dropped them); PostgreSQL's functions are replaced."""
    if is_sqlite(conn):
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s", [f"{TABLE}%"]
        )
        present = {row[0] for row in cursor.fetchall()}
        for name, sql in _FILE_TRIGGERS.items():
            if name not in present:  # a migration that rebuilt the table dropped it
                cursor.execute(sql)
        return
    for sql in _SERVER_FUNCTIONS.values():
        cursor.execute(sql)
    cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE %s", [f"{TABLE}%"])
    present = {row[0] for row in cursor.fetchall()}
    for name, sql in _SERVER_TRIGGERS.items():
        if name not in present:
            cursor.execute(sql)


def json_text_spellings(text: str) -> list[str]:
    """The ways ``text`` can appear in a JSON column's text: as it is, and as Django's JSON encoder
    escaped it where that differs. SQLite keeps the JSON as Django wrote it, with non-ASCII
    characters and quotes escaped (``Chlo\\u00e9``); PostgreSQL's jsonb escapes quotes too."""
    escaped = json.dumps(text)[1:-1]
    return [text] if escaped == text else [text, escaped]
