from __future__ import annotations

import dataclasses
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from leads.csv.commands import add_import_options, campaign_named
from leads.csv.errors import CSVFileError
from leads.csv.importer import ImportOptions, import_leads

BIG_FILE = 1_000_000  # bytes: from here on, phone checks in worker processes pay off
E_NO_SUCH_FILE = "{path}: no such file."
E_NO_SUCH_CAMPAIGN = "Campaign {name!r} does not exist (campaigns: {names})."
# The command's options that are the import's own, under the same names (``ImportOptions``).
PASSED_THROUGH = ("region", "dry_run", "skip_invalid", "update_existing")


class Command(BaseCommand):
    requires_system_checks = []  # as export_leads: the checks would load the web app for nothing
    help = (
        "Import leads from a CSV file (the contract's format) or an Excel workbook (.xlsx). "
        "Strict by default: one invalid row and nothing is written. "
        "Exits 1 when any row was rejected."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The CSV file (UTF-8, a header row), or an Excel workbook (.xlsx).")
        parser.add_argument(
            "--delimiter",
            help="What separates a CSV file's columns: , ; tab or | (default: detected from the header).",
        )
        parser.add_argument("--sheet", help="The sheet of an .xlsx file to read (default: the first).")
        add_import_options(parser, campaign_help="The campaign for rows without a campaign column.")
        parser.add_argument(
            "--update-existing",
            action="store_true",
            help="A phone already in the campaign: update that lead's variables (default: skip the row).",
        )

    def handle(self, *args, path, campaign, workers, delimiter=None, sheet=None, **options):
        chosen = campaign_named(campaign, E_NO_SUCH_CAMPAIGN)
        if not os.path.isfile(path):
            raise CommandError(E_NO_SUCH_FILE.format(path=path))
        if workers is None:
            workers = min(2, os.cpu_count() or 1) if os.path.getsize(path) > BIG_FILE else 0
        tty = sys.stderr.isatty() and options.get("verbosity", 1) > 0
        same = {name: options[name] for name in PASSED_THROUGH}
        import_options = ImportOptions(campaign=chosen, workers=workers, **same)
        result = _import(path, import_options, tty=tty, delimiter=delimiter, sheet=sheet)
        if tty:
            sys.stderr.write("\n")
        self._report(path, result)
        if result.rejected:
            if not options["skip_invalid"] and not options["dry_run"]:
                self.stderr.write("Nothing was written: fix the rows above, or use --skip-invalid.")
            sys.exit(1)

    def _report(self, path: str, result) -> None:
        for rejected in result.rejected:
            for error in rejected.errors:
                column = f" [{error.column}]" if error.column else ""
                self.stderr.write(f"{path}:{error.line}:{column} {error.message}")
        for skipped in result.do_not_call:
            for error in skipped.errors:
                self.stdout.write(f"{path}:{error.line}: [{error.column}] {error.message} Skipped.")
        self.stdout.write(result.summary())


def _import(path: str, options: ImportOptions, *, tty: bool, delimiter, sheet):
    """Import the file at ``path``, with a progress bar on a terminal."""
    size = os.path.getsize(path) or 1
    with open(path, "rb") as f:

        def progress(rows: int) -> None:
            share = min(f.tell() / size, 1.0)
            bar = "#" * int(share * 30)
            sys.stderr.write(f"\r[{bar:<30}] {share:4.0%}  {rows:,} rows")
            sys.stderr.flush()

        try:
            return import_leads(
                f,
                dataclasses.replace(options, progress=progress if tty else None),
                delimiter=delimiter,
                filename=path,
                sheet=sheet,
            )
        except CSVFileError as exc:
            raise CommandError(f"{path}: {exc.message}") from None
