"""Copy every row of a SQLite leadmgr database into a PostgreSQL one, fast (``manage.py copy_database``).

dumpdata/loaddata build a Python object per row and save them one by one; this reads each table
with sqlite3 and writes it with PostgreSQL's COPY, in one transaction:

1. the target is migrated (a ``manage.py migrate`` of its own) and must then have exactly the
   source's migrations, and no users or leads unless ``replace``;
2. the search indexes on leads are dropped (one bulk build at the end beats keeping them up to date
   row by row), every model table is emptied (migrate's own rows, e.g. content types, included: the
   source's come instead, ids and all), then each table is COPYed, parents before children;
3. each id sequence is set past its table's highest id; the transaction commits;
4. ``migrate`` runs again: nothing to apply, but its post-migrate step rebuilds the search indexes
   and the planner statistics.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from django.apps import apps
from django.conf import settings
from django.db import models

from .counts import DELTAS
from .jsonkeys import COUNTS as NAMES_COUNTS
from .jsonkeys import STATE as NAMES_STATE
from .jsonkeys import TABLE as NAMES_TABLE
from .search import TRIGRAM_INDEXES

BATCH = 20_000

# ``manage.py copy_database``'s help.
COMMAND_HELP = (
    "Copy a SQLite leadmgr database into PostgreSQL with COPY, table by table (much faster than "
    "dumpdata/loaddata). The target is migrated first and must hold no users or leads (--replace)."
)
FROM_HELP = "sqlite:///path/to/db.sqlite3"
TO_HELP = "postgres://user@host:5432/name"

E_NOT_SQLITE = "--from must be a SQLite URL (sqlite:///path/to/db.sqlite3); got {url!r}."
E_NOT_POSTGRES = "--to must be a PostgreSQL URL (postgres://user@host:5432/name); got {url!r}."
E_NO_SOURCE = "The source database {path} does not exist."
E_MIGRATIONS = (
    "The source and target databases are not at the same migrations ({detail}): "
    "run `manage.py migrate` on the source first (DATABASE_URL=<source> python manage.py migrate)."
)
E_NOT_EMPTY = "The target already has users or leads: use --replace to empty it first."


class CopyError(Exception):
    pass


@dataclass(frozen=True)
class TableCopy:
    table: str
    rows: int
    seconds: float


def sqlite_path(url: str) -> Path:
    if not url.startswith("sqlite:///"):
        raise CopyError(E_NOT_SQLITE.format(url=url))
    path = Path(url.removeprefix("sqlite:///"))
    if not path.is_file():
        raise CopyError(E_NO_SOURCE.format(path=path))
    return path


def postgres_dsn(url: str) -> str:
    if not url.startswith(("postgres://", "postgresql://")):
        raise CopyError(E_NOT_POSTGRES.format(url=url))
    return url.replace("postgresql://", "postgres://", 1)


def models_in_dependency_order() -> list[type[models.Model]]:
    """Every table Django manages, each after the tables its foreign keys point to."""
    todo = [
        m
        for m in apps.get_models(include_auto_created=True)
        if m._meta.managed and not m._meta.proxy and not m._meta.swapped
    ]
    ordered: list[type[models.Model]] = []
    seen: set[str] = set()

    def visit(model: type[models.Model], stack: frozenset[str]) -> None:
        table = model._meta.db_table
        if table in seen or table in stack:
            return
        for field in model._meta.concrete_fields:
            if field.remote_field and field.remote_field.model is not model:
                visit(field.remote_field.model, stack | {table})
        seen.add(table)
        ordered.append(model)

    for model in todo:
        visit(model, frozenset())
    return ordered


def _converters(model: type[models.Model]) -> list[Callable[[object], object] | None]:
    """SQLite keeps durations as microseconds and booleans as 0/1; the rest reads as PostgreSQL wants."""
    out: list[Callable[[object], object] | None] = []
    for field in model._meta.concrete_fields:
        kind = field.get_internal_type()
        if kind == "DurationField":
            out.append(lambda v: None if v is None else dt.timedelta(microseconds=v))
        elif kind == "BooleanField":
            out.append(lambda v: None if v is None else bool(v))
        else:
            out.append(None)
    return out


def _rows(source: sqlite3.Connection, model: type[models.Model]) -> Iterator[tuple]:
    columns = ", ".join(f'"{f.column}"' for f in model._meta.concrete_fields)
    cursor = source.execute(f'SELECT {columns} FROM "{model._meta.db_table}"')
    converters = _converters(model)
    convert = [(i, c) for i, c in enumerate(converters) if c is not None]
    while batch := cursor.fetchmany(BATCH):
        for row in batch:
            if convert:
                row = list(row)
                for i, fn in convert:
                    row[i] = fn(row[i])
            yield row


def _migrate(target_url: str) -> None:
    manage = Path(settings.BASE_DIR) / "manage.py"
    done = subprocess.run(
        [sys.executable, str(manage), "migrate", "--noinput", "--verbosity", "0"],
        env={**os.environ, "DATABASE_URL": target_url},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise CopyError(f"migrate on the target failed:\n{done.stderr[-3000:]}")


def copy_database(
    source_url: str, target_url: str, *, replace: bool = False, log: Callable[[str], None] = lambda _: None
) -> list[TableCopy]:
    path = sqlite_path(source_url)
    dsn = postgres_dsn(target_url)
    log("Migrating the target …")
    _migrate(dsn)
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        with psycopg.connect(dsn) as target:
            _check_target(source, target, replace=replace)
            ordered = models_in_dependency_order()
            _empty_target(target, ordered)
            copied = [_copy_table(source, target, model, log) for model in ordered]
            # The lead counts come as rows of their own (a SQLite source holds no pending deltas):
            # the deltas the leads' insert trigger added during the COPY would count them twice.
            target.execute(f'DELETE FROM "{DELTAS}"')
            _move_sequences(target, ordered)
    finally:
        source.close()
    log("Rebuilding the search indexes and statistics (migrate) …")
    _migrate(dsn)
    return copied


def _check_target(source: sqlite3.Connection, target: psycopg.Connection, *, replace: bool) -> None:
    """The same migrations on both sides, and a target without users or leads (unless ``replace``)."""
    ours = set(source.execute("SELECT app, name FROM django_migrations").fetchall())
    theirs = set(target.execute("SELECT app, name FROM django_migrations").fetchall())
    if ours != theirs:
        missing = sorted(f"{a}.{n}" for a, n in theirs - ours)[:5]
        extra = sorted(f"{a}.{n}" for a, n in ours - theirs)[:5]
        raise CopyError(E_MIGRATIONS.format(detail=f"source lacks {missing}, has extra {extra}"))
    occupied = target.execute(
        "SELECT EXISTS (SELECT 1 FROM auth_user) OR EXISTS (SELECT 1 FROM leads_lead)"
    ).fetchone()[0]
    if occupied and not replace:
        raise CopyError(E_NOT_EMPTY)


def _empty_target(target: psycopg.Connection, ordered: list[type[models.Model]]) -> None:
    """Drop what the second migrate rebuilds, and empty every model table."""
    # The naive datetimes SQLite holds are UTC (USE_TZ): read them as such.
    target.execute("SET TIME ZONE 'UTC'")
    for name in TRIGRAM_INDEXES:  # rebuilt by the second migrate
        target.execute(f'DROP INDEX IF EXISTS "{name}"')
    # Derived from the leads: refilled by the second migrate.
    target.execute(f"DROP TABLE IF EXISTS {NAMES_TABLE}, {NAMES_STATE}, {NAMES_COUNTS}")
    tables = ", ".join(f'"{m._meta.db_table}"' for m in ordered)
    target.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def _copy_table(
    source: sqlite3.Connection,
    target: psycopg.Connection,
    model: type[models.Model],
    log: Callable[[str], None],
) -> TableCopy:
    table = model._meta.db_table
    started = time.perf_counter()
    columns = ", ".join(f'"{f.column}"' for f in model._meta.concrete_fields)
    n = 0
    with target.cursor().copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy:
        for row in _rows(source, model):
            copy.write_row(row)
            n += 1
    copied = TableCopy(table, n, time.perf_counter() - started)
    if n:
        log(f"  {table}: {n:,} rows in {copied.seconds:.1f} s")
    return copied


def _move_sequences(target: psycopg.Connection, ordered: list[type[models.Model]]) -> None:
    """Each id sequence past its table's highest id (COPY's explicit ids bypassed it)."""
    for model in ordered:
        pk = model._meta.pk
        if isinstance(pk, models.AutoField | models.BigAutoField | models.SmallAutoField):
            table, column = model._meta.db_table, pk.column
            target.execute(
                f'SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(MAX("{column}"), 1), '
                f'MAX("{column}") IS NOT NULL) FROM "{table}"',
                [f'"{table}"', column],
            )
