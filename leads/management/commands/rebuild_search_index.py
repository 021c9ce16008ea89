from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from leads import textsearch


class Command(BaseCommand):
    help = (
        "Refill the free-text search index from the leads. Searches stay right without it; run it "
        "after deleting many leads (SQLite keeps their entries until then) or restoring a backup."
    )

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default", help="Database alias (default: default).")

    def handle(self, *args, database: str, **options):
        started = time.perf_counter()
        textsearch.ensure(database, verbosity=0)
        textsearch.rebuild(database)
        self.stdout.write(f"Search index rebuilt in {time.perf_counter() - started:.1f} s.")
