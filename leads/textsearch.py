"""The index behind free-text search: the search bar, the variable filters, the admin's search.

What matches is decided by ``selectors``: a case-insensitive substring of the phone or of the
variables (names and values). Tested row by row, that is a scan, 600 ms at a million leads, so an
index first narrows the rows to those that can match, and the substring test runs on those only:

- **SQLite**: an FTS5 table, ``leads_lead_search``, with the trigram tokenizer over each lead's
  phone and its variables' names and values (``SEARCH_TEXT``), kept by triggers on insert and on
  a change of phone or variables. It stores no text and no positions (``content=''``,
  ``detail=none``), so a text is looked up as the AND of a few of its trigrams: every lead that
  contains the text contains those. Deleting leads does not touch it: a delete trigger costs
  about 80 µs a lead (8 s for a bulk delete of 100k), while a deleted lead's entries can only
  name an id that is gone (ids are AUTOINCREMENT: never reused). ``rebuild`` drops them.
- **PostgreSQL**: pg_trgm GIN indexes on the very expressions the substring test compares
  (``UPPER(variables::text)``, ``phone``), which the planner uses for the test itself.

The index is derived data, so it is installed by ``ensure`` after every ``migrate`` (and
``flush``), not by a migration: a later migration that rebuilds the leads table on SQLite drops
the table's triggers, and ``ensure`` puts them back and refills the index.
"""

from __future__ import annotations

from django.db import connections
from django.db.models import Q
from django.db.models.expressions import RawSQL

TABLE = "leads_lead_search"
LEADS = "leads_lead"
# How many of a text's trigrams a lookup ANDs: beyond five, each one costs more than it narrows.
MAX_TRIGRAMS = 5

# One lead's searchable text: its phone, then each variable's name and value. JSON true, false and
# null are spelled as in the JSON the substring test reads (json_each gives 1, 0 and NULL).
SEARCH_TEXT = (
    "{row}.phone || ' ' || (SELECT coalesce(group_concat(key || ' ' || CASE WHEN type IN "
    "('true', 'false', 'null') THEN type ELSE value END, ' '), '') FROM json_each({row}.variables))"
)

_SQLITE_TABLE = (
    f"CREATE VIRTUAL TABLE {TABLE} USING fts5(text, content='', columnsize=0, detail=none, "
    "tokenize='trigram case_sensitive 0')"
)
_SQLITE_TRIGGERS = {
    f"{TABLE}_insert": (
        f"CREATE TRIGGER {TABLE}_insert AFTER INSERT ON {LEADS} BEGIN "
        f"INSERT INTO {TABLE}(rowid, text) VALUES (new.id, {SEARCH_TEXT.format(row='new')}); END"
    ),
    f"{TABLE}_update": (
        f"CREATE TRIGGER {TABLE}_update AFTER UPDATE OF phone, variables ON {LEADS} "
        "WHEN old.phone IS NOT new.phone OR old.variables IS NOT new.variables BEGIN "
        f"INSERT INTO {TABLE}({TABLE}, rowid, text) VALUES ('delete', old.id, {SEARCH_TEXT.format(row='old')}); "
        f"INSERT INTO {TABLE}(rowid, text) VALUES (new.id, {SEARCH_TEXT.format(row='new')}); END"
    ),
}
_POSTGRES_INDEXES = {
    # Django's icontains: UPPER("leads_lead"."variables"::text) LIKE UPPER(%s)
    "lead_search_variables": f"CREATE INDEX lead_search_variables ON {LEADS} USING gin "
    "((UPPER(variables::text)) gin_trgm_ops)",
    # Django's contains: "leads_lead"."phone"::text LIKE %s
    "lead_search_phone": f"CREATE INDEX lead_search_phone ON {LEADS} USING gin ((phone::text) gin_trgm_ops)",
}


def candidates_q(*texts: str, using: str = "default") -> Q:
    """Leads that may contain any of ``texts`` (a superset), or no narrowing where the index can't.

    The index can't look up a text shorter than three characters, and PostgreSQL needs no help.
    """
    if connections[using].vendor != "sqlite" or not texts or any(len(t) < 3 for t in texts):
        return Q()
    match = " OR ".join(f"({_trigram_query(text)})" for text in texts)
    return Q(pk__in=RawSQL(f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH %s", [match]))


def _trigram_query(text: str) -> str:
    """An FTS5 query for "contains all of up to MAX_TRIGRAMS of ``text``'s trigrams", spread out."""
    grams = list(dict.fromkeys(text[i : i + 3] for i in range(len(text) - 2)))
    if len(grams) > MAX_TRIGRAMS:
        step = (len(grams) - 1) / (MAX_TRIGRAMS - 1)
        grams = [grams[round(k * step)] for k in range(MAX_TRIGRAMS)]
    return " AND ".join('"{}"'.format(g.replace('"', '""')) for g in grams)


def ensure(using: str = "default", verbosity: int = 1) -> None:
    """Install the index where it is missing (filling it from the leads), and empty a stale one."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if LEADS not in connection.introspection.table_names(cursor):
            return  # migrated backwards past the leads table
        if connection.vendor == "sqlite":
            _ensure_sqlite(cursor, verbosity)
        elif connection.vendor == "postgresql":
            _ensure_postgres(cursor, verbosity)


def rebuild(using: str = "default") -> None:
    """Refill the index from the leads (dropping deleted leads' entries)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('delete-all')")
            _fill_sqlite(cursor)
            cursor.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('optimize')")
        elif connection.vendor == "postgresql":
            for name in _POSTGRES_INDEXES:
                cursor.execute(f"REINDEX INDEX {name}")


def _ensure_sqlite(cursor, verbosity: int) -> None:
    cursor.execute("SELECT type, name FROM sqlite_master WHERE name = %s OR tbl_name = %s", [TABLE, LEADS])
    present = {name for kind, name in cursor.fetchall()}
    missing = [name for name in _SQLITE_TRIGGERS if name not in present]
    if TABLE not in present:
        cursor.execute(_SQLITE_TABLE)
    for name in missing:
        cursor.execute(_SQLITE_TRIGGERS[name])
    if TABLE not in present or missing:
        if verbosity:
            print(f"  Filling the search index ({TABLE}) from the leads…")
        cursor.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('delete-all')")
        _fill_sqlite(cursor)
    else:
        # After a flush the leads are gone but their entries are not: start clean.
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {LEADS})")
        if not cursor.fetchone()[0]:
            cursor.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('delete-all')")


def _fill_sqlite(cursor) -> None:
    cursor.execute(
        f"INSERT INTO {TABLE}(rowid, text) SELECT id, {SEARCH_TEXT.format(row=LEADS)} FROM {LEADS}"
    )


def _ensure_postgres(cursor, verbosity: int) -> None:
    cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [LEADS])
    present = {row[0] for row in cursor.fetchall()}
    for name, sql in _POSTGRES_INDEXES.items():
        if name not in present:
            if verbosity:
                print(f"  Building the search index {name}…")
            cursor.execute(sql)
