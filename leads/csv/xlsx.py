"""Excel workbooks (.xlsx) as the same rows as the CSV format: read for import, written by export.

Both ways stream: an import reads the sheet's XML row by row (``sheet``: openpyxl's read-only
opening and XML parser, each cell's value turned into text as it is read), an export writes rows
with openpyxl's write-only mode to a temporary file as they come; neither holds the sheet in
memory. A cell becomes the text a CSV would have held, so one validation (``leads.csv.rows``)
serves both formats:

- a number is written without a decimal point when it is whole (14155551234.0 -> "14155551234");
  in a phone column it gets back the ``+`` that Excel drops from +14155551234 typed as a number
  (unless a region is chosen: then it is a national number of that region);
- a date is ISO 8601 (a date, or a date and time when the time is not midnight);
- line numbers are the sheet's row numbers.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable, Iterator, Sequence
from queue import Empty
from typing import TYPE_CHECKING, BinaryIO

# openpyxl (and ``sheet``, built on it) is imported by the functions that read or write a
# workbook: a CSV import or export does not load it (a twentieth of a second of every start).
if TYPE_CHECKING:
    from .sheet import Sheet

E_XLSX_UNREADABLE = (
    "This is not an Excel workbook leadmgr can read (.xlsx): save it from your spreadsheet as "
    "“Excel Workbook (.xlsx)” or “CSV UTF-8 (comma delimited)” and upload that."
)
E_XLSX_NO_SHEET = "The workbook has no sheet named {name!r}: its sheets are {names}."
E_XLSX_EMPTY = "The workbook has no sheets."

XLSX_SUFFIX = ".xlsx"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class XLSXFileError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def is_xlsx(name: str | None) -> bool:
    """Files are told apart by their extension (the contract's promise for ``import_leads``)."""
    return bool(name) and str(name).lower().endswith(XLSX_SUFFIX)


def open_sheet(stream: BinaryIO, *, sheet: str | None = None) -> Sheet:
    """The sheet named ``sheet``, or the first; raises XLSXFileError for a file it cannot read."""
    from .sheet import open_workbook, sheet_of

    try:
        reader, parts = open_workbook(stream)
    except Exception:  # openpyxl's parser raises many kinds on malformed XML: all mean the same here
        raise XLSXFileError(E_XLSX_UNREADABLE) from None
    if not parts:
        reader.archive.close()
        raise XLSXFileError(E_XLSX_EMPTY)
    if sheet and sheet not in parts:
        reader.archive.close()
        raise XLSXFileError(E_XLSX_NO_SHEET.format(name=sheet, names=", ".join(repr(n) for n in parts)))
    title = sheet or next(iter(parts))
    return sheet_of(reader, title, parts[title])


def sheet_rows(sheet: Sheet) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for every row that has a value, the header included."""
    from .sheet import rows

    try:
        yield from rows(sheet)
    except Exception:  # malformed XML met half way through the sheet
        raise XLSXFileError(E_XLSX_UNREADABLE) from None
    finally:
        sheet.close()


READER_CHUNK = 500  # rows per message from the reading process
READER_QUEUE = 8  # messages in flight: a few thousand rows, whatever the sheet's size
_END = "end"


def sheet_rows_in_a_process(sheet: Sheet) -> Iterator[tuple[int, list[str]]]:
    """``sheet_rows`` read by a forked process, so that the XML parsing (openpyxl's share of the
    work is most of a big import's) runs beside the row checks and writes of this process.
    Rows arrive in order, a few chunks ahead; the child ends with the generator."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue(maxsize=READER_QUEUE)
    reader = context.Process(target=_read_into, args=(sheet, queue), daemon=True)
    reader.start()
    sheet.close()  # this process's copy of the file; the child reads its own
    try:
        while True:
            try:
                kind, payload = queue.get(timeout=1)
            except Empty:
                if not reader.is_alive():
                    raise XLSXFileError(E_XLSX_UNREADABLE) from None
                continue
            if kind == _END:
                return
            if kind == "error":
                raise XLSXFileError(payload)
            yield from payload
    finally:
        if reader.is_alive():
            reader.kill()
        reader.join()
        queue.close()


def _read_into(sheet: Sheet, queue) -> None:
    chunk: list = []
    try:
        for item in sheet_rows(sheet):
            chunk.append(item)
            if len(chunk) >= READER_CHUNK:
                queue.put(("rows", chunk))
                chunk = []
        queue.put(("rows", chunk))
        queue.put((_END, None))
    except XLSXFileError as exc:
        queue.put(("rows", chunk))
        queue.put(("error", exc.message))
    queue.close()
    queue.join_thread()


def count_rows(path) -> int | None:
    """The rows the first sheet says it has (for a progress bar), from the head of its XML only."""
    from .sheet import open_workbook, recorded_rows, sheet_of

    try:
        with open(path, "rb") as f:
            reader, parts = open_workbook(f)
            try:
                return recorded_rows(sheet_of(reader, *next(iter(parts.items())))) if parts else None
            finally:
                reader.archive.close()
    except Exception:
        return None


def restore_plus(
    rows: Iterable[tuple[int, list[str]]], columns: Sequence[int], *, plus: bool
) -> Iterator[tuple[int, list[str]]]:
    """Phone cells that were numbers, as phone numbers: ``+`` and digits (or the digits alone,
    read as a national number, when a region was chosen)."""
    from .sheet import Number

    for line, cells in rows:
        width = len(cells)
        for index in columns:
            if index < width:
                cell = cells[index]
                if type(cell) is Number:
                    cells[index] = ("+" + cell) if plus else str(cell)
        yield line, cells


def write_xlsx(rows: Iterable[Sequence], out: BinaryIO, *, title: str = "Leads") -> None:
    """Write rows (the header first) as a one-sheet workbook in write-only mode.

    Cells must already be formula-safe text (``columns.neutralise``): openpyxl stores a string that
    begins with ``=`` as a formula, and a neutralised cell never does."""
    import openpyxl
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = openpyxl.Workbook(write_only=True)
    worksheet = workbook.create_sheet(title)
    append = worksheet.append
    illegal = ILLEGAL_CHARACTERS_RE.search
    for row in rows:
        # Control characters have no place in the sheet's XML (openpyxl refuses them, and its
        # writer cannot go on after that): drop them from the cells that hold any.
        if illegal("\n".join([c for c in row if type(c) is str])):
            row = [ILLEGAL_CHARACTERS_RE.sub("", c) if isinstance(c, str) else c for c in row]
        append(row)
    workbook.save(out)
