"""Rows: the cells of one record turned into a lead as it will be stored, or the errors that say
what to fix (line, column, message).

Every row is checked through ``leads.phones`` (via ``services.validate_phones``),
``leads.variables`` and the lifecycle's rules for an arriving lead (``leads.lifecycle``); a phone
twice in the file is found in bounded memory (``leads.file_duplicates``). Phone numbers are most
of the cost, so a big file checks them in forked worker processes a few chunks ahead of the rest
(``ahead``, which the do-not-call import shares).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from campaigns.models import Campaign

from .. import lifecycle, services
from .. import variables as lead_variables
from ..file_duplicates import FileDuplicates
from ..models import Status
from .columns import SAMPLE_PHONE, ContactColumns, Header, fold, unquote
from .errors import (
    E_CAMPAIGN_EMPTY,
    E_CAMPAIGN_OTHER,
    E_CAMPAIGN_UNKNOWN,
    E_CONTACT_VARS_WITHOUT_PHONE,
    E_DUPLICATE_IN_FILE,
    E_NEXT_AT_INVALID,
    E_NO_CAMPAIGN,
    E_SAMPLE_ROW,
    E_STATUS_UNKNOWN,
    E_TOO_MANY_CELLS,
    E_UNNAMED_CELL,
    CSVFileError,
)

PHONE_CHUNK = 1000
LOOKAHEAD = 4  # chunks per worker in flight: ~4,000 rows of cells each, a few MB

_STATUS_BY_NAME = {fold(s.value): s.value for s in Status} | {fold(s.label): s.value for s in Status}


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


def parse_status(value: str) -> str:
    """A status slug from a slug or a label; empty means created. Raises ValueError with the message."""
    text = unquote(value).strip()
    if not text:
        return Status.CREATED
    status = _STATUS_BY_NAME.get(fold(text))
    if status is None:
        choices = ", ".join(s.value for s in lifecycle.IMPORTABLE_STATUSES)
        raise ValueError(E_STATUS_UNKNOWN.format(value=text, choices=choices))
    refusal = lifecycle.arrival_refusal(status)
    if refusal:
        raise ValueError(refusal)
    return status


def parse_next_attempt_at(value: str) -> dt.datetime | None:
    text = unquote(value).strip()
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


# --- Checking ahead in worker processes ---------------------------------------------------------


def chunked[T](items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def ahead[K, A, R](
    jobs: Iterable[tuple[K, A]], work: Callable[[A], R], *, workers: int
) -> Iterator[tuple[K, R]]:
    """``(key, work(argument))`` for each ``(key, argument)``, in order. With ``workers``, ``work``
    runs in that many forked processes, up to ``LOOKAHEAD`` arguments per worker ahead of the
    caller, so the workers keep checking while this process writes; only the argument crosses."""
    if not workers:
        for key, argument in jobs:
            yield key, work(argument)
        return
    pending: deque = deque()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        for key, argument in jobs:
            pending.append((key, pool.submit(work, argument)))
            if len(pending) > LOOKAHEAD * workers:
                key, future = pending.popleft()
                yield key, future.result()
        while pending:
            key, future = pending.popleft()
            yield key, future.result()


# --- Parsing rows -------------------------------------------------------------------------------

PhoneCheck = tuple[str, list[str], dict]


def _has_phone(cell: str) -> bool:
    return bool(cell.strip(" \t'"))


def validate_phone_chunk(inputs: list[tuple[str, list[str]]], region: str | None) -> list[PhoneCheck]:
    """``services.validate_phones`` for many rows: the part of a row's check a worker process runs."""
    return [services.validate_phones(primary, contacts, region) for primary, contacts in inputs]


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
    jobs = (
        (chunk, [parser.phone_inputs(cells) for _, cells in chunk]) for chunk in chunked(rows, PHONE_CHUNK)
    )
    check = partial(validate_phone_chunk, region=parser.region)
    for chunk, checked in ahead(jobs, check, workers=workers):
        for (line, cells), phones in zip(chunk, checked, strict=True):
            yield line, cells, *parser.parse(line, cells, phones)


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
        errors: list[RowError] = []
        cells = self._fitted(line, cells, errors)
        if cells is None:
            return None, errors
        campaign = self._campaign(line, cells, errors)
        status, next_at = self._status(line, cells, errors)
        values = _variable_values(cells, self.header.variables)
        contact_cols, contact_phones, contact_values = self._contacts(line, cells, errors)
        if phones is None:
            phones = services.validate_phones(cells[self.header.phone], contact_phones, self.region)
        primary, phones, phone_errors = phones
        self._phone_errors(line, contact_cols, phone_errors, errors)
        if primary == SAMPLE_PHONE:
            errors.append(
                RowError(line, self.header.column(self.header.phone), E_SAMPLE_ROW.format(phone=primary))
            )
        if campaign is not None and primary and "phone" not in phone_errors:
            self._check_duplicate(line, campaign, primary, errors)
        if errors or campaign is None:
            return None, errors
        missing = self.required[campaign.pk](values)
        contacts = [ContactRow(p, v) for p, v in zip(phones, contact_values, strict=True)]
        return LeadRow(line, campaign, primary, status, next_at, values, contacts, missing), errors

    def _fitted(self, line: int, cells: list[str], errors: list[RowError]) -> list[str] | None:
        """The row's cells, as many as the header's (None: too many, some extra cell set); a cell
        under an unnamed column that has a value is an error."""
        n_cells = len(cells)
        if n_cells > self.width:
            extra = cells[self.width :]
            if any(c.strip() for c in extra):
                errors.append(RowError(line, "", E_TOO_MANY_CELLS.format(cells=n_cells, columns=self.width)))
                return None
        elif n_cells < self.width:
            cells = cells + [""] * (self.width - n_cells)
        for index in self.header.unnamed:
            if cells[index].strip():
                errors.append(RowError(line, f"column {index + 1}", E_UNNAMED_CELL.format(n=index + 1)))
        return cells

    def _status(self, line: int, cells: list[str], errors: list[RowError]) -> tuple[str, dt.datetime | None]:
        h = self.header
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
                refusal = lifecycle.arrival_time_refusal(status, next_at)
                if refusal:
                    errors.append(RowError(line, h.column(h.next_attempt_at), refusal))
        return status, next_at

    def _contacts(
        self, line: int, cells: list[str], errors: list[RowError]
    ) -> tuple[list[ContactColumns], list[str], list[dict[str, str]]]:
        """The secondary contacts the row fills in: their columns, phone cells and variables."""
        h = self.header
        contact_cols: list[ContactColumns] = []
        contact_phones: list[str] = []
        contact_values: list[dict[str, str]] = []
        for cols in h.contacts:
            phone = cells[cols.phone]
            cvalues = _variable_values(cells, cols.variables)
            if not _has_phone(phone):
                if cvalues:
                    message = E_CONTACT_VARS_WITHOUT_PHONE.format(n=cols.n)
                    errors.append(RowError(line, h.column(cols.phone), message))
                continue
            contact_cols.append(cols)
            contact_phones.append(phone)
            contact_values.append(cvalues)
        return contact_cols, contact_phones, contact_values

    def _phone_errors(
        self, line: int, contact_cols: list[ContactColumns], phone_errors: dict, errors: list[RowError]
    ) -> None:
        h = self.header
        for key, messages in phone_errors.items():
            if key == "phone":
                column = h.column(h.phone)
            else:
                column = h.column(contact_cols[int(key.split("-")[1])].phone)
            errors.extend(RowError(line, column, m) for m in messages)

    def _check_duplicate(self, line: int, campaign: Campaign, primary: str, errors: list[RowError]) -> None:
        first = self.seen.first_line((campaign.pk, primary), line)
        if first is not None:
            message = E_DUPLICATE_IN_FILE.format(phone=primary, line=first, campaign=campaign.name)
            errors.append(RowError(line, self.header.column(self.header.phone), message))

    def _campaign(self, line: int, cells: list[str], errors: list[RowError]) -> Campaign | None:
        h = self.header
        name = unquote(cells[h.campaign]).strip() if h.campaign is not None else ""
        if self.campaign is not None:
            if name and name != self.campaign.name:
                message = E_CAMPAIGN_OTHER.format(name=name, chosen=self.campaign.name)
                errors.append(RowError(line, h.column(h.campaign), message))
                return None
            return self.campaign
        if not name:
            errors.append(RowError(line, h.column(h.campaign), E_CAMPAIGN_EMPTY))
            return None
        campaign = self.campaigns.get(name)
        if campaign is None:
            errors.append(RowError(line, h.column(h.campaign), E_CAMPAIGN_UNKNOWN.format(name=name)))
        return campaign


def missing_required_error(row: LeadRow, missing: list[str]) -> RowError:
    message = lead_variables.E_MISSING_REQUIRED.format(names=", ".join(missing))
    return RowError(row.line, ", ".join(missing), message)


def _variable_values(cells: list[str], columns) -> dict[str, str]:
    """The set variables among ``columns`` ((cell index, name) pairs) of one row, unquoted."""
    values = {}
    for index, name in columns:
        value = cells[index]
        if value:
            value = unquote(value)
            if lead_variables.is_set(value):
                values[name] = value
    return values
