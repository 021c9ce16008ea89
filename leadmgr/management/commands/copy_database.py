from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from leadmgr.storage.copy import COMMAND_HELP, FROM_HELP, TO_HELP, CopyError, copy_database


class Command(BaseCommand):
    help = COMMAND_HELP

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="source", required=True, help=FROM_HELP)
        parser.add_argument("--to", dest="target", required=True, help=TO_HELP)
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
