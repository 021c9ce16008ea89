"""leadmgr.storage.bulk.checkpoint_in_background on a real SQLite file in WAL mode."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest
from django.db import connection, connections, transaction
from django.db.backends.sqlite3.base import DatabaseWrapper
from django.db.utils import ConnectionHandler

from leadmgr.storage import bulk as dbhelpers

PAGES = 1500  # more than the automatic checkpoint's 1000


def wal_progress(path: Path) -> tuple[int, int]:
    """(frames in the WAL, frames copied into the database) from the wal-index (-shm) file.

    The wal-index header is mxFrame at byte 16; after its two 48-byte copies comes the checkpoint
    information, nBackfill first (https://sqlite.org/walformat.html); native byte order.
    """
    shm = Path(f"{path}-shm").read_bytes()
    order = "<" if sys.byteorder == "little" else ">"
    (frames,) = struct.unpack_from(order + "I", shm, 16)
    (copied,) = struct.unpack_from(order + "I", shm, 96)
    return frames, copied


@pytest.fixture
def file_db(tmp_path, django_db_blocker):
    """A connection of its own to a SQLite file in WAL mode, as the settings open one."""
    path = tmp_path / "wal.sqlite3"
    complete = ConnectionHandler(  # fills in the settings Django's defaults give
        {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(path),
                "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
            }
        }
    )
    conn = DatabaseWrapper(complete.settings["default"], alias="wal")
    with django_db_blocker.unblock():
        connections["wal"] = conn  # so that transaction.atomic(using="wal") finds it
        try:
            with conn.cursor() as cursor:
                cursor.execute("CREATE TABLE filler (x BLOB)")
            yield conn, path
        finally:
            conn.close()
            del connections["wal"]


def write_pages(conn) -> None:
    with conn.cursor() as cursor:  # autocommit: one statement, one transaction
        cursor.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s) "
            "INSERT INTO filler SELECT zeroblob(3000) FROM n",
            [PAGES],
        )


def test_without_it_the_commit_copies_the_wal_itself(file_db):
    conn, path = file_db
    write_pages(conn)
    frames, copied = wal_progress(path)
    assert frames >= PAGES
    assert copied == frames  # the automatic checkpoint ran inside the commit


def test_the_commit_leaves_the_copy_to_a_background_thread(file_db):
    conn, path = file_db
    with dbhelpers.checkpoint_in_background(conn):
        write_pages(conn)
        frames, copied = wal_progress(path)
        assert frames >= PAGES
        assert copied == 0  # committed, still only in the WAL
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM filler")
            assert cursor.fetchone() == (PAGES,)
    thread = dbhelpers.wait_for_checkpoint(timeout=30)
    assert thread is not None and not thread.is_alive()
    assert wal_progress(path) == (frames, frames)  # copied after the block
    with conn.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone() == (1000,)  # the connection's own setting is back


def test_inside_a_transaction_it_changes_nothing(file_db):
    conn, path = file_db
    before = dbhelpers.wait_for_checkpoint()
    with (
        transaction.atomic(using="wal"),
        dbhelpers.checkpoint_in_background(conn),
        conn.cursor() as cursor,
    ):
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone() == (1000,)  # the outer transaction commits after the block
    assert dbhelpers.wait_for_checkpoint() is before  # no new thread


@pytest.mark.django_db
def test_on_the_test_database_it_changes_nothing():
    # SQLite in memory or PostgreSQL: no WAL file to copy, no thread.
    before = dbhelpers.wait_for_checkpoint()
    with dbhelpers.checkpoint_in_background(), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert dbhelpers.wait_for_checkpoint() is before  # no new thread
