"""Do-not-call lists as CSV: the lead import's file rules (UTF-8, BOM, a header, physical line
numbers in every error, strict or skip-invalid) for a file with a ``phone`` column and an optional
``reason`` column; every other column is ignored, so an export imports back.

The file is read by the lead import's reader (``leads.csv.reader``) and its phone numbers go
through ``leads.phones`` like a lead import's; a big file checks them in worker processes
(``workers``) through the import's own look-ahead loop (``leads.csv.rows.ahead``), and writes
batches of inserts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import BinaryIO

from django.core.exceptions import ValidationError
from django.db import transaction

from campaigns.models import Campaign
from leads.csv.columns import REASON_COLUMN, fold, is_phone_name, neutralise
from leads.csv.errors import CSVFileError
from leads.csv.reader import read_rows
from leads.csv.rows import ahead, chunked
from leads.phones import InvalidPhone, check_region, normalize_phone

from . import services
from .models import DoNotCallEntry
from .selectors import entries_for_export

E_NO_PHONE_COLUMN = (
    "The header has no phone column: name one column phone (or phone_number, number, "
    "contact_number, to_number)."
)
E_HEADER_ONLY = "The file has a header row but no numbers: add one row per number under the header."
E_EMPTY = "The file is empty: it needs a header row (phone, reason) and one row per number."
HEADER = ["phone", "campaign", "source", "reason", "added_by", "added_at"]
BATCH = 5000
CHUNK = 5000


@dataclass
class DncImportResult:
    rows: int = 0
    added: int = 0
    already: int = 0  # listed before (or twice in the file)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, message)
    written: bool = False
    dry_run: bool = False

    def summary(self) -> str:
        text = (
            f"{self.rows} rows: {self.added} added, {self.already} already listed, "
            f"{len(self.rejected)} rejected."
        )
        if self.dry_run:
            return text + " Dry run: nothing was written."
        return text if self.written else text + " Nothing was written."


def _check_chunk(values: list[str], region: str | None) -> list[str | Exception]:
    out: list[str | Exception] = []
    for value in values:
        try:
            out.append(normalize_phone(value, region))
        except InvalidPhone as exc:
            out.append(ValidationError(exc.messages[0]))
    return out


def _columns(names: Sequence[str]) -> tuple[int, int | None]:
    """The phone column's index and the reason column's (None: no reason column)."""
    phone = next((i for i, n in enumerate(names) if is_phone_name(n)), None)
    if phone is None:
        raise CSVFileError(E_NO_PHONE_COLUMN)
    reason = next((i for i, n in enumerate(names) if fold(n) == REASON_COLUMN), None)
    return phone, reason


def _checked(
    rows: Iterator[tuple[int, list[str]]], phone: int, reason: int | None, region: str | None, workers: int
) -> Iterator[tuple[int, str | Exception, str]]:
    """(line, E.164 or the error, reason) per row, in file order."""

    def jobs() -> Iterator[tuple[list[tuple[int, str]], list[str]]]:
        for chunk in chunked(rows, CHUNK):
            lines = [
                (line, cells[reason].strip() if reason is not None and reason < len(cells) else "")
                for line, cells in chunk
            ]
            yield lines, [cells[phone] if phone < len(cells) else "" for _, cells in chunk]

    for lines, checked in ahead(jobs(), partial(_check_chunk, region=region), workers=workers):
        for (line, why), number in zip(lines, checked, strict=True):
            yield line, number, why


class _Lister:
    """Lists the numbers of a file in batches, while nothing stops it (strict and a row rejected)."""

    def __init__(self, result: DncImportResult, *, campaign, source: str, user, skip_invalid: bool):
        self.result = result
        self.scope = {"campaign": campaign, "source": source, "user": user}
        self.skip_invalid = skip_invalid
        self.write = True  # a dry run writes too, then rolls back: its counts are the real ones
        self.batch: list[tuple[str, str]] = []

    def add(self, number: str, why: str) -> None:
        self.batch.append((number, why))
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        result = self.result
        if self.write and (self.skip_invalid or not result.rejected):
            by_reason: dict[str, list[str]] = {}
            for number, why in self.batch:
                by_reason.setdefault(why, []).append(number)
            for why, numbers in by_reason.items():
                added = services.dnc_add_many(numbers=numbers, reason=why, **self.scope)
                result.added += added
                result.already += len(numbers) - added
        else:
            self.write = False
        self.batch.clear()


def import_dnc(
    stream: BinaryIO,
    *,
    campaign: Campaign | None = None,
    region: str | None = None,
    skip_invalid: bool = False,
    dry_run: bool = False,
    user=None,
    source: str = DoNotCallEntry.Source.IMPORT,
    workers: int = 0,
    reason: str = "",
) -> DncImportResult:
    """List every number of a CSV file in one scope (``campaign``, or site-wide). Strict unless
    ``skip_invalid``: one rejected row and nothing is written. Raises CSVFileError for an unusable file."""
    try:
        region = check_region(region)
    except ValidationError as exc:
        raise CSVFileError(exc.messages[0]) from None
    rows = read_rows(stream)
    first = next(rows, None)
    if first is None:
        raise CSVFileError(E_EMPTY)
    phone, reason_col = _columns(first[1])
    result = DncImportResult(dry_run=dry_run)
    lister = _Lister(result, campaign=campaign, source=source, user=user, skip_invalid=skip_invalid)
    seen: set[str] = set()
    with transaction.atomic():
        for line, checked, why in _checked(rows, phone, reason_col, region, workers):
            result.rows += 1
            if isinstance(checked, Exception):
                result.rejected.append((line, checked.messages[0]))
            elif checked in seen:
                result.already += 1
            else:
                seen.add(checked)
                lister.add(checked, why or reason)
        if lister.batch:
            lister.flush()
        if result.rows == 0:
            raise CSVFileError(E_HEADER_ONLY)
        if dry_run or (result.rejected and not skip_invalid):
            transaction.set_rollback(True)
            if not dry_run:
                result.added = 0
        else:
            result.written = True
    return result


def export_dnc(campaign: Campaign | None = None) -> Iterator[str]:
    """The active listed numbers of one scope as CSV text chunks (erased numbers have no number)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    entries = entries_for_export(campaign).values_list(
        "number", "campaign__name", "source", "reason", "added_by__username", "added_at"
    )
    for number, campaign_name, source, why, who, at in entries.iterator(chunk_size=5000):
        writer.writerow(
            [
                number,
                neutralise(campaign_name or ""),
                source,
                neutralise(why),
                neutralise(who or ""),
                at.isoformat(),
            ]
        )
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
