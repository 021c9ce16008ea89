"""Row locks for work queues, and the raw values the queues' SQL reads and writes.

The runner's claims and the webhook worker's claims take rows that no other worker may take at the
same time. PostgreSQL has row locks that other lockers can skip (``FOR UPDATE SKIP LOCKED``); SQLite
has none: there the settings open every transaction IMMEDIATE, so a whole read-then-update holds
the database's single write lock and no other writer interleaves. These functions are the only
place that asks which of the two it is: a caller writes its claim once and gets the right lock.
"""

from __future__ import annotations

import functools
import logging
import random
import time
import uuid
from collections.abc import Callable

from django.db import OperationalError, connection
from django.db.models import QuerySet

log = logging.getLogger(__name__)

DEADLOCK_DETECTED = "40P01"  # PostgreSQL's SQLSTATE for a transaction chosen as a deadlock's victim
DEADLOCK_TRIES = 4


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


def lock_now(queryset: QuerySet) -> None:
    """Take the row locks of ``queryset`` (its own table's rows, in its order) now, where the
    database has row locks; SQLite's transactions hold its one write lock already."""
    if connection.features.has_select_for_update:
        list(queryset.select_for_update(of=("self",)).values_list("pk"))


def skip_locked_sql(alias: str) -> str:
    """The raw-SQL form of ``skip_locked`` for a SELECT's end: locks the rows of table ``alias``."""
    return f" FOR UPDATE OF {alias} SKIP LOCKED" if skips_locked_rows() else ""


def is_deadlock(exc: BaseException) -> bool:
    """Whether ``exc`` is PostgreSQL rolling a transaction back to break a deadlock."""
    return isinstance(exc, OperationalError) and getattr(exc.__cause__, "sqlstate", None) == DEADLOCK_DETECTED


def retried_on_deadlock[**P, R](func: Callable[P, R]) -> Callable[P, R]:
    """``func`` (which must open its own transaction) run again when PostgreSQL chose it as a
    deadlock's victim: the database rolled the whole transaction back, so a new try starts clean.

    Lockers of many leads take them in id order, so two of them never deadlock; but the runner's
    transactions lock leads in several statements (its dials, then the attempts they end), and a
    bulk write waiting behind one of them can close a cycle. PostgreSQL breaks it after
    ``deadlock_timeout`` by failing one side; the runner's side is a unit it retries on its next
    pass, an operator's delete or status change is retried here. Inside a caller's transaction
    nothing can be retried (the caller's earlier writes are gone too): the error propagates.
    """

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, DEADLOCK_TRIES):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if connection.in_atomic_block or not is_deadlock(exc):
                    raise
                log.warning(
                    "%s: a deadlock's victim, rolled back; try %d of %d",
                    func.__qualname__,
                    attempt + 1,
                    DEADLOCK_TRIES,
                )
                time.sleep(random.uniform(0.05, 0.2) * attempt)  # the other side commits meanwhile
        return func(*args, **kwargs)

    return run


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
