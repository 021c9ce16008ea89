"""Writes of many rows, and what a database needs after them.

- ``insert_rows``: many rows into a table in one COPY on PostgreSQL (executemany on SQLite);
- ``update_rows``: per-row values set in one statement per chunk (``bulk_update`` builds a CASE WHEN
  per row);
- ``checkpoint_in_background``: SQLite's WAL copied into the database file after the commit, not
  inside it;
- ``refresh_statistics``: SQLite's planner statistics measured again when missing or stale;
- ``after_generated_rows``: the id sequences and statistics after rows written with explicit ids.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext

from django.db import connection
from django.db.backends.utils import CursorDebugWrapper

from . import is_postgresql, is_sqlite

logger = logging.getLogger(__name__)

UPDATE_CHUNK = 500


def insert_rows(model, columns: Sequence[str], rows: Iterable[tuple], conn=None) -> None:
    """Insert ``rows`` (tuples of the values of ``columns``, database column names, each value as
    the database takes it) into ``model``'s table.

    PostgreSQL: one ``COPY … FROM STDIN``, psycopg writing the rows in C and the backend parsing
    no statement per row. ``executemany`` sent every row as a single-row INSERT of its own (a
    Bind and an Execute each): half of a 100k-row import's time in a profile (6.3 of 12.7 s for
    20k rows). SQLite (in-process, a prepared statement stepped per row): ``executemany``.
    Database errors come out as Django's (``IntegrityError`` …) either way, and the COPY is logged
    as a query as any other statement is (``CaptureQueriesContext`` counts it).
    """
    conn = conn or connection
    qn = conn.ops.quote_name
    table = qn(model._meta.db_table)
    names = ", ".join(qn(column) for column in columns)
    with conn.cursor() as cursor:
        if not is_postgresql(conn):
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(rows))
            return
        sql = f"COPY {table} ({names}) FROM STDIN"
        logged = cursor.debug_sql(sql) if isinstance(cursor, CursorDebugWrapper) else nullcontext()
        with logged, conn.wrap_database_errors, cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)


def update_rows(model, fields: Sequence[str], rows: Sequence[tuple]) -> int:
    """Set per-row values: ``rows`` are (pk, value for each of ``fields``) tuples.

    One ``WITH v AS (VALUES …) UPDATE … FROM v`` statement per chunk (PostgreSQL, SQLite ≥ 3.33),
    where ``bulk_update``'s CASE WHEN per row costs about 1 ms a row to build in Python.
    """
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    pk_column = qn(model._meta.pk.column)
    columns = [model._meta.get_field(name) for name in fields]
    names = ", ".join(["pk", *(f"c{i}" for i in range(len(columns)))])
    sets = ", ".join(f"{qn(col.column)} = v.c{i}" for i, col in enumerate(columns))
    placeholder = "(" + ", ".join(["%s"] * (1 + len(columns))) + ")"
    changed = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), UPDATE_CHUNK):
            chunk = rows[start : start + UPDATE_CHUNK]
            params: list = []
            for pk, *values in chunk:
                params.append(pk)
                params.extend(
                    col.get_db_prep_save(value, connection)
                    for col, value in zip(columns, values, strict=True)
                )
            cursor.execute(
                f"WITH v({names}) AS (VALUES {', '.join([placeholder] * len(chunk))}) "
                f"UPDATE {table} SET {sets} FROM v WHERE {table}.{pk_column} = v.pk",
                params,
            )
            changed += cursor.rowcount
    return changed


@contextmanager
def checkpoint_in_background(conn=None) -> Iterator[None]:
    """A large write on SQLite commits without copying its WAL into the database file on the way.

    In WAL mode each commit that leaves the log over a thousand pages copies it back into the
    database file and syncs it (the automatic checkpoint), inside the commit: for a bulk delete of
    100k leads, 130 MB and half its time. Around the block the connection's automatic checkpoint
    is off; after it, a thread checkpoints on its own connection (PASSIVE: it blocks no reader or
    writer) while the response goes out, as PostgreSQL's checkpointer writes data pages after the
    commit. Nothing else changes: the committed pages live in the WAL until the copy is done (a
    reader sees them there), and whatever a crash interrupts the next checkpoint, this one or any
    connection's automatic one, completes. (With synchronous=NORMAL a commit was never synced to
    disk by itself: a checkpoint syncs it, here a moment later.)

    Anywhere else (PostgreSQL, an in-memory database, inside an outer transaction, which commits
    later) the block runs as it is. ``conn`` is the default connection unless given.
    """
    conn = conn or connection
    if not is_sqlite(conn) or conn.in_atomic_block or conn.is_in_memory_db():
        yield
        return
    with conn.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        (pages,) = cursor.fetchone()
        cursor.execute("PRAGMA wal_autocheckpoint = 0")
    try:
        yield
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")
        global _last_checkpoint
        path = conn.settings_dict["NAME"]
        _last_checkpoint = threading.Thread(target=_checkpoint, args=(str(path),), name="sqlite-checkpoint")
        _last_checkpoint.start()


_last_checkpoint: threading.Thread | None = None


def wait_for_checkpoint(timeout: float | None = None) -> threading.Thread | None:
    """Wait for the latest background checkpoint (tests, benchmarks); returns its thread, if any."""
    thread = _last_checkpoint
    if thread is not None:
        thread.join(timeout)
    return thread


def _checkpoint(path: str) -> None:
    db = sqlite3.connect(path, timeout=20)
    try:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error as exc:  # the next automatic checkpoint copies what this one could not
        logger.warning("background checkpoint of %s: %s", path, exc)
    finally:
        db.close()


def refresh_statistics(*models, conn=None) -> list[str]:
    """Measure again (ANALYZE) each model's table whose SQLite statistics are missing or stale.

    SQLite's planner chooses indexes by the statistics ANALYZE stores (``sqlite_stat1``). A leads
    table filled by imports has none, and without them pages of the leads table read the wrong
    index (at 1M leads: campaign + status by next attempt 20 → 432 ms, sort by campaign 16 →
    1,334 ms). Stale means an index has none (a new one) or the row count stored with them is
    under half or over twice today's, so a growing table is measured again each time it doubles
    (ANALYZE of 1M leads: 0.5 s); otherwise this costs a count (15 ms at 1M). ``PRAGMA optimize`` would not do: SQLite 3.40 only looks at
    tables this connection has planned a query on with their statistics, which a small import
    never does. PostgreSQL's autovacuum analyses by itself. Returns the tables analysed; a table
    that does not exist (migrated backwards past it) is skipped.
    """
    conn = conn or connection
    if not is_sqlite(conn):
        return []
    qn = conn.ops.quote_name
    wanted = [model._meta.db_table for model in models]
    with conn.cursor() as cursor:
        # Tables a backwards migration has dropped are skipped; sqlite_stat1 exists once ANALYZE ran.
        names = ["sqlite_stat1", *wanted]
        cursor.execute(
            f"SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({', '.join(['%s'] * len(names))})",
            names,
        )
        present = {name for (name,) in cursor.fetchall()}
        tables = [table for table in wanted if table in present]
        if not tables:
            return []
        if "sqlite_stat1" in present:
            # Per table: its rows; the rows its statistics were taken at; its indexes; those measured.
            cursor.execute(
                " UNION ALL ".join(
                    f"SELECT count(*), "
                    f"(SELECT stat FROM sqlite_stat1 WHERE tbl = %s AND idx IS NOT NULL LIMIT 1), "
                    f"(SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = %s), "
                    f"(SELECT count(DISTINCT idx) FROM sqlite_stat1 WHERE tbl = %s) FROM {qn(table)}"
                    for table in tables
                ),
                [name for table in tables for name in (table, table, table)],
            )
            stale = [
                table
                for table, (rows, stat, indexes, measured) in zip(tables, cursor.fetchall(), strict=True)
                if measured < indexes or not _statistics_fit(stat, rows)
            ]
        else:
            stale = tables
        for table in stale:
            cursor.execute(f"ANALYZE {qn(table)}")
    return stale


def _statistics_fit(stat: str | None, rows: int) -> bool:
    """A sqlite_stat1 entry ("rows, then rows per key of each column") still describes the table."""
    if not stat:
        return False
    then = int(stat.split()[0])
    return then / 2 <= rows <= then * 2


def after_generated_rows(*, explicit_ids: Sequence[str], analyze: Sequence[str], conn=None) -> None:
    """After rows written with explicit ids by plain INSERTs (the demo generator): PostgreSQL's id
    sequences of ``explicit_ids`` moved past them (explicit ids bypass a sequence) and the tables in
    ``analyze`` measured; SQLite's AUTOINCREMENT follows by itself, and the whole database is
    measured (ANALYZE)."""
    conn = conn or connection
    with conn.cursor() as cursor:
        if not is_postgresql(conn):
            cursor.execute("ANALYZE")
            return
        for table in explicit_ids:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
            )
        for table in analyze:
            cursor.execute(f"ANALYZE {table}")
