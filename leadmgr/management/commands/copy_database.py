from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from leadmgr.dbcopy import CopyError, copy_database


class Command(BaseCommand):
    help = (
        "Copy a SQLite leadmgr database into PostgreSQL with COPY, table by table (much faster than "
        "dumpdata/loaddata). The target is migrated first and must hold no users or leads (--replace)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="source", required=True, help="sqlite:///path/to/db.sqlite3")
        parser.add_argument("--to", dest="target", required=True, help="postgres://user@host:5432/name")
        parser.add_argument("--replace", action="store_true", help="empty a target that already has data")

    def handle(self, *args, source: str, target: str, replace: bool, **options):
        started = time.perf_counter()
        try:
            copied = copy_database(source, target, replace=replace, log=self.stdout.write)
        except CopyError as exc:
            raise CommandError(str(exc)) from None
        rows = sum(t.rows for t in copied)
        self.stdout.write(
            f"Copied {rows:,} rows in {len(copied)} tables in {time.perf_counter() - started:.1f} s."
        )
