from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from leadmgr.storage import search
from leads import textsearch


class Command(BaseCommand):
    help = search.REBUILD_HELP

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default", help="Database alias (default: default).")

    def handle(self, *args, database: str, **options):
        started = time.perf_counter()
        textsearch.ensure(database, verbosity=0)
        textsearch.rebuild(database)
        self.stdout.write(f"Search index rebuilt in {time.perf_counter() - started:.1f} s.")
