"""Do-not-call lists as CSV: the lead import's file rules (UTF-8, BOM, a header, physical line
numbers in every error, strict or skip-invalid) for a file with a ``phone`` column and an optional
``reason`` column; every other column is ignored, so an export imports back.

Phone numbers go through ``leads.phones`` like a lead import's; a big file checks them in worker
processes (``workers``), as ``leads.csvio.parse_rows`` does, and writes batches of inserts.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

from django.core.exceptions import ValidationError
from django.db import transaction

from campaigns.models import Campaign
from leads.csvio import PHONE_ALIASES, CSVFileError, neutralise, read_rows
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
LOOKAHEAD = 4


def _fold(name: str) -> str:
    return name.strip().lower().replace(" ", "").replace("-", "").replace("_", "")


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


def _checked(
    rows: Iterator[tuple[int, list[str]]], phone: int, reason: int | None, region: str | None, workers: int
) -> Iterator[tuple[int, str | Exception, str]]:
    """(line, E.164 or the error, reason) per row, in file order."""

    def chunks() -> Iterator[list[tuple[int, str, str]]]:
        chunk: list[tuple[int, str, str]] = []
        for line, cells in rows:
            value = cells[phone] if phone < len(cells) else ""
            why = cells[reason].strip() if reason is not None and reason < len(cells) else ""
            chunk.append((line, value, why))
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    if not workers:
        for chunk in chunks():
            checked = _check_chunk([v for _, v, _ in chunk], region)
            yield from ((line, c, why) for (line, _, why), c in zip(chunk, checked, strict=True))
        return
    pending: deque = deque()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        for chunk in chunks():
            pending.append((chunk, pool.submit(_check_chunk, [v for _, v, _ in chunk], region)))
            if len(pending) > LOOKAHEAD * workers:
                chunk, future = pending.popleft()
                yield from ((line, c, why) for (line, _, why), c in zip(chunk, future.result(), strict=True))
        while pending:
            chunk, future = pending.popleft()
            yield from ((line, c, why) for (line, _, why), c in zip(chunk, future.result(), strict=True))


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
    folded = [_fold(n) for n in first[1]]
    aliases = {_fold(a) for a in PHONE_ALIASES}
    phone = next((i for i, n in enumerate(folded) if n in aliases), None)
    if phone is None:
        raise CSVFileError(E_NO_PHONE_COLUMN)
    reason_col = next((i for i, n in enumerate(folded) if n == "reason"), None)
    result = DncImportResult(dry_run=dry_run)
    write = True  # a dry run writes too, then rolls back: its counts are the real ones
    seen: set[str] = set()
    with transaction.atomic():
        batch: list[tuple[str, str]] = []

        def flush() -> None:
            nonlocal write
            if write and (skip_invalid or not result.rejected):
                by_reason: dict[str, list[str]] = {}
                for number, why in batch:
                    by_reason.setdefault(why, []).append(number)
                for why, numbers in by_reason.items():
                    added = services.dnc_add_many(
                        numbers=numbers, campaign=campaign, source=source, reason=why, user=user
                    )
                    result.added += added
                    result.already += len(numbers) - added
            else:
                write = False
            batch.clear()

        for line, checked, why in _checked(rows, phone, reason_col, region, workers):
            result.rows += 1
            if isinstance(checked, Exception):
                result.rejected.append((line, checked.messages[0]))
                continue
            if checked in seen:
                result.already += 1
                continue
            seen.add(checked)
            batch.append((checked, why or reason))
            if len(batch) >= BATCH:
                flush()
        if batch:
            flush()
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
