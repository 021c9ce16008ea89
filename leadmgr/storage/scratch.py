"""A private temporary database: a process's own bookkeeping that must not grow its memory.

SQLite with an empty file name opens a temporary database of the connection's own, deleted when it
closes; its pages stay in a bounded cache and spill to a temporary file beyond it. Nothing here is
durable or shared, so the journal and syncing are off.
"""

from __future__ import annotations

import sqlite3

# The connection's type, for annotations (a DB-API connection: execute, executemany, close).
ScratchConnection = sqlite3.Connection


def open_scratch(*, cache_kb: int) -> ScratchConnection:
    """A new private temporary database in autocommit mode (BEGIN/COMMIT are the caller's), usable
    from any thread, with a page cache of ``cache_kb`` KiB."""
    # "": SQLite's private temporary database, deleted when the connection closes.
    db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
    db.execute(f"PRAGMA cache_size = -{int(cache_kb)}")
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    return db
