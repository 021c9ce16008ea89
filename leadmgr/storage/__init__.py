"""The only code that asks which database it is.

Each trick here is measured and earns its place; business code calls it by what it does (delete
these leads fast, after a bulk write, the keys of a JSON column, the search index), never by the
database it happens to run on:

- ``bulk``: per-row updates in one statement, the WAL checkpoint after a large write, the planner's
  statistics, what a generator does after writing rows with explicit ids;
- ``delete``: foreign-key checks off around a delete that empties the children itself;
- ``counts``: the triggers behind the lead counts, and the bulk writers' own counting;
- ``jsonkeys``: the SQL that lists a JSON column's keys (the export's variable names), and the
  spellings of a text inside stored JSON;
- ``search``: the free-text search index (FTS5 on SQLite, pg_trgm on PostgreSQL);
- ``copy``: the SQLite → PostgreSQL copy (``manage.py copy_database``);
- ``scratch``: a private temporary database for a process's own bounded-memory bookkeeping;
- ``membership``: a column's value among thousands, the list sent as one parameter.
"""

from __future__ import annotations

import re

from django.db import connection

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

# What no database here stores in a text column: NUL (PostgreSQL refuses it) and lone surrogates
# (not encodable as UTF-8, which both drivers send). JSON escapes (\u0000, \ud800) let them in.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def vendor(conn=None) -> str:
    """The database's kind, as Django names it ("sqlite", "postgresql"); the default connection
    unless ``conn`` is given."""
    return (conn or connection).vendor


def engine_name(conn=None) -> str:
    """The database's kind, for people to read (the health check: "sqlite answers")."""
    return vendor(conn)


def is_sqlite(conn=None) -> bool:
    return vendor(conn) == SQLITE


def is_postgresql(conn=None) -> bool:
    return vendor(conn) == POSTGRESQL


def nulls_sort_first(conn=None) -> bool:
    """Whether the database puts NULL before every value in ascending order (and so after them
    in descending order): SQLite does, PostgreSQL does the opposite. An ORDER BY that agrees with
    this reads a plain index in either direction; one that does not needs an index of its own."""
    return is_sqlite(conn)


def deferred_join_on_every_page(conn=None) -> bool:
    """Whether a page of a sorted list pays for a deferred join (ids first, then their rows) from
    the first page on. PostgreSQL: yes, its sort carries each sorted row's whole select list.
    SQLite: only deep pages (``leadmgr.pagination``), where the OFFSET's skipped rows cost."""
    return is_postgresql(conn)


def is_storable_text(text: str) -> bool:
    """Whether every database here can store ``text`` as it is."""
    return _UNSTORABLE.search(text) is None


def storable_text(text: str) -> str:
    """``text`` with the characters no database stores replaced by U+FFFD (the replacement mark)."""
    return _UNSTORABLE.sub("\ufffd", text)
