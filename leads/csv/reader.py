"""Reading an uploaded file into rows: ``(line, cells)`` for the header and every non-blank record.

A CSV file is UTF-8 (BOM or not, any newline), separated by , ; tab or | (detected from its header
line unless chosen), decoded one line at a time so that a byte that is not UTF-8 is reported with
its line; line numbers are physical (the header is line 1; a quoted newline counts). An Excel
workbook's sheet (``xlsx``, told by the ``.xlsx`` extension) gives the same rows, numbered by the
sheet's rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from . import xlsx
from .errors import (
    E_BAD_DELIMITER,
    E_FILE_BINARY,
    E_FILE_CSV,
    E_FILE_EMPTY,
    E_FILE_NOT_UTF8,
    E_FILE_NUL,
    E_FILE_UTF16,
    CSVFileError,
)

# What a CSV file may be separated by (Excel writes ; in locales whose decimal mark is a comma).
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
DELIMITER_ALIASES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


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
    ``parallel``: a workbook's sheet is parsed by a process of its own (see ``xlsx``)."""
    if not xlsx.is_xlsx(filename):
        return open_csv(stream, delimiter=delimiter)
    try:
        chosen = xlsx.open_sheet(stream, sheet=sheet or None)
    except xlsx.XLSXFileError as exc:
        raise CSVFileError(exc.message) from None
    return Source(_sheet_rows(chosen, parallel), format="xlsx", sheet=chosen.title)


def _sheet_rows(sheet: xlsx.Sheet, parallel: bool) -> Iterator[tuple[int, list[str]]]:
    read = xlsx.sheet_rows_in_a_process if parallel else xlsx.sheet_rows
    try:
        yield from read(sheet)
    except xlsx.XLSXFileError as exc:
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
