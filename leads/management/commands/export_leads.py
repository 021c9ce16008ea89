from __future__ import annotations

import datetime as dt
import shutil
import sys
import tempfile

from django.core.management.base import BaseCommand, CommandError

from campaigns.models import E_VARIABLE_NAME, VARIABLE_NAME_RE
from compliance.audit import audited, record_export
from leads import selectors
from leads.csv import exporter, xlsx
from leads.csv.commands import campaign_named
from leads.models import Status

E_NO_SUCH_CAMPAIGN = "Campaign {name!r} does not exist."
E_BAD_STATUS = "{value!r} is not a status: use one of {choices}."
E_BAD_DATE = "{option} takes a date as YYYY-MM-DD; got {value!r}."
E_BAD_VAR_KEY = "--var-key {value!r} is not a variable name. " + E_VARIABLE_NAME


def _date(option: str, value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(E_BAD_DATE.format(option=option, value=value)) from None


class Command(BaseCommand):
    # A data command, like Django's shell or dbshell: the system checks load the whole web app
    # (its URLs, views and API: a third of a second and 16 MB) for nothing it uses.
    requires_system_checks = []
    help = (
        "Stream leads as CSV (the contract's format) to stdout or a file, or write them as an Excel "
        "workbook (.xlsx), filtered like the leads table."
    )

    def add_arguments(self, parser):
        parser.add_argument("--campaign", help="Only this campaign (its name).")
        parser.add_argument(
            "--status", action="append", default=[], help="Only this status (repeat, or a,b for several)."
        )
        parser.add_argument("--created-from", help="Created on or after this day (YYYY-MM-DD).")
        parser.add_argument("--created-to", help="Created on or before this day (YYYY-MM-DD).")
        parser.add_argument("--search", help="Free text in the phone or the variables.")
        parser.add_argument("--var-key", help="Only leads that set this variable.")
        parser.add_argument("--var-value", help="…whose value contains this text.")
        parser.add_argument("--columns", help="Comma-separated columns (phone is always written).")
        parser.add_argument("--with-secondary", action="store_true", help="Add the secondary contacts.")
        parser.add_argument(
            "-o", "--output", help="Write to this file instead of stdout (a name ending in .xlsx: Excel)."
        )
        parser.add_argument(
            "--format",
            choices=("csv", "xlsx"),
            help="csv or xlsx (default: from the output file's extension, else csv).",
        )

    def handle(self, *args, **options):
        campaign = campaign_named(options["campaign"], E_NO_SUCH_CAMPAIGN)
        statuses = [s.strip() for value in options["status"] for s in value.split(",") if s.strip()]
        for status in statuses:
            if status not in Status.values:
                raise CommandError(E_BAD_STATUS.format(value=status, choices=", ".join(Status.values)))
        var_key = options["var_key"]
        if var_key and not VARIABLE_NAME_RE.fullmatch(var_key):
            raise CommandError(E_BAD_VAR_KEY.format(value=var_key))
        leads = selectors.lead_list(
            campaign=campaign,
            statuses=statuses,
            created_from=_date("--created-from", options["created_from"]),
            created_to=_date("--created-to", options["created_to"]),
            variable_key=var_key,
            variable_value=options["var_value"],
            search=options["search"],
        )
        columns = [c for c in (options["columns"] or "").split(",") if c.strip()] or None
        filters = {
            name: options[name]
            for name in ("campaign", "created_from", "created_to", "var_key", "var_value", "search")
        } | {"status": statuses}
        audit = {"user": None, "filters": filters, "columns": columns, "channel": "command"}
        output = options["output"]
        fmt = options["format"] or ("xlsx" if xlsx.is_xlsx(output) else "csv")
        if fmt == "xlsx":
            if output:
                with open(output, "wb") as out:
                    rows = exporter.export_xlsx(
                        leads, out, columns=columns, with_secondary=options["with_secondary"]
                    )
            else:
                # A zip is written in one piece at the end: build it aside, then copy it out.
                with tempfile.TemporaryFile() as out:
                    rows = exporter.export_xlsx(
                        leads, out, columns=columns, with_secondary=options["with_secondary"]
                    )
                    out.seek(0)
                    self.stdout.flush()
                    shutil.copyfileobj(out, sys.stdout.buffer)
                    sys.stdout.buffer.flush()
            record_export(rows=rows, **audit)
            return
        chunks = audited(
            exporter.export_csv(leads, columns=columns, with_secondary=options["with_secondary"]), **audit
        )
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8", newline="") as out:
                for chunk in chunks:
                    out.write(chunk)
        else:
            for chunk in chunks:
                self.stdout.write(chunk, ending="")
