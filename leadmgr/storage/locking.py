"""Row locks for work queues, and the raw values the queues' SQL reads and writes.

The runner's claims and the webhook worker's claims take rows that no other worker may take at the
same time. PostgreSQL has row locks that other lockers can skip (``FOR UPDATE SKIP LOCKED``); SQLite
has none: there the settings open every transaction IMMEDIATE, so a whole read-then-update holds
the database's single write lock and no other writer interleaves. These functions are the only
place that asks which of the two it is: a caller writes its claim once and gets the right lock.
"""

from __future__ import annotations

import uuid

from django.db import connection
from django.db.models import QuerySet


def skips_locked_rows() -> bool:
    """Whether a claim skips rows other transactions have locked (True on PostgreSQL).

    Where it does, a row missing from a claim's answer may still exist (locked by someone else);
    where it does not, the claim waited for the write lock and saw every row.
    """
    return connection.features.has_select_for_update_skip_locked


def skip_locked(queryset: QuerySet) -> QuerySet:
    """``queryset`` locking its rows (its own table's only) and skipping those another transaction
    has locked, where the database has row locks; as it is elsewhere (see the module's docstring)."""
    if skips_locked_rows():
        return queryset.select_for_update(skip_locked=True, of=("self",))
    return queryset


def skip_locked_sql(alias: str) -> str:
    """The raw-SQL form of ``skip_locked`` for a SELECT's end: locks the rows of table ``alias``."""
    return f" FOR UPDATE OF {alias} SKIP LOCKED" if skips_locked_rows() else ""


def native_uuid_columns() -> bool:
    """Whether a UUIDField's column is a native uuid (PostgreSQL: raw SQL writes the dashed form)
    or text (SQLite: the 32 hex digits alone)."""
    return connection.features.has_native_uuid_field


def uuid_text(value: object) -> str:
    """A UUIDField's column value, as a raw SQL read returns it, in its dashed text form."""
    text = str(value)
    if len(text) == 32:  # a text column keeps the 32 digits alone (SQLite)
        return str(uuid.UUID(text))
    return text
