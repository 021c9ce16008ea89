"""The one CSV format of leads (the contract's "CSV" section): read and validate rows, write rows.

Import: ``import_leads`` reads a UTF-8 file (BOM or not, any newline; separated by , ; tab or |,
detected from the header line unless chosen) or an Excel workbook's sheet (``leads.xlsxio``, told by
the ``.xlsx`` extension), maps the header once
(``read_header``), checks every row through ``leads.phones`` (via ``services.validate_phones``),
``leads.variables`` and ``leads.lifecycle``, and writes valid rows in batches of plain multi-row
INSERTs inside one transaction. Strict by default: one rejected row rolls the whole import back.
Every rejected row is reported with its physical line number (the header is line 1; a quoted
newline counts; a sheet's row number), the column and what to fix. A phone twice in the file is
found in bounded memory (``leads.file_duplicates``).

Export: ``export_csv`` streams the rows of a filtered queryset (``leads.selectors.filter_leads``)
as CSV text in chunks, reading the database in bounded batches; free-text cells that a spreadsheet
would run as a formula get a leading ``'`` (which import strips again), phone cells are E.164. The
variable columns come from ``leads.variable_names`` (no scan of the leads before the header);
``export_xlsx`` writes the same cells as a workbook.

The admin's import-export resource, the upload views and both commands all come through here.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import io
import itertools
import json
import multiprocessing
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from typing import BinaryIO

from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from campaigns.models import VARIABLE_NAME_RE, Campaign
from campaigns.windows import Window
from compliance import selectors as compliance
from leadcounts import services as lead_counts
from leadmgr import db
from webhooks import outbox

from . import lifecycle, selectors, services, textsearch, variable_names, xlsxio
from . import variables as lead_variables
from .file_duplicates import FileDuplicates
from .models import Lead, SecondaryContact, Status, StatusChange
from .phones import check_region, is_e164

# --- The columns --------------------------------------------------------------------------------

PHONE = "phone"
CAMPAIGN = "campaign"
STATUS = "status"
NEXT_ATTEMPT_AT = "next_attempt_at"
# Written by export, ignored by import (all but next_attempt_at).
EXPORT_ONLY = ("id", "attempts", "created_at", "updated_at")
# The export's fixed columns, in the order written.
CORE_COLUMNS = ("id", PHONE, CAMPAIGN, STATUS, NEXT_ATTEMPT_AT, "attempts", "created_at", "updated_at")
# Header names that mean the primary phone (compared folded: case, spaces, dashes, underscores off).
PHONE_ALIASES = ("phone", "phone_number", "number", "contact_number", "to_number")
REASON_COLUMN = "reason"

# A spreadsheet runs a cell beginning with one of these as a formula; a leading ' is its own
# "this is text" mark, so a value that already begins with ' is prefixed too (import strips one).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")

IMPORTABLE_STATUSES = tuple(s for s in Status if s != Status.PROCESSING)
NEXT_AT_STATUSES = (Status.SCHEDULED, Status.RESCHEDULED)

# What a CSV file may be separated by (Excel writes ; in locales whose decimal mark is a comma).
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
DELIMITER_ALIASES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}

# --- Messages (tests assert these) --------------------------------------------------------------

E_FILE_EMPTY = "The file is empty: it needs a header row (phone, campaign, status, …) and one row per lead."
E_FILE_HEADER_ONLY = "The file has a header row but no leads: add one row per lead under the header."
E_FILE_BINARY = (
    "This is not a CSV file (it contains binary data): save it from your spreadsheet as "
    "“CSV UTF-8 (comma delimited)” and upload that."
)
E_FILE_UTF16 = "The file is UTF-16 text: save it as “CSV UTF-8 (comma delimited)” and upload that."
E_FILE_NOT_UTF8 = (
    "Line {line} is not UTF-8 text: save the file as “CSV UTF-8 (comma delimited)” and upload it again."
)
E_FILE_NUL = (
    "Line {line} contains a NUL byte (binary data, not text): remove it, or save the file again as "
    "“CSV UTF-8 (comma delimited)”, and upload it again."
)
E_FILE_CSV = "Line {line} cannot be read as CSV ({error}): check its quotes."
E_NO_PHONE_COLUMN = (
    "The header has no phone column: name the column with the numbers phone "
    "(phone_number, number, contact_number and to_number work too)."
)
E_NO_CAMPAIGN = (
    "The file has no campaign column: add one with each lead's campaign name, or choose the campaign "
    "for the whole file."
)
E_DUPLICATE_COLUMN = "Columns {first} and {second} both mean {name!r}: keep one of them."
E_EMPTY_COLUMN_NAME = "Column {n} has no name in the header but has a value: name the column or delete it."
E_BAD_COLUMN = (
    "Column {name!r} is not a variable name: rename it with letters, digits and underscores "
    "(for example {suggestion})."
)
E_TOO_MANY_VARIABLE_COLUMNS = (
    "The file has {count} variable columns{whose}, but a lead carries at most {limit} variables "
    "(the LEADMGR_MAX_VARIABLES_PER_LEAD setting): remove the columns you do not need."
)
E_BAD_SECONDARY_COLUMN = (
    "Column {name!r} is not a secondary-contact column: use secondary_N_phone and "
    "secondary_N_<variable> (N = 1, 2, …)."
)
E_SECONDARY_WITHOUT_PHONE_COLUMN = (
    "Column {name!r} is for secondary contact {n}, but the header has no secondary_{n}_phone column."
)
E_CAMPAIGN_UNKNOWN = "Campaign {name!r} does not exist: use the exact name of an existing campaign."
E_CAMPAIGN_EMPTY = "No campaign: enter the campaign's name, or choose a campaign for the whole file."
E_CAMPAIGN_OTHER = (
    "This row is for campaign {name!r} but the import is into {chosen!r}: clear the cell or import it "
    "separately."
)
E_STATUS_UNKNOWN = "{value!r} is not a status: use one of {choices} (or leave it empty for created)."
E_STATUS_PROCESSING = (
    "Processing cannot be imported (a lead cannot arrive mid-call): use created, scheduled or rescheduled."
)
E_NEXT_AT_INVALID = (
    "{value!r} is not an ISO 8601 date and time: write it like 2026-05-01T14:30:00+00:00 (or leave it empty)."
)
E_NEXT_AT_STATUS = (
    "next_attempt_at goes only with status scheduled or rescheduled: clear it or change the status."
)
E_DUPLICATE_IN_FILE = "{phone} is already on line {line} for campaign {campaign!r}: keep one row per lead."
E_CONTACT_VARS_WITHOUT_PHONE = (
    "Secondary contact {n} has variables but no phone: fill in secondary_{n}_phone or clear its cells."
)
E_TOO_MANY_CELLS = (
    "This row has {cells} cells but the header has {columns}: a value with a comma needs double quotes."
)
E_UNNAMED_CELL = "Column {n} has no name in the header: name the column or clear this cell."
E_CHANGED_SINCE_PREVIEW = (
    "The leads changed since the preview ({previewed} previewed, {now} now): nothing was written; "
    "check the new preview and confirm again."
)

E_BAD_DELIMITER = "{value!r} is not a delimiter leadmgr reads: use , ; tab or |."

REASON_IMPORTED = "Imported from CSV"

# One encoder for every row: json.dumps with options builds a new encoder per call.
_to_json = json.JSONEncoder(ensure_ascii=False).encode

BATCH_SIZE = 1000


class CSVFileError(Exception):
    """The file as a whole cannot be imported (not CSV, empty, a bad header, an unknown campaign)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _fold(name: str) -> str:
    """Header names compared the forgiving way: case, spaces, dashes and underscores ignored."""
    return name.strip().lower().replace(" ", "").replace("-", "").replace("_", "")


_PHONE_FOLDED = frozenset(_fold(n) for n in PHONE_ALIASES)
_IGNORED_FOLDED = {_fold(n): n for n in EXPORT_ONLY}
_SECONDARY_PHONE_RE = re.compile(r"^secondary(\d+)phone$|^secondaryphone(\d+)$")
_SECONDARY_VAR_RE = re.compile(r"^secondary_(\d+)_([A-Za-z_][A-Za-z0-9_]*)$", re.IGNORECASE)
_STATUS_BY_NAME = {_fold(s.value): s.value for s in Status} | {_fold(s.label): s.value for s in Status}


def neutralise(value: str) -> str:
    """A free-text cell a spreadsheet will show as text, never run: prefix ``'`` to a trigger."""
    if value and value[0] in FORMULA_TRIGGERS:
        return "'" + value
    return value


def _unquote(value: str) -> str:
    """Undo a spreadsheet's (or our export's) leading ``'`` text mark."""
    return value[1:] if value[:1] == "'" else value


def parse_status(value: str) -> str:
    """A status slug from a slug or a label; empty means created. Raises ValueError with the message."""
    text = _unquote(value).strip()
    if not text:
        return Status.CREATED
    status = _STATUS_BY_NAME.get(_fold(text))
    if status is None:
        choices = ", ".join(s.value for s in IMPORTABLE_STATUSES)
        raise ValueError(E_STATUS_UNKNOWN.format(value=text, choices=choices))
    if status == Status.PROCESSING:
        raise ValueError(E_STATUS_PROCESSING)
    return status


def parse_next_attempt_at(value: str) -> dt.datetime | None:
    text = _unquote(value).strip()
    if not text:
        return None
    try:
        parsed = parse_datetime(text)
        if parsed is None:
            day = parse_date(text)
            parsed = dt.datetime.combine(day, dt.time.min) if day else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(E_NEXT_AT_INVALID.format(value=text))
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


# --- The header ---------------------------------------------------------------------------------


@dataclass
class ContactColumns:
    n: int
    phone: int | None = None
    variables: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Header:
    """Which column means what, found once per file."""

    names: list[str]
    phone: int
    campaign: int | None = None
    status: int | None = None
    next_attempt_at: int | None = None
    variables: list[tuple[int, str]] = field(default_factory=list)
    contacts: list[ContactColumns] = field(default_factory=list)
    unnamed: list[int] = field(default_factory=list)

    def column(self, index: int) -> str:
        return self.names[index].strip() if index < len(self.names) else f"column {index + 1}"


def _suggest(name: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", name)
    suggestion = "_".join(w.lower() for w in words) or "customer_name"
    return suggestion if VARIABLE_NAME_RE.match(suggestion) else f"v_{suggestion}"


def read_header(names: Sequence[str]) -> Header:
    """Map header names to their meaning; raise CSVFileError for a header that cannot work."""
    roles: dict[str, int] = {}  # canonical name -> column index, to find duplicates
    phone = campaign = status = next_at = None
    variables: list[tuple[int, str]] = []
    contacts: dict[int, ContactColumns] = {}
    unnamed: list[int] = []

    def claim(canonical: str, index: int) -> None:
        if canonical in roles:
            raise CSVFileError(
                E_DUPLICATE_COLUMN.format(
                    first=_col_label(names, roles[canonical]), second=_col_label(names, index), name=canonical
                )
            )
        roles[canonical] = index

    for index, raw in enumerate(names):
        name = raw.strip()
        folded = _fold(name)
        if not name:
            unnamed.append(index)
            continue
        if folded in _PHONE_FOLDED:
            claim(PHONE, index)
            phone = index
        elif folded == CAMPAIGN:
            claim(CAMPAIGN, index)
            campaign = index
        elif folded == STATUS:
            claim(STATUS, index)
            status = index
        elif folded == _fold(NEXT_ATTEMPT_AT):
            claim(NEXT_ATTEMPT_AT, index)
            next_at = index
        elif folded in _IGNORED_FOLDED:
            claim(_IGNORED_FOLDED[folded], index)
        elif match := _SECONDARY_PHONE_RE.match(folded):
            n = int(match.group(1) or match.group(2))
            claim(f"secondary_{n}_phone", index)
            contacts.setdefault(n, ContactColumns(n)).phone = index
        elif (match := _SECONDARY_VAR_RE.match(name)) and VARIABLE_NAME_RE.match(match.group(2)):
            n, var = int(match.group(1)), match.group(2)
            claim(f"secondary_{n}_{var}", index)
            contacts.setdefault(n, ContactColumns(n)).variables.append((index, var))
        elif folded.startswith("secondary"):
            raise CSVFileError(E_BAD_SECONDARY_COLUMN.format(name=name))
        elif VARIABLE_NAME_RE.match(name):
            claim(name, index)
            variables.append((index, name))
        else:
            raise CSVFileError(E_BAD_COLUMN.format(name=name, suggestion=_suggest(name)))
    if phone is None:
        raise CSVFileError(E_NO_PHONE_COLUMN)
    # Before any row is read: a file 10,000 columns wide would widen every later export.
    limit = lead_variables.max_variables()
    contact_names = {var for cols in contacts.values() for _, var in cols.variables}
    for count, whose in ((len(variables), ""), (len(contact_names), " for secondary contacts")):
        if count > limit:
            raise CSVFileError(E_TOO_MANY_VARIABLE_COLUMNS.format(count=count, whose=whose, limit=limit))
    for n, cols in contacts.items():
        if cols.phone is None:
            raise CSVFileError(
                E_SECONDARY_WITHOUT_PHONE_COLUMN.format(name=names[cols.variables[0][0]].strip(), n=n)
            )
    return Header(
        names=list(names),
        phone=phone,
        campaign=campaign,
        status=status,
        next_attempt_at=next_at,
        variables=variables,
        contacts=[contacts[n] for n in sorted(contacts)],
        unnamed=unnamed,
    )


def _col_label(names: Sequence[str], index: int) -> str:
    return f"{index + 1} ({names[index].strip()!r})"


# --- Reading the file ---------------------------------------------------------------------------


def _check_bytes(head: bytes) -> None:
    if not head.strip(b"\xef\xbb\xbf \t\r\n"):
        raise CSVFileError(E_FILE_EMPTY)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CSVFileError(E_FILE_UTF16)
    if b"\x00" in head:
        raise CSVFileError(E_FILE_BINARY)


_LONE_CR = re.compile(r"(?<=\r)(?!\n)")


class _Lines:
    """Text lines of a binary stream, decoded as UTF-8 (BOM dropped) one line at a time, so that a
    byte that is not UTF-8 is reported with its line. Any newline (CRLF, LF, a lone CR) ends a line."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.line = 0
        self.queue: deque[str] = deque()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self.queue:
            self.line += 1
            return self.queue.popleft()
        raw = self.stream.readline()
        if not raw:
            raise StopIteration
        if self.line == 0 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[3:]
        if b"\x00" in raw:
            # The first 8 KB are checked as a whole (binary file); past them a NUL is refused here:
            # PostgreSQL cannot store it in a text value, and it is never part of a phone or a name.
            raise CSVFileError(E_FILE_NUL.format(line=self.line + 1 + raw[: raw.index(b"\x00")].count(b"\r")))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CSVFileError(E_FILE_NOT_UTF8.format(line=self.line + 1)) from None
        if "\r" in text and text.count("\r") > text.endswith("\r\n"):
            parts = _LONE_CR.split(text)
            self.queue.extend(parts[1:])
            text = parts[0]
        self.line += 1
        return text


def detect_delimiter(head: bytes) -> str:
    """The delimiter of a file from its header line: whichever of ``DELIMITERS`` occurs most often
    outside quotes (a comma when none does, or on a tie with it)."""
    text = head.decode("utf-8", errors="replace")
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char in "\r\n":
            break
        elif char in counts:
            counts[char] += 1
    best = max(counts, key=lambda d: counts[d])  # first of the largest: the comma wins a tie
    return best if counts[best] else ","


def check_delimiter(delimiter: str | None) -> str | None:
    """A delimiter as the upload form or ``--delimiter`` gives it (``tab`` and ``\\t`` mean a tab)."""
    if delimiter in (None, ""):
        return None
    delimiter = DELIMITER_ALIASES.get(delimiter.lower(), delimiter)
    if delimiter not in DELIMITERS:
        raise CSVFileError(E_BAD_DELIMITER.format(value=delimiter))
    return delimiter


def open_csv(stream: BinaryIO, *, delimiter: str | None = None) -> Source:
    """The CSV rows of ``stream`` with the delimiter given, or detected from its header line."""
    head = stream.read(8192)
    _check_bytes(head)
    chosen = check_delimiter(delimiter)
    found = chosen or detect_delimiter(head[3:] if head.startswith(codecs.BOM_UTF8) else head)
    return Source(_csv_rows(head, stream, found), delimiter=found, detected=chosen is None)


def open_source(
    stream: BinaryIO,
    *,
    filename: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    parallel: bool = False,
) -> Source:
    """The rows of a CSV file, or of an Excel workbook's sheet when ``filename`` ends in .xlsx.
    ``parallel``: a workbook's sheet is parsed by a process of its own (see ``xlsxio``)."""
    if not xlsxio.is_xlsx(filename):
        return open_csv(stream, delimiter=delimiter)
    try:
        workbook, worksheet = xlsxio.open_sheet(stream, sheet=sheet or None)
    except xlsxio.XLSXFileError as exc:
        raise CSVFileError(exc.message) from None
    title = worksheet.title
    return Source(_sheet_rows(workbook, worksheet, parallel), format="xlsx", sheet=title)


def _sheet_rows(workbook, worksheet, parallel: bool) -> Iterator[tuple[int, list[str]]]:
    read = xlsxio.sheet_rows_in_a_process if parallel else xlsxio.sheet_rows
    try:
        yield from read(workbook, worksheet)
    except xlsxio.XLSXFileError as exc:
        raise CSVFileError(exc.message) from None


def read_rows(stream: BinaryIO, *, delimiter: str | None = None) -> Iterator[tuple[int, list[str]]]:
    """Yield (line, cells) for the header and every non-blank record; line is where it starts."""
    return open_csv(stream, delimiter=delimiter).rows


def _csv_rows(head: bytes, stream: BinaryIO, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    lines = _Lines(io.BufferedReader(_Prefixed(head, stream), 65536))
    lines = (text for text in lines if text)
    reader = csv.reader(lines, strict=False, delimiter=delimiter)
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CSVFileError(E_FILE_CSV.format(line=start, error=exc)) from None
        if cells and not (len(cells) == 1 and not cells[0].strip()):
            yield start, cells
        start = reader.line_num + 1


@dataclass
class Source:
    """The rows of an uploaded file and how they were read (the preview says it)."""

    rows: Iterator[tuple[int, list[str]]]
    format: str = "csv"
    delimiter: str = ","
    detected: bool = False
    sheet: str = ""

    @property
    def description(self) -> str:
        if self.format == "xlsx":
            return f"Excel workbook, sheet {self.sheet!r}"
        how = "detected from the header" if self.detected else "as chosen"
        return f"CSV, {DELIMITERS[self.delimiter]}-separated ({how})"


class _Prefixed(io.RawIOBase):
    """A stream whose first bytes were already read (to sniff them), put back in front."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.rest.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n


# --- Rows ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class RowError:
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.column}: {self.message}" if self.column else self.message


@dataclass(slots=True)
class ContactRow:
    phone: str
    variables: dict[str, str]


@dataclass(slots=True)
class LeadRow:
    """A row as it will be stored."""

    line: int
    campaign: Campaign
    phone: str
    status: str
    next_attempt_at: dt.datetime | None
    variables: dict[str, str]
    contacts: list[ContactRow]
    missing: list[str]  # required variables unset after defaults (judged once we know the action)
    action: str = ""  # "create", "update" or "skip", set by the import


@dataclass
class Rejected:
    line: int
    cells: list[str]
    errors: list[RowError]

    @property
    def reason(self) -> str:
        return "; ".join(f"{e.column}: {e.message}" if e.column else e.message for e in self.errors)


PhoneCheck = tuple[str, list[str], dict]


def _has_phone(cell: str) -> bool:
    return bool(cell.strip(" \t'"))


def validate_phone_chunk(inputs: list[tuple[str, list[str]]], region: str | None) -> list[PhoneCheck]:
    """``services.validate_phones`` for many rows: the part of a row's check a worker process runs."""
    return [services.validate_phones(primary, contacts, region) for primary, contacts in inputs]


def _chunks(rows: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for item in rows:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def parse_rows(
    rows: Iterator[tuple[int, list[str]]], parser: RowParser, *, workers: int = 0
) -> Iterator[tuple[int, list[str], LeadRow | None, list[RowError]]]:
    """Parse every row in file order. With ``workers``, the phone numbers (most of the cost: about
    25 µs each in ``phonenumbers``) are checked in that many forked processes, a few chunks ahead
    of the rest of the row checks, which stay in this process (duplicates need one view of the file).
    """
    if not workers:
        for line, cells in rows:
            yield line, cells, *parser.parse(line, cells)
        return
    pending: deque = deque()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        for chunk in _chunks(rows, PHONE_CHUNK):
            inputs = [parser.phone_inputs(cells) for _, cells in chunk]
            pending.append((chunk, pool.submit(validate_phone_chunk, inputs, parser.region)))
            # Run a few chunks ahead so the workers keep checking while this process writes.
            if len(pending) > LOOKAHEAD * workers:
                yield from _drain(parser, *pending.popleft())
        while pending:
            yield from _drain(parser, *pending.popleft())


def _drain(parser: RowParser, chunk: list, future) -> Iterator:
    for (line, cells), phones in zip(chunk, future.result(), strict=True):
        yield line, cells, *parser.parse(line, cells, phones)


PHONE_CHUNK = 1000
LOOKAHEAD = 4  # chunks per worker in flight: ~4,000 rows of cells each, a few MB


class RowParser:
    """Turns the cells of one row into a LeadRow, or the errors that say what to fix."""

    def __init__(self, header: Header, *, campaign: Campaign | None, region: str | None):
        self.header = header
        self.campaign = campaign
        self.region = region
        if campaign is None and header.campaign is None:
            raise CSVFileError(E_NO_CAMPAIGN)
        self.campaigns = {
            c.name: c
            for c in Campaign.objects.select_related("assistant").prefetch_related("assistant__variables")
        }
        if campaign is not None:
            campaign = self.campaigns.get(campaign.name, campaign)
            self.campaign = campaign
        self.width = len(header.names)
        # In-file duplicates, in bounded memory however long the file (``file_duplicates``).
        self.seen = FileDuplicates()
        self.required = {c.pk: lead_variables.required_check(c.assistant) for c in self.campaigns.values()}

    def phone_inputs(self, cells: list[str]) -> tuple[str, list[str]]:
        """The primary and the (non-empty) secondary phone cells of a row, as ``parse`` reads them."""
        width = len(cells)
        h = self.header
        primary = cells[h.phone] if h.phone < width else ""
        contacts = [cells[c.phone] for c in h.contacts if c.phone < width and _has_phone(cells[c.phone])]
        return primary, contacts

    def parse(
        self, line: int, cells: list[str], phones: PhoneCheck | None = None
    ) -> tuple[LeadRow | None, list[RowError]]:
        """Check one row. ``phones``: ``services.validate_phones`` of ``phone_inputs(cells)``, when
        it was already run (in a worker process)."""
        h = self.header
        errors: list[RowError] = []
        n_cells = len(cells)
        if n_cells > self.width:
            extra = cells[self.width :]
            if any(c.strip() for c in extra):
                errors.append(RowError(line, "", E_TOO_MANY_CELLS.format(cells=n_cells, columns=self.width)))
                return None, errors
        elif n_cells < self.width:
            cells = cells + [""] * (self.width - n_cells)
        for index in h.unnamed:
            if cells[index].strip():
                errors.append(RowError(line, f"column {index + 1}", E_UNNAMED_CELL.format(n=index + 1)))

        campaign = self._campaign(line, cells, errors)

        status = Status.CREATED
        if h.status is not None:
            try:
                status = parse_status(cells[h.status])
            except ValueError as exc:
                errors.append(RowError(line, h.column(h.status), str(exc)))
        next_at = None
        if h.next_attempt_at is not None:
            try:
                next_at = parse_next_attempt_at(cells[h.next_attempt_at])
            except ValueError as exc:
                errors.append(RowError(line, h.column(h.next_attempt_at), str(exc)))
            else:
                if next_at is not None and status not in NEXT_AT_STATUSES:
                    errors.append(RowError(line, h.column(h.next_attempt_at), E_NEXT_AT_STATUS))

        values = _variable_values(cells, h.variables)

        contact_cols: list[ContactColumns] = []
        contact_phones: list[str] = []
        contact_values: list[dict[str, str]] = []
        for cols in h.contacts:
            phone = cells[cols.phone]
            cvalues = _variable_values(cells, cols.variables)
            if not _has_phone(phone):
                if cvalues:
                    errors.append(
                        RowError(line, h.column(cols.phone), E_CONTACT_VARS_WITHOUT_PHONE.format(n=cols.n))
                    )
                continue
            contact_cols.append(cols)
            contact_phones.append(phone)
            contact_values.append(cvalues)

        if phones is None:
            phones = services.validate_phones(cells[h.phone], contact_phones, self.region)
        primary, phones, phone_errors = phones
        if phone_errors:
            for key, messages in phone_errors.items():
                if key == "phone":
                    column = h.column(h.phone)
                else:
                    column = h.column(contact_cols[int(key.split("-")[1])].phone)
                errors.extend(RowError(line, column, m) for m in messages)

        if primary == SAMPLE_PHONE:
            errors.append(RowError(line, h.column(h.phone), E_SAMPLE_ROW.format(phone=primary)))
        if campaign is not None and primary and "phone" not in phone_errors:
            first = self.seen.first_line((campaign.pk, primary), line)
            if first is not None:
                errors.append(
                    RowError(
                        line,
                        h.column(h.phone),
                        E_DUPLICATE_IN_FILE.format(phone=primary, line=first, campaign=campaign.name),
                    )
                )
        if errors or campaign is None:
            return None, errors
        missing = self.required[campaign.pk](values)
        contacts = [ContactRow(p, v) for p, v in zip(phones, contact_values, strict=True)]
        return LeadRow(line, campaign, primary, status, next_at, values, contacts, missing), errors

    def _campaign(self, line: int, cells: list[str], errors: list[RowError]) -> Campaign | None:
        h = self.header
        name = _unquote(cells[h.campaign]).strip() if h.campaign is not None else ""
        if self.campaign is not None:
            if name and name != self.campaign.name:
                errors.append(
                    RowError(
                        line,
                        h.column(h.campaign),
                        E_CAMPAIGN_OTHER.format(name=name, chosen=self.campaign.name),
                    )
                )
                return None
            return self.campaign
        if not name:
            errors.append(RowError(line, h.column(h.campaign), E_CAMPAIGN_EMPTY))
            return None
        campaign = self.campaigns.get(name)
        if campaign is None:
            errors.append(RowError(line, h.column(h.campaign), E_CAMPAIGN_UNKNOWN.format(name=name)))
        return campaign


def missing_required_error(row: LeadRow, header: Header, missing: list[str]) -> RowError:
    message = lead_variables.E_MISSING_REQUIRED.format(names=", ".join(missing))
    return RowError(row.line, ", ".join(missing), message)


def _variable_values(cells: list[str], columns) -> dict[str, str]:
    """The set variables among ``columns`` ((cell index, name) pairs) of one row, unquoted."""
    values = {}
    for index, name in columns:
        value = cells[index]
        if value:
            value = _unquote(value)
            if lead_variables.is_set(value):
                values[name] = value
    return values


# --- Import -------------------------------------------------------------------------------------


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
    *,
    campaign: Campaign | None = None,
    region: str | None = None,
    dry_run: bool = False,
    skip_invalid: bool = False,
    update_existing: bool = False,
    user=None,
    preview_rows: int = 0,
    expect: dict[str, int] | None = None,
    progress: Callable[[int], None] | None = None,
    batch_size: int = BATCH_SIZE,
    workers: int = 0,
    on_written: Callable[[ImportResult], None] | None = None,
    delimiter: str | None = None,
    filename: str | None = None,
    sheet: str | None = None,
) -> ImportResult:
    """Import the CSV in ``stream`` (bytes). Raises CSVFileError when the file as a whole is unusable.

    Strict unless ``skip_invalid``: a rejected row means nothing is written. ``update_existing``
    merges a row's variables into the lead that already has its phone in the campaign (default: skip
    that row). ``dry_run`` checks everything and writes nothing. ``expect`` (the counts of a preview)
    makes the import write only if it would do exactly what the preview showed. ``workers``: check
    phone numbers in that many processes (worth it from a few thousand rows; see ``parse_rows``).
    ``on_written`` runs inside the import's transaction once the rows are written, so what it
    records (a job's "done") commits with them or not at all.

    ``filename`` ending in ``.xlsx``: the stream is an Excel workbook, read from its first sheet or
    ``sheet``. Otherwise CSV, separated by ``delimiter`` or by what its header line shows.
    """
    try:
        region = check_region(region)
    except ValidationError as exc:
        raise CSVFileError(exc.messages[0]) from None
    # With phone workers (a big file), a workbook's XML is parsed by a process of its own as well.
    source = open_source(stream, filename=filename, delimiter=delimiter, sheet=sheet, parallel=workers > 0)
    rows = source.rows
    first = next(rows, None)
    if first is None:
        raise CSVFileError(E_FILE_EMPTY)
    if source.format == "xlsx":
        header = read_header(first[1])
        phone_columns = [header.phone, *(c.phone for c in header.contacts)]
        rows = xlsxio.restore_plus(rows, phone_columns, plus=region is None)
    return import_rows(
        first[1],
        rows,
        campaign=campaign,
        region=region,
        dry_run=dry_run,
        skip_invalid=skip_invalid,
        update_existing=update_existing,
        user=user,
        preview_rows=preview_rows,
        expect=expect,
        progress=progress,
        batch_size=batch_size,
        workers=workers,
        on_written=on_written,
        source=source.description,
    )


def import_rows(
    names: Sequence[str],
    rows: Iterator[tuple[int, list[str]]],
    *,
    campaign: Campaign | None = None,
    region: str | None = None,
    dry_run: bool = False,
    skip_invalid: bool = False,
    update_existing: bool = False,
    user=None,
    preview_rows: int = 0,
    expect: dict[str, int] | None = None,
    progress: Callable[[int], None] | None = None,
    batch_size: int = BATCH_SIZE,
    workers: int = 0,
    on_written: Callable[[ImportResult], None] | None = None,
    reason: str = REASON_IMPORTED,
    source: str = "",
) -> ImportResult:
    """``import_leads`` after the file is read: a header's ``names`` and ``(line, cells)`` rows,
    checked and written by the same code. Other doors that carry leads as rows (the API's create
    and bulk endpoints) come in here; ``reason`` goes into the history of a lead that arrives in
    a status other than created. ``region`` must already be checked (``check_region``);
    ``source`` says how the file was read."""
    header = read_header(names)
    parser = RowParser(header, campaign=campaign, region=region)
    result = ImportResult(header=header.names, dry_run=dry_run, source=source)
    writer = _Writer(user=user, dry_run=dry_run, update_existing=update_existing, reason=reason)
    write = not dry_run

    def flush(batch: list[LeadRow]) -> None:
        nonlocal write
        writer.decide(batch, result, header)
        if write and (skip_invalid or not result.rejected):
            writer.write(batch)
        else:
            write = False  # strict and something was rejected: the rest is only checked
        if preview_rows and len(result.preview) < preview_rows:
            result.preview.extend(r for r in batch[: preview_rows - len(result.preview)])

    # A dry run reads only: no transaction (on SQLite one would take the write lock up front).
    with contextlib.closing(parser.seen), contextlib.nullcontext() if dry_run else _writing():
        batch: list[LeadRow] = []
        for line, cells, row, errors in parse_rows(rows, parser, workers=workers):
            result.rows += 1
            if errors:
                result.rejected.append(Rejected(line, cells, errors))
            elif row is not None:
                batch.append(row)
            if len(batch) >= batch_size:
                flush(batch)
                batch = []
                if progress:
                    progress(result.rows)
        if batch:
            flush(batch)
        if progress:
            progress(result.rows)
        if result.rows == 0:
            raise CSVFileError(E_FILE_HEADER_ONLY)
        result.rejected.sort(key=lambda r: r.line)
        changed = expect is not None and {k: result.counts[k] for k in expect} != expect
        if changed:
            result.error = E_CHANGED_SINCE_PREVIEW.format(
                previewed=_counts_text(expect), now=_counts_text(result.counts)
            )
        if dry_run:
            pass
        elif changed or (result.rejected and not skip_invalid):
            transaction.set_rollback(True)
        else:
            result.written = True
            textsearch.catch_up()  # the new leads into the search index, in one statement
            outbox.import_finished(result.counts, campaign=campaign, user=user)
            variable_names.catch_up()  # and their variable names, for the next export's header
            if on_written:
                on_written(result)
    return result


@contextlib.contextmanager
def _writing() -> Iterator[None]:
    """The import's one transaction; on SQLite its WAL reaches the database file after it, and the
    query planner's statistics follow the leads table as it grows."""
    with db.checkpoint_in_background():
        with transaction.atomic():
            yield
        services.refresh_statistics()


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[k]} {k}" for k in ("created", "updated", "skipped", "rejected") if k in counts)


class _Writer:
    """Decides create/update/skip for a batch against the database, then writes it in bulk."""

    def __init__(self, *, user, dry_run: bool, update_existing: bool, reason: str = REASON_IMPORTED):
        self.user_id = getattr(user, "pk", None)
        self.reason = reason
        self.update_existing = update_existing
        self.dry_run = dry_run
        self.lead_table = connection.ops.quote_name(Lead._meta.db_table)
        self.contact_table = connection.ops.quote_name(SecondaryContact._meta.db_table)
        self.history_table = connection.ops.quote_name(StatusChange._meta.db_table)
        self.existing: dict[tuple[int, str], tuple[int, dict]] = {}
        self.windows: dict[int, Window] = {}
        self.now = timezone.now()

    def decide(self, batch: list[LeadRow], result: ImportResult, header: Header) -> None:
        by_campaign: dict[int, list[str]] = {}
        for row in batch:
            by_campaign.setdefault(row.campaign.pk, []).append(row.phone)
        self.existing = {}
        listed: dict[int, dict[str, str]] = {}
        for campaign_id, phones in by_campaign.items():
            for phone, pk, values in selectors.leads_by_phone(campaign_id, phones):
                self.existing[(campaign_id, phone)] = (pk, values or {})
            listed[campaign_id] = compliance.blocked_numbers(phones, campaign_id)
        if self.dry_run:
            result.elsewhere.extend(compliance_elsewhere(batch))
        keep: list[LeadRow] = []
        for row in batch:
            source = listed[row.campaign.pk].get(row.phone)
            if source is not None:
                error = RowError(row.line, PHONE, f"{row.phone} is {compliance.block_reason(source)}.")
                result.do_not_call.append(Rejected(row.line, _cells_of(row, header), [error]))
                continue
            found = self.existing.get((row.campaign.pk, row.phone))
            if found is None:
                if row.missing:
                    result.rejected.append(_rejected_from(row, header, row.missing))
                    continue
                row.action = "create"
                result.created += 1
                if (
                    self.dry_run
                    and row.status == Status.CREATED
                    and row.campaign.state == Campaign.State.RUNNING
                ):
                    self._count_called_at_once(row, result)
            elif self.update_existing:
                merged = found[1] | row.variables
                missing = lead_variables.missing_required(row.campaign.assistant, merged)
                if missing:
                    result.rejected.append(_rejected_from(row, header, missing))
                    continue
                row.variables = merged
                row.action = "update"
                result.updated += 1
            else:
                row.action = "skip"
                result.skipped += 1
            keep.append(row)
        batch[:] = keep

    def _count_called_at_once(self, row: LeadRow, result: ImportResult) -> None:
        window = self.windows.get(row.campaign.pk)
        if window is None:
            window = self.windows[row.campaign.pk] = Window.of(row.campaign)
        if window.verdict(row.phone, self.now).open:
            name = row.campaign.name
            result.called_at_once[name] = result.called_at_once.get(name, 0) + 1

    def write(self, batch: list[LeadRow]) -> None:
        now = timezone.now()
        adapt = connection.ops.adapt_datetimefield_value
        now_db = adapt(now)
        creates = [r for r in batch if r.action == "create"]
        updates = [r for r in batch if r.action == "update"]
        with connection.cursor() as cursor:
            if creates:
                leads = []
                for r in creates:
                    next_at = r.next_attempt_at
                    if next_at is None and r.status in NEXT_AT_STATUSES:
                        next_at = lifecycle.default_next_attempt_at(r.status, r.campaign, now)
                    leads.append(
                        (
                            r.campaign.pk,
                            r.phone,
                            r.status,
                            _to_json(r.variables),
                            0,
                            adapt(next_at) if next_at else None,
                            now_db,
                            now_db,
                        )
                    )
                with lead_counts.bulk_inserted(Counter((r.campaign.pk, r.status) for r in creates)):
                    cursor.executemany(
                        f"INSERT INTO {self.lead_table} (campaign_id, phone, status, variables, attempts,"
                        " next_attempt_at, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        leads,
                    )
                ids = self._ids(cursor, creates)
                contacts = []
                history = []
                for r in creates:
                    lead_id = ids[(r.campaign.pk, r.phone)]
                    for position, c in enumerate(r.contacts):
                        contacts.append((lead_id, c.phone, _to_json(c.variables), position))
                    if r.status != Status.CREATED:
                        history.append((lead_id, "", r.status, now_db, False, self.user_id, self.reason))
                if contacts:
                    cursor.executemany(
                        f"INSERT INTO {self.contact_table} (lead_id, phone, variables, position)"
                        " VALUES (%s, %s, %s, %s)",
                        contacts,
                    )
                if history:
                    cursor.executemany(
                        f"INSERT INTO {self.history_table} (lead_id, from_status, to_status, at, automatic,"
                        " user_id, reason) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        history,
                    )
                outbox.leads_imported(creates, ids, at=now)
            if updates:
                cursor.executemany(
                    f"UPDATE {self.lead_table} SET variables = %s, updated_at = %s WHERE id = %s",
                    [
                        (
                            _to_json(r.variables),
                            now_db,
                            self.existing[(r.campaign.pk, r.phone)][0],
                        )
                        for r in updates
                    ],
                )

    def _ids(self, cursor, rows: list[LeadRow]) -> dict[tuple[int, str], int]:
        by_campaign: dict[int, list[str]] = {}
        for r in rows:
            by_campaign.setdefault(r.campaign.pk, []).append(r.phone)
        ids: dict[tuple[int, str], int] = {}
        for campaign_id, phones in by_campaign.items():
            marks = ", ".join(["%s"] * len(phones))
            cursor.execute(
                f"SELECT phone, id FROM {self.lead_table} WHERE campaign_id = %s AND phone IN ({marks})",
                [campaign_id, *phones],
            )
            for phone, pk in cursor.fetchall():
                ids[(campaign_id, phone)] = pk
        return ids


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
    return Rejected(row.line, _cells_of(row, header), [missing_required_error(row, header, missing)])


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


# The sample's phone: 555-0100 to 555-0199 are reserved for fiction in every North American area
# code (phonenumbers still takes them as valid), so the sample can never call a real person.
SAMPLE_PHONE = "+12025550100"
E_SAMPLE_ROW = (
    "This is the sample file's example row ({phone} is a number reserved for fiction): replace it "
    "with your own leads."
)


def sample_rows(campaign: Campaign) -> tuple[list[str], list[str]]:
    """The header and the one example row of a campaign's sample file (formula-safe cells)."""
    names = [v.name for v in lead_variables.definitions(campaign.assistant)]
    header = [PHONE, CAMPAIGN, STATUS, *names, "secondary_1_phone"]
    row = [SAMPLE_PHONE, neutralise(campaign.name), "created", *(f"example {n}" for n in names), ""]
    return header, row


def sample_csv(campaign: Campaign) -> str:
    """A small CSV to start from: the contract's columns and the campaign's assistant's variables."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(sample_rows(campaign))
    return buffer.getvalue()


def sample_xlsx(campaign: Campaign) -> bytes:
    """The same sample as an Excel workbook."""
    out = io.BytesIO()
    xlsxio.write_xlsx(sample_rows(campaign), out)
    return out.getvalue()


# --- Export -------------------------------------------------------------------------------------


@dataclass
class ExportPlan:
    """The header of an export: fixed columns, lead variables, then secondary contact columns."""

    core: list[str]
    variables: list[str]
    contacts: int = 0
    contact_variables: list[str] = field(default_factory=list)

    @property
    def header(self) -> list[str]:
        names = [*self.core, *self.variables]
        for n in range(1, self.contacts + 1):
            names.append(f"secondary_{n}_phone")
            names.extend(f"secondary_{n}_{v}" for v in self.contact_variables)
        return names


def _scalar_rows(sql: str, params: Sequence) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [r[0] for r in cursor.fetchall()]


def _assistant_order() -> list[str]:
    """Variable names as the assistants define them, in order (campaigns by name): the header puts
    the variables an export found in this order first, then any others alphabetically."""
    names: list[str] = []
    campaigns = (
        Campaign.objects.order_by("name").select_related("assistant").prefetch_related("assistant__variables")
    )
    for campaign in campaigns:
        for var in lead_variables.definitions(campaign.assistant):
            if var.name not in names:
                names.append(var.name)
    return names


def _campaigns_of(leads: QuerySet[Lead]) -> list[int] | None:
    """The campaigns ``leads`` has leads in (None: no filter, every campaign); one query, each
    campaign asked for its first matching lead."""
    if not leads.query.where:
        return None
    in_it = Exists(leads.filter(campaign_id=OuterRef("pk")).order_by().values("pk"))
    try:
        return list(Campaign.objects.filter(in_it).order_by().values_list("pk", flat=True))
    except EmptyResultSet:  # a filter that can match nothing
        return []


def plan_export(
    leads: QuerySet[Lead],
    *,
    columns: Sequence[str] | None = None,
    with_secondary: bool = False,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 20_000,
) -> ExportPlan:
    """Which columns an export of ``leads`` writes.

    Without ``columns``: every fixed column and every variable the leads' campaigns use
    (``variable_names``: a superset of what these leads set, known without reading them), so the
    file imports back into equal leads. With ``columns``: those (``phone`` is always kept so the
    file stays importable); names that are not fixed columns are variables. ``progress`` and
    ``batch_size`` are kept for the export's background job, which no longer needs to scan.
    """
    scope: list = []

    def campaigns() -> list[int] | None:  # asked once, when needed
        if not scope:
            scope.append(_campaigns_of(leads))
        return scope[0]

    if columns:
        chosen = [c.strip() for c in columns if c and c.strip()]
        core = [c for c in CORE_COLUMNS if c in chosen or c == PHONE]
        variables = [
            c
            for c in dict.fromkeys(chosen)
            if c not in CORE_COLUMNS and VARIABLE_NAME_RE.match(c) and not c.startswith("secondary_")
        ]
    else:
        core = list(CORE_COLUMNS)
        found, contact_names = variable_names.names(campaigns())
        ordered = [n for n in _assistant_order() if n in found]
        variables = ordered + sorted(found - set(ordered))
    plan = ExportPlan(core=core, variables=variables)
    if progress:
        progress(0)
    if with_secondary:
        # Like the variables: the most contacts a lead of these campaigns has, without a count of
        # every lead's contacts (a superset for a filter narrower than its campaigns).
        plan.contacts = variable_names.most_contacts(campaigns())
        if plan.contacts:
            if columns:
                contact_names = variable_names.names(campaigns())[1]
            plan.contact_variables = sorted(contact_names)
    return plan


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, bool | int | float):
        return neutralise(json.dumps(value))
    return neutralise(json.dumps(value, ensure_ascii=False))


_SEPARATOR = "\x1f"
# A cell after the first of a row's joined text cells that begins with a formula trigger (a
# literal first character lets the search skip from separator to separator).
_NEEDS_CARE = re.compile("\x1f[" + re.escape("".join(FORMULA_TRIGGERS)) + "]")
_TRIGGER_SET = frozenset(FORMULA_TRIGGERS)
_json_scan = json.JSONDecoder().scan_once


def _loads(text: str):
    """json.loads for the JSON the database returns (no leading blank): the C scanner directly."""
    try:
        value, end = _json_scan(text, 0)
    except StopIteration:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


def _variable_cells(values: dict, names: list[str]) -> list[str]:
    """The cells of ``names`` from a lead's (or contact's) variables, formula-safe. Nearly every
    row is plain text that needs nothing: one join and one search tell, then the row is as it is."""
    row = list(map(values.get, names, repeat("")))
    try:
        joined = _SEPARATOR.join(row)
    except TypeError:  # a number, a boolean, JSON null, a list: each cell on its own
        return [_cell(v) for v in row]
    if joined[:1] in _TRIGGER_SET or _NEEDS_CARE.search(joined):
        return [_cell(v) for v in row]
    return row


def _phone_cell(phone: str) -> str:
    """Stored phones are E.164 (written only through the normaliser); anything else is not trusted."""
    if phone[:1] == "+" and phone[1:].isdigit():
        return phone
    return neutralise(phone)


def _iso_sqlite(value: str | None) -> str:
    """SQLite keeps datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC: write them as ISO 8601."""
    if not value:
        return ""
    return f"{value[:10]}T{value[11:]}+00:00"


def _iso(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return _iso_sqlite(value)
    return value.astimezone(dt.UTC).isoformat()


EXPORT_CHUNK = 1000  # rows per database read; 2,000 costs ~6 MB more peak for no speed


def export_csv(
    leads: QuerySet[Lead],
    *,
    columns: Sequence[str] | None = None,
    with_secondary: bool = False,
    plan: ExportPlan | None = None,
    chunk_size: int = EXPORT_CHUNK,
) -> Iterator[str]:
    """Yield the CSV of ``leads`` (header first) in chunks of text; memory stays bounded.

    Rows are read with a raw database cursor in batches of ``chunk_size`` (a server-side cursor on
    PostgreSQL); secondary contacts are fetched per batch, in calling order.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    batches = export_rows(
        leads, columns=columns, with_secondary=with_secondary, plan=plan, chunk_size=chunk_size
    )
    writer.writerow(next(batches))
    yield buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    for rows in batches:
        writer.writerows(rows)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def export_xlsx(
    leads: QuerySet[Lead],
    out: BinaryIO,
    *,
    columns: Sequence[str] | None = None,
    with_secondary: bool = False,
    plan: ExportPlan | None = None,
    chunk_size: int = EXPORT_CHUNK,
) -> int:
    """Write the same columns and cells as ``export_csv`` to ``out`` as an Excel workbook; return
    how many leads it holds (the export audit records it).

    Cells are formula-safe text as in the CSV (a leading ``'`` before = + - @), stored as strings;
    ``id`` and ``attempts`` are numbers. openpyxl's write-only mode keeps memory bounded."""
    batches = export_rows(
        leads, columns=columns, with_secondary=with_secondary, plan=plan, chunk_size=chunk_size
    )
    header = next(batches)
    rows = 0

    def counted() -> Iterator[list]:
        nonlocal rows
        for batch in batches:
            rows += len(batch)
            yield from batch

    xlsxio.write_xlsx(itertools.chain([header], counted()), out)
    return rows


def export_rows(
    leads: QuerySet[Lead],
    *,
    columns: Sequence[str] | None = None,
    with_secondary: bool = False,
    plan: ExportPlan | None = None,
    chunk_size: int = EXPORT_CHUNK,
) -> Iterator[list]:
    """The header (a list of names), then the rows in batches (lists of cell lists), formula-safe."""
    plan = plan or plan_export(leads, columns=columns, with_secondary=with_secondary)
    # Header cells are neutralised like data cells: a variable name stored before the name rule
    # (or written around it) must not run as a formula either.
    yield [neutralise(name) for name in plan.header]

    campaigns = {pk: neutralise(name) for pk, name in Campaign.objects.values_list("pk", "name")}
    sqlite = connection.vendor == "sqlite"
    if sqlite:
        # Read SQLite's datetime text as it is (it is UTC): parsing it into datetime objects only to
        # format it again would cost more than the rest of the row.
        leads = leads.annotate(
            _next=Cast("next_attempt_at", TextField()),
            _created=Cast("created_at", TextField()),
            _updated=Cast("updated_at", TextField()),
        )
        times = ("_next", "attempts", "_created", "_updated")
    else:
        times = ("next_attempt_at", "attempts", "created_at", "updated_at")
    qs = leads.order_by("pk").values_list("pk", "phone", "campaign_id", "status", *times, "variables")
    try:
        sql, params = qs.query.sql_with_params()
    except EmptyResultSet:  # a filter that can match nothing (``.none()``): the header alone
        return
    core = plan.core
    variables = plan.variables
    n_contacts = plan.contacts
    contact_vars = plan.contact_variables
    contact_sql = None
    if n_contacts:
        contact_sql = (
            f"SELECT lead_id, phone, variables FROM {connection.ops.quote_name(SecondaryContact._meta.db_table)}"
            " WHERE lead_id IN ({marks}) ORDER BY lead_id, position, id"
        )
    loads = _loads
    cells = _variable_cells
    iso = _iso
    blank_contact = [""] * (1 + len(contact_vars))
    blank_variables = [""] * len(variables)
    # Each exported column as a function of the raw row tuple.
    getters = {
        "id": lambda r: r[0],
        PHONE: lambda r: _phone_cell(r[1]),
        CAMPAIGN: lambda r: campaigns.get(r[2], ""),
        STATUS: lambda r: r[3],
        NEXT_ATTEMPT_AT: lambda r: iso(r[4]),
        "attempts": lambda r: r[5],
        "created_at": lambda r: iso(r[6]),
        "updated_at": lambda r: iso(r[7]),
    }
    core_getters = [getters[c] for c in core]
    full_core = tuple(core) == CORE_COLUMNS

    # No transaction: on SQLite it would hold the write lock (IMMEDIATE) for the whole download.
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while True:
            batch = cursor.fetchmany(chunk_size)
            if not batch:
                break
            contacts_by_lead: dict[int, list] = {}
            if contact_sql:
                ids = [r[0] for r in batch]
                with connection.cursor() as c2:
                    c2.execute(contact_sql.format(marks=", ".join(["%s"] * len(ids))), ids)
                    for lead_id, phone, cvalues in c2.fetchall():
                        contacts_by_lead.setdefault(lead_id, []).append((phone, cvalues))
            rows = []
            for r in batch:
                if full_core and sqlite:
                    row = [
                        r[0],
                        _phone_cell(r[1]),
                        campaigns.get(r[2], ""),
                        r[3],
                        _iso_sqlite(r[4]),
                        r[5],
                        _iso_sqlite(r[6]),
                        _iso_sqlite(r[7]),
                    ]
                else:
                    row = [g(r) for g in core_getters]
                values = r[8]
                if values.__class__ is str:
                    values = loads(values)
                if values:
                    row += cells(values, variables)
                else:
                    row += blank_variables
                if n_contacts:
                    own = contacts_by_lead.get(r[0], ())
                    for i in range(n_contacts):
                        if i < len(own):
                            phone, cvalues = own[i]
                            if cvalues.__class__ is str:
                                cvalues = loads(cvalues)
                            row.append(_phone_cell(phone))
                            row += cells(cvalues, contact_vars) if cvalues else blank_contact[1:]
                        else:
                            row += blank_contact
                rows.append(row)
            yield rows


def iter_bytes(chunks: Iterable[str], *, bom: bool = False) -> Iterator[bytes]:
    if bom:
        yield codecs.BOM_UTF8
    for chunk in chunks:
        yield chunk.encode("utf-8")
