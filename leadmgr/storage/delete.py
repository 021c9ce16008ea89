"""Deleting many rows fast: the database's cascades, or the children first with checks off.

The database's cascades (DB_CASCADE) make a delete of parents one statement; on SQLite, though,
they run a program per deleted parent and child table, a quarter of the cost of deleting 100k
leads. So on SQLite, when the connection can switch its foreign-key checks off (outside any
transaction), the caller deletes the children first, a statement each, then the parents: the same
rows, and the counts come from the deletes themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection

from . import is_sqlite
from .bulk import checkpoint_in_background


@contextmanager
def fast_delete(*, children_known: Callable[[], bool], conn=None) -> Iterator[bool]:
    """Around a large delete (which opens its transaction inside the block): the WAL checkpoint
    after it (``bulk.checkpoint_in_background``); yields whether foreign-key checks are off, in
    which case the caller empties every child table itself before deleting the parents.

    Checks go off only on SQLite, outside a transaction, and when ``children_known()`` says every
    table that points at the parents is one the caller empties."""
    conn = conn or connection
    with checkpoint_in_background(conn), foreign_keys_off(children_known=children_known, conn=conn) as off:
        yield off


@contextmanager
def foreign_keys_off(*, children_known: Callable[[], bool], conn=None) -> Iterator[bool]:
    """Yields whether foreign-key checks are off for the block (SQLite, outside a transaction)."""
    conn = conn or connection
    if not is_sqlite(conn) or conn.in_atomic_block or not children_known():
        yield False
        return
    off = conn.disable_constraint_checking()
    try:
        yield off
    finally:
        if off:
            conn.enable_constraint_checking()
