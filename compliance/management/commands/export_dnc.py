from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from compliance.dnc_csv import export_dnc
from leads.csv.commands import campaign_named


class Command(BaseCommand):
    help = "Write a do-not-call list as CSV (the site-wide list, or one campaign's with --campaign)."

    def add_arguments(self, parser):
        parser.add_argument("-o", "--output", help="File to write (default: stdout).")
        parser.add_argument("--campaign", help="The campaign's own list (default: the site-wide list).")

    def handle(self, output=None, campaign=None, **opts):
        scope = campaign_named(campaign)
        try:
            out = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror}.") from None
        try:
            for chunk in export_dnc(scope):
                out.write(chunk)
        finally:
            if output:
                out.close()
