from __future__ import annotations

import os
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from campaigns.models import Campaign
from compliance.dnc_csv import import_dnc
from leads.csv.errors import CSVFileError

# From this size on, phone numbers are checked in worker processes (as import_leads does).
WORKERS_FROM_BYTES = 1_000_000


class Command(BaseCommand):
    help = "List the numbers of a CSV file (a phone column, an optional reason) as do-not-call."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--campaign", help="The campaign's own list (default: the site-wide list).")
        parser.add_argument("--region", help="Region for numbers without a country code, e.g. US.")
        parser.add_argument("--skip-invalid", action="store_true", help="Write the valid rows anyway.")
        parser.add_argument("--dry-run", action="store_true", help="Check everything, write nothing.")
        parser.add_argument("--reason", default="", help="Reason for rows without a reason column value.")
        parser.add_argument("--workers", type=int, default=None, help="Processes checking numbers.")

    def handle(
        self,
        path,
        campaign=None,
        region=None,
        skip_invalid=False,
        dry_run=False,
        workers=None,
        reason="",
        **opts,
    ):
        scope = None
        if campaign:
            scope = Campaign.objects.filter(name=campaign).first()
            if scope is None:
                raise CommandError(f"Campaign {campaign!r} does not exist: use the exact name of a campaign.")
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
                result = import_dnc(
                    stream,
                    campaign=scope,
                    region=region,
                    skip_invalid=skip_invalid,
                    dry_run=dry_run,
                    workers=workers,
                    reason=reason,
                )
        except CSVFileError as exc:
            raise CommandError(exc.message) from None
        for line, message in result.rejected:
            self.stderr.write(f"{path}:{line}: [phone] {message}")
        seconds = time.monotonic() - started
        self.stdout.write(f"{result.summary()} ({seconds:.1f} s)")
        if result.rejected:
            sys.exit(1)
