"""The import: a file's rows checked (``rows``) and written in batches (``writer``) inside one
transaction, as ``ImportOptions`` says.

``import_leads`` reads a CSV file or an Excel workbook's sheet (``reader``); ``import_rows`` takes
rows another door already laid out (the API's create and bulk endpoints). Strict by default: one
rejected row rolls the whole import back. Every rejected row is reported with its physical line
number, the column and what to fix (``rejected_csv`` writes them back as a file to fix). Before a
batch is written, each row is decided against the database: create, update (``update_existing``)
or skip (already in its campaign), or set aside when its number may not be called.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign
from compliance import selectors as compliance
from compliance.hours import CallingHours, calling_hours
from leadmgr.storage import bulk as storage_bulk
from webhooks import outbox

from .. import lifecycle, selectors, services, textsearch, variable_names
from .. import variables as lead_variables
from ..models import Status
from ..phones import check_region, is_e164
from . import xlsx
from .columns import PHONE, REASON_COLUMN, Header, neutralise, read_header
from .errors import E_CHANGED_SINCE_PREVIEW, E_FILE_EMPTY, E_FILE_HEADER_ONLY, CSVFileError
from .reader import open_source
from .rows import LeadRow, Rejected, RowError, RowParser, missing_required_error, parse_rows
from .writer import BatchWriter

BATCH_SIZE = 1000


@dataclass(frozen=True)
class ImportOptions:
    """What an import does with the rows it reads (every door states them here).

    Strict unless ``skip_invalid``: a rejected row means nothing is written. ``update_existing``
    merges a row's variables into the lead that already has its phone in the campaign (default:
    skip that row). ``dry_run`` checks everything and writes nothing. ``expect`` (the counts of a
    preview) makes the import write only if it would do exactly what the preview showed.
    ``workers``: check phone numbers in that many processes (worth it from a few thousand rows;
    see ``rows.parse_rows``). ``on_written`` runs inside the import's transaction once the rows are
    written, so what it records (a job's "done") commits with them or not at all. ``reason`` goes
    into the history of a lead that arrives in a status other than created.
    """

    campaign: Campaign | None = None
    region: str | None = None
    dry_run: bool = False
    skip_invalid: bool = False
    update_existing: bool = False
    user: Any = None
    preview_rows: int = 0
    expect: Mapping[str, int] | None = None
    progress: Callable[[int], None] | None = None
    batch_size: int = BATCH_SIZE
    workers: int = 0
    on_written: Callable[[ImportResult], None] | None = None
    reason: str = lifecycle.REASON_IMPORTED


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    # Rows whose primary number may not be called (compliance's do-not-call list, or erased):
    # skipped with that reason, apart from the invalid rows (they never stop a strict import).
    do_not_call: list[Rejected] = field(default_factory=list)
    # Dry runs: rows whose phone is already a lead in another campaign (line, phone, campaign, lead id).
    elsewhere: list[tuple[int, str, str, int]] = field(default_factory=list)
    preview: list[LeadRow] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False  # True when the rows were committed
    source: str = ""  # how the file was read ("CSV, semicolon-separated (detected from the header)")
    # Dry run: per running campaign, the new leads due at once whose number's window is open now.
    called_at_once: dict[str, int] = field(default_factory=dict)
    error: str = ""  # set when a confirm found the data changed since its preview

    @property
    def rejected_count(self) -> int:
        return len(self.rejected)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "rejected": self.rejected_count,
            # only when some row is listed: the counts files and tests knew before the list stay
            **({"do_not_call": len(self.do_not_call)} if self.do_not_call else {}),
        }

    def summary(self) -> str:
        text = (
            f"{self.rows} rows: {self.created} created, {self.updated} updated, {self.skipped} skipped "
            f"(already in the campaign), {self.rejected_count} rejected."
        )
        if self.do_not_call:
            text += f" {len(self.do_not_call)} skipped: on the do-not-call list."
        if self.dry_run:
            return text + " Dry run: nothing was written."
        if not self.written:
            return text + " Nothing was written."
        return text


def import_leads(
    stream: BinaryIO,
    options: ImportOptions = ImportOptions(),
    *,
    filename: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
) -> ImportResult:
    """Import the file in ``stream`` (bytes). Raises CSVFileError when the file as a whole is unusable.

    ``filename`` ending in ``.xlsx``: the stream is an Excel workbook, read from its first sheet or
    ``sheet``. Otherwise CSV, separated by ``delimiter`` or by what its header line shows.
    """
    try:
        region = check_region(options.region)
    except ValidationError as exc:
        raise CSVFileError(exc.messages[0]) from None
    options = dataclasses.replace(options, region=region)
    # With phone workers (a big file), a workbook's XML is parsed by a process of its own as well.
    parallel = options.workers > 0
    source = open_source(stream, filename=filename, delimiter=delimiter, sheet=sheet, parallel=parallel)
    rows = source.rows
    first = next(rows, None)
    if first is None:
        raise CSVFileError(E_FILE_EMPTY)
    if source.format == "xlsx":
        header = read_header(first[1])
        phone_columns = [header.phone, *(c.phone for c in header.contacts)]
        rows = xlsx.restore_plus(rows, phone_columns, plus=region is None)
    return import_rows(first[1], rows, options, source=source.description)


def import_rows(
    names: Sequence[str],
    rows: Iterator[tuple[int, list[str]]],
    options: ImportOptions = ImportOptions(),
    *,
    source: str = "",
) -> ImportResult:
    """``import_leads`` after the file is read: a header's ``names`` and ``(line, cells)`` rows,
    checked and written by the same code. ``options.region`` must already be checked
    (``check_region``); ``source`` says how the file was read."""
    header = read_header(names)
    parser = RowParser(header, campaign=options.campaign, region=options.region)
    run = _Run(header, options, ImportResult(header=header.names, dry_run=options.dry_run, source=source))
    # A dry run reads only: no transaction (on SQLite one would take the write lock up front).
    with contextlib.closing(parser.seen), contextlib.nullcontext() if options.dry_run else _writing():
        run.read(parse_rows(rows, parser, workers=options.workers))
        run.finish()
    return run.result


@contextlib.contextmanager
def _writing() -> Iterator[None]:
    """The import's one transaction; on SQLite its WAL reaches the database file after it, and the
    query planner's statistics follow the leads table as it grows."""
    with storage_bulk.checkpoint_in_background():
        with transaction.atomic():
            yield
        services.refresh_statistics()


def _counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{counts[k]} {k}" for k in ("created", "updated", "skipped", "rejected") if k in counts)


class _Run:
    """One import's rows: gathered in batches, each decided and (while nothing stops it) written."""

    def __init__(self, header: Header, options: ImportOptions, result: ImportResult):
        self.header = header
        self.options = options
        self.result = result
        self.decider = _Decider(dry_run=options.dry_run, update_existing=options.update_existing)
        self.writer = BatchWriter(user=options.user, reason=options.reason)
        self.write = not options.dry_run

    def read(self, parsed: Iterator[tuple[int, list[str], LeadRow | None, list[RowError]]]) -> None:
        result, batch_size, progress = self.result, self.options.batch_size, self.options.progress
        batch: list[LeadRow] = []
        for line, cells, row, errors in parsed:
            result.rows += 1
            if errors:
                result.rejected.append(Rejected(line, cells, errors))
            elif row is not None:
                batch.append(row)
            if len(batch) >= batch_size:
                self.flush(batch)
                batch = []
                if progress:
                    progress(result.rows)
        if batch:
            self.flush(batch)
        if progress:
            progress(result.rows)

    def flush(self, batch: list[LeadRow]) -> None:
        result, options = self.result, self.options
        self.decider.decide(batch, result, self.header)
        if self.write and (options.skip_invalid or not result.rejected):
            self.writer.write(batch, self.decider.existing)
        else:
            self.write = False  # strict and something was rejected: the rest is only checked
        if options.preview_rows and len(result.preview) < options.preview_rows:
            result.preview.extend(batch[: options.preview_rows - len(result.preview)])

    def finish(self) -> None:
        """After the last row: roll back, or commit and bring what follows the leads up to date."""
        result, options = self.result, self.options
        if result.rows == 0:
            raise CSVFileError(E_FILE_HEADER_ONLY)
        result.rejected.sort(key=lambda r: r.line)
        expect = options.expect
        changed = expect is not None and {k: result.counts[k] for k in expect} != expect
        if changed:
            result.error = E_CHANGED_SINCE_PREVIEW.format(
                previewed=_counts_text(expect), now=_counts_text(result.counts)
            )
        if options.dry_run:
            return
        if changed or (result.rejected and not options.skip_invalid):
            transaction.set_rollback(True)
            return
        result.written = True
        textsearch.catch_up()  # the new leads into the search index, in one statement
        outbox.import_finished(result.counts, campaign=options.campaign, user=options.user)
        variable_names.catch_up()  # and their variable names, for the next export's header
        if options.on_written:
            options.on_written(result)


class _Decider:
    """Decides create/update/skip for a batch against the database (and sets aside the rows whose
    number may not be called); a dry run also gathers what its preview tells."""

    def __init__(self, *, dry_run: bool, update_existing: bool):
        self.update_existing = update_existing
        self.dry_run = dry_run
        self.existing: dict[tuple[int, str], tuple[int, dict]] = {}
        self.hours: dict[int, CallingHours] = {}
        self.now = timezone.now()

    def decide(self, batch: list[LeadRow], result: ImportResult, header: Header) -> None:
        listed = self._look_up(batch)
        if self.dry_run:
            result.elsewhere.extend(compliance_elsewhere(batch))
        keep: list[LeadRow] = []
        for row in batch:
            source = listed[row.campaign.pk].get(row.phone)
            if source is not None:
                error = RowError(row.line, PHONE, f"{row.phone} is {compliance.block_reason(source)}.")
                result.do_not_call.append(Rejected(row.line, _cells_of(row, header), [error]))
            elif self._decide_row(row, result, header):
                keep.append(row)
        batch[:] = keep

    def _look_up(self, batch: list[LeadRow]) -> dict[int, dict[str, str]]:
        """The leads the batch's phones already are (``existing``), and which numbers are listed."""
        by_campaign: dict[int, list[str]] = {}
        for row in batch:
            by_campaign.setdefault(row.campaign.pk, []).append(row.phone)
        self.existing = {}
        listed: dict[int, dict[str, str]] = {}
        for campaign_id, phones in by_campaign.items():
            for phone, pk, values in selectors.leads_by_phone(campaign_id, phones):
                self.existing[(campaign_id, phone)] = (pk, values or {})
            listed[campaign_id] = compliance.blocked_numbers(phones, campaign_id)
        return listed

    def _decide_row(self, row: LeadRow, result: ImportResult, header: Header) -> bool:
        """Set the row's action and count it; False when it is rejected after all."""
        found = self.existing.get((row.campaign.pk, row.phone))
        if found is None:
            if row.missing:
                result.rejected.append(_rejected_from(row, header, row.missing))
                return False
            row.action = "create"
            result.created += 1
            if self.dry_run and row.status == Status.CREATED and row.campaign.state == Campaign.State.RUNNING:
                self._count_called_at_once(row, result)
        elif self.update_existing:
            merged = found[1] | row.variables
            missing = lead_variables.missing_required(row.campaign.assistant, merged)
            if missing:
                result.rejected.append(_rejected_from(row, header, missing))
                return False
            row.variables = merged
            row.action = "update"
            result.updated += 1
        else:
            row.action = "skip"
            result.skipped += 1
        return True

    def _count_called_at_once(self, row: LeadRow, result: ImportResult) -> None:
        # The hours the runner applies: the campaign's window, the legal floor and the region's rules.
        hours = self.hours.get(row.campaign.pk)
        if hours is None:
            hours = self.hours[row.campaign.pk] = calling_hours(row.campaign)
        if hours.verdict(row.phone, self.now).open:
            name = row.campaign.name
            result.called_at_once[name] = result.called_at_once.get(name, 0) + 1


def compliance_elsewhere(batch: list[LeadRow]) -> list[tuple[int, str, str, int]]:
    """Rows whose phone is already a lead in another campaign (information for the preview)."""
    found = selectors.leads_elsewhere([r.phone for r in batch])
    return [
        (r.line, r.phone, name, pk)
        for r in batch
        for campaign_id, name, pk in found.get(r.phone, [])
        if campaign_id != r.campaign.pk
    ]


def _rejected_from(row: LeadRow, header: Header, missing: list[str]) -> Rejected:
    return Rejected(row.line, _cells_of(row, header), [missing_required_error(row, missing)])


def _cells_of(row: LeadRow, header: Header) -> list[str]:
    """The cells of a row rejected after parsing (for the rejected-rows file)."""
    cells = [""] * len(header.names)
    cells[header.phone] = row.phone
    if header.campaign is not None:
        cells[header.campaign] = row.campaign.name
    if header.status is not None:
        cells[header.status] = row.status
    if header.next_attempt_at is not None and row.next_attempt_at:
        cells[header.next_attempt_at] = row.next_attempt_at.isoformat()
    for index, name in header.variables:
        cells[index] = row.variables.get(name, "")
    for cols, contact in zip(header.contacts, row.contacts, strict=False):
        cells[cols.phone] = contact.phone
        for index, name in cols.variables:
            cells[index] = contact.variables.get(name, "")
    return cells


def rejected_csv(result: ImportResult) -> Iterator[str]:
    """The rejected rows as CSV, the file's header plus a ``reason`` column, to fix and re-import."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    width = len(result.header)
    writer.writerow([*result.header, REASON_COLUMN])
    for rejected in result.rejected:
        cells = (rejected.cells + [""] * width)[:width]
        safe = [c if is_e164(c) else neutralise(c) for c in cells]
        writer.writerow([*safe, neutralise(f"line {rejected.line}: {rejected.reason}")])
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
