"""Which variable names the leads (and their secondary contacts) of each campaign use: the columns
of an every-column export, known before its header without reading every lead.

The export promises that its file imports back into equal leads, so its header needs every name
any exported lead sets. Scanning the leads' JSON for them took 2.6 s at a million leads before the
first byte. Instead this keeps a small table of (campaign, lead or contact, name), derived data
like the search index (``textsearch``) and kept up to date the same way:

- ids only grow, and the table covers the leads and contacts up to a mark (``catch_up`` adds the
  names of newer ones in one statement each; the CSV import and the generator call it, inside
  their own transaction); an export reads the names of the few rows past the mark itself, so it
  never writes and never waits for an import's write lock;
- a changed lead or contact (its variables, or the lead's campaign) adds its names from a trigger
  (row by row, on updates only: inserts would pay it on every import row);
- a name nobody uses any more stays: the export then has an empty column, which imports as
  "not set". ``rebuild`` drops such names.

The answer for a set of leads is the names of the campaigns they are in: a superset of what the
set itself uses (an export filtered by status may carry a column all of whose cells are empty).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connections, transaction

LEADS = "leads_lead"
CONTACTS = "leads_secondarycontact"
TABLE = "leads_variable_names"
STATE = "leads_variable_names_state"
COUNTS = "leads_variable_names_contacts"  # per campaign: the most secondary contacts a lead has had

LEAD, CONTACT = 0, 1

_TABLES = {
    "sqlite": {
        TABLE: f"CREATE TABLE {TABLE} (campaign_id INTEGER NOT NULL, contact INTEGER NOT NULL, "
        "name TEXT NOT NULL, PRIMARY KEY (campaign_id, contact, name)) WITHOUT ROWID",
        STATE: f"CREATE TABLE {STATE} (id INTEGER PRIMARY KEY CHECK (id = 1), leads_through INTEGER NOT NULL, "
        "contacts_through INTEGER NOT NULL)",
        COUNTS: f"CREATE TABLE {COUNTS} (campaign_id INTEGER PRIMARY KEY, most INTEGER NOT NULL)",
    },
    "postgresql": {
        TABLE: f"CREATE TABLE {TABLE} (campaign_id bigint NOT NULL, contact smallint NOT NULL, "
        "name text NOT NULL, PRIMARY KEY (campaign_id, contact, name))",
        STATE: f"CREATE TABLE {STATE} (id integer PRIMARY KEY CHECK (id = 1), leads_through bigint NOT NULL, "
        "contacts_through bigint NOT NULL)",
        COUNTS: f"CREATE TABLE {COUNTS} (campaign_id bigint PRIMARY KEY, most integer NOT NULL)",
    },
}

# The names of rows, as SELECT campaign_id, contact, name (one per name), per vendor.
_LEAD_NAMES = {
    "sqlite": f"SELECT l.campaign_id, {LEAD}, j.key FROM {LEADS} l, json_each(l.variables) j",
    "postgresql": f"SELECT l.campaign_id, {LEAD}, k FROM {LEADS} l, "
    "jsonb_object_keys(CASE jsonb_typeof(l.variables) WHEN 'object' THEN l.variables ELSE '{}' END) k",
}
_CONTACT_NAMES = {
    "sqlite": f"SELECT l.campaign_id, {CONTACT}, j.key FROM {CONTACTS} c JOIN {LEADS} l ON l.id = c.lead_id, "
    "json_each(c.variables) j",
    "postgresql": f"SELECT l.campaign_id, {CONTACT}, k FROM {CONTACTS} c JOIN {LEADS} l ON l.id = c.lead_id, "
    "jsonb_object_keys(CASE jsonb_typeof(c.variables) WHEN 'object' THEN c.variables ELSE '{}' END) k",
}
_INSERT = {
    "sqlite": "INSERT OR IGNORE INTO {table} (campaign_id, contact, name) {select}",
    "postgresql": "INSERT INTO {table} (campaign_id, contact, name) {select} ON CONFLICT DO NOTHING",
}

# The most contacts of the leads among ``{leads}`` (a subquery of lead ids), per campaign.
_MOST_CONTACTS = (
    f"SELECT l.campaign_id, MAX(c.n) FROM (SELECT lead_id, count(*) AS n FROM {CONTACTS} "
    f"WHERE lead_id IN ({{leads}}) GROUP BY lead_id) c JOIN {LEADS} l ON l.id = c.lead_id WHERE true "
    "GROUP BY l.campaign_id"
)
_UPSERT_MOST = {
    "sqlite": f"INSERT INTO {COUNTS} (campaign_id, most) {{select}} "
    "ON CONFLICT (campaign_id) DO UPDATE SET most = max(most, excluded.most)",
    "postgresql": f"INSERT INTO {COUNTS} AS t (campaign_id, most) {{select}} "
    "ON CONFLICT (campaign_id) DO UPDATE SET most = GREATEST(t.most, excluded.most)",
}

_SQLITE_TRIGGERS = {
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
_POSTGRES_FUNCTIONS = {
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
_POSTGRES_TRIGGERS = {
    f"{TABLE}_lead_changed": f"CREATE TRIGGER {TABLE}_lead_changed AFTER UPDATE OF variables, campaign_id "
    f"ON {LEADS} FOR EACH ROW WHEN (OLD.variables IS DISTINCT FROM NEW.variables OR "
    f"OLD.campaign_id IS DISTINCT FROM NEW.campaign_id) EXECUTE FUNCTION {TABLE}_lead_changed()",
    f"{TABLE}_contact_changed": f"CREATE TRIGGER {TABLE}_contact_changed AFTER UPDATE OF variables, lead_id "
    f"ON {CONTACTS} FOR EACH ROW WHEN (OLD.variables IS DISTINCT FROM NEW.variables OR "
    f"OLD.lead_id IS DISTINCT FROM NEW.lead_id) EXECUTE FUNCTION {TABLE}_contact_changed()",
}


def _vendor(connection) -> str | None:
    return connection.vendor if connection.vendor in _TABLES else None


def names(campaign_ids: Iterable[int] | None, using: str = "default") -> tuple[set[str], set[str]]:
    """(lead variable names, contact variable names) used in these campaigns (None: all of them).
    Reads only: the stored names, plus those of the leads and contacts past the mark."""
    connection = connections[using]
    vendor = _vendor(connection)
    ids = None if campaign_ids is None else sorted(set(campaign_ids))
    if ids == []:
        return set(), set()
    where, params = "", []
    if ids is not None:
        where = f"WHERE campaign_id IN ({', '.join(['%s'] * len(ids))})"
        params = ids
    leads_new = f"{_LEAD_NAMES[vendor]} WHERE l.id > (SELECT leads_through FROM {STATE})"
    contacts_new = f"{_CONTACT_NAMES[vendor]} WHERE c.id > (SELECT contacts_through FROM {STATE})"
    sql = (
        f"SELECT DISTINCT contact, name FROM (SELECT campaign_id, contact, name FROM {TABLE} "
        f"UNION ALL {leads_new} UNION ALL {contacts_new}) t {where}"
    )
    lead_names, contact_names = set(), set()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for contact, name in cursor.fetchall():
            (contact_names if contact else lead_names).add(name)
    return lead_names, contact_names


def most_contacts(campaign_ids: Iterable[int] | None, using: str = "default") -> int:
    """The most secondary contacts a lead of these campaigns has (or had): the export's contact
    columns. Reads only: the stored counts, plus those of the leads with contacts past the mark."""
    connection = connections[using]
    vendor = _vendor(connection)
    ids = None if campaign_ids is None else sorted(set(campaign_ids))
    if ids == []:
        return 0
    where, params = "", []
    if ids is not None:
        where = f"WHERE campaign_id IN ({', '.join(['%s'] * len(ids))})"
        params = ids
    recent = _MOST_CONTACTS.format(
        leads=f"SELECT lead_id FROM {CONTACTS} WHERE id > (SELECT contacts_through FROM {STATE})"
    )
    del vendor  # the same SQL on both
    sql = f"SELECT MAX(most) FROM (SELECT campaign_id, most FROM {COUNTS} UNION ALL {recent}) t {where}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0] or 0


def catch_up(using: str = "default") -> None:
    """Store the names of the leads and contacts added since the last call, and move the mark."""
    connection = connections[using]
    vendor = _vendor(connection)
    if vendor is None:
        return
    with transaction.atomic(using), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT leads_through, contacts_through, (SELECT max(id) FROM {LEADS}), "
            f"(SELECT max(id) FROM {CONTACTS}) FROM {STATE}"
        )
        leads_mark, contacts_mark, newest_lead, newest_contact = cursor.fetchone()
        newest_lead, newest_contact = newest_lead or 0, newest_contact or 0
        if newest_lead > leads_mark:
            select = f"{_LEAD_NAMES[vendor]} WHERE l.id > %s"
            cursor.execute(_INSERT[vendor].format(table=TABLE, select=select), [leads_mark])
        if newest_contact > contacts_mark:
            select = f"{_CONTACT_NAMES[vendor]} WHERE c.id > %s"
            cursor.execute(_INSERT[vendor].format(table=TABLE, select=select), [contacts_mark])
            select = _MOST_CONTACTS.format(leads=f"SELECT lead_id FROM {CONTACTS} WHERE id > %s")
            cursor.execute(_UPSERT_MOST[vendor].format(select=select), [contacts_mark])
        if newest_lead > leads_mark or newest_contact > contacts_mark:
            cursor.execute(
                f"UPDATE {STATE} SET leads_through = %s, contacts_through = %s",
                [max(leads_mark, newest_lead), max(contacts_mark, newest_contact)],
            )


def rebuild(using: str = "default") -> None:
    """Refill the table from the leads and contacts (dropping names nobody uses any more)."""
    connection = connections[using]
    vendor = _vendor(connection)
    if vendor is None:
        return
    with transaction.atomic(using), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE}")
        cursor.execute(f"DELETE FROM {COUNTS}")
        cursor.execute(f"DELETE FROM {STATE}")
        cursor.execute(f"INSERT INTO {STATE} VALUES (1, 0, 0)")
    catch_up(using)


def ensure(using: str = "default", verbosity: int = 1) -> None:
    """Install the table and triggers where they are missing (filling the table), after a migrate."""
    connection = connections[using]
    vendor = _vendor(connection)
    if vendor is None:
        return
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
    if not {LEADS, CONTACTS} <= tables:
        return  # migrated backwards past the leads
    with transaction.atomic(using), connection.cursor() as cursor:
        created = False
        for name, sql in _TABLES[vendor].items():
            if name not in tables:
                cursor.execute(sql)
                created = True
        if vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s", [f"{TABLE}%"]
            )
            present = {row[0] for row in cursor.fetchall()}
            for name, sql in _SQLITE_TRIGGERS.items():
                if name not in present:  # a migration that rebuilt the table dropped it
                    cursor.execute(sql)
        else:
            for sql in _POSTGRES_FUNCTIONS.values():
                cursor.execute(sql)
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE %s", [f"{TABLE}%"])
            present = {row[0] for row in cursor.fetchall()}
            for name, sql in _POSTGRES_TRIGGERS.items():
                if name not in present:
                    cursor.execute(sql)
        cursor.execute(f"SELECT count(*) FROM {STATE}")
        fresh = created or not cursor.fetchone()[0]
        if not fresh:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {LEADS})")
            fresh = not cursor.fetchone()[0]  # after a flush: the names of the gone leads go too
    if fresh:
        if verbosity:
            print(f"  Filling the export's variable names ({TABLE}) from the leads…")
        rebuild(using)
