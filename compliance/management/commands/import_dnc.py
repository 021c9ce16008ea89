from __future__ import annotations

import os
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from compliance.dnc_csv import import_dnc
from leads.csv.commands import add_import_options, campaign_named
from leads.csv.errors import CSVFileError

# From this size on, phone numbers are checked in worker processes (as import_leads does).
WORKERS_FROM_BYTES = 1_000_000
# The command's options that are the import's own, under the same names (``import_dnc``).
PASSED_THROUGH = ("region", "skip_invalid", "dry_run", "reason")


class Command(BaseCommand):
    help = "List the numbers of a CSV file (a phone column, an optional reason) as do-not-call."

    def add_arguments(self, parser):
        parser.add_argument("path")
        add_import_options(parser, campaign_help="The campaign's own list (default: the site-wide list).")
        parser.add_argument("--reason", default="", help="Reason for rows without a reason column value.")

    def handle(self, path, campaign=None, workers=None, **options):
        scope = campaign_named(campaign)
        try:
            size = os.path.getsize(path)
            stream = open(path, "rb")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        if workers is None:
            workers = 2 if size >= WORKERS_FROM_BYTES else 0
        started = time.monotonic()
        try:
            with stream:
                same = {name: options[name] for name in PASSED_THROUGH}
                result = import_dnc(stream, campaign=scope, workers=workers, **same)
        except CSVFileError as exc:
            raise CommandError(exc.message) from None
        for line, message in result.rejected:
            self.stderr.write(f"{path}:{line}: [phone] {message}")
        seconds = time.monotonic() - started
        self.stdout.write(f"{result.summary()} ({seconds:.1f} s)")
        if result.rejected:
            sys.exit(1)
