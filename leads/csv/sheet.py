"""A workbook's sheet read as the texts of its cells, straight from the sheet's XML.

openpyxl opens the workbook in read-only mode (its package, workbook part, styles and epoch), and
its XML parser (``openpyxl.xml.functions.iterparse``) reads the sheet. What is left out is what
made openpyxl's own read-only iteration slow for an import: a dict per cell, an object per inline
string, a tuple per row turned into text afterwards, and, when the file does not record the
sheet's size, a whole extra pass over the sheet at opening to find it. The values are the ones
``iter_rows(values_only=True)`` gives (same types, dates by the workbook's styles and epoch),
turned into text by ``cell_text`` as they are read; rows are numbered as the sheet numbers them.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO
from warnings import warn

from openpyxl.reader.excel import ExcelReader
from openpyxl.styles.stylesheet import apply_stylesheet
from openpyxl.utils.cell import column_index_from_string, range_boundaries
from openpyxl.utils.datetime import from_excel, from_ISO8601
from openpyxl.xml.constants import SHARED_STRINGS, SHEET_MAIN_NS
from openpyxl.xml.functions import iterparse

_NS = f"{{{SHEET_MAIN_NS}}}"
_ROW, _CELL_VALUE, _INLINE, _TEXT, _RUN = (_NS + t for t in ("row", "v", "is", "t", "r"))
_SHARED, _DATA, _DIMENSION = (_NS + t for t in ("si", "sheetData", "dimension"))
_DIGITS = "0123456789"
# Rows let go by the parsed tree every so many rows (each emptied row would stay otherwise).
PRUNE_EVERY = 1024


class Number(str):
    """The text of a cell that held a number (a phone column gives it its ``+`` back)."""

    __slots__ = ()


def cell_text(value) -> str:
    """A cell's value as the text a CSV would have held."""
    kind = type(value)
    if kind is str:
        return value
    if value is None:
        return ""
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if kind is int:
        return Number(value)
    if kind is float:
        return Number(int(value)) if value.is_integer() else Number(repr(value))
    if kind is dt.datetime:
        if value.time() == dt.time.min and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


@dataclass
class Sheet:
    """One worksheet of a workbook open for reading, and what turning its cells into text needs."""

    archive: zipfile.ZipFile
    title: str
    part: str  # the sheet's XML in the archive
    strings_part: str | None  # the shared strings' XML, if the workbook has any
    epoch: dt.datetime
    date_styles: frozenset[int]
    timedelta_styles: frozenset[int]

    def close(self) -> None:
        self.archive.close()


def open_workbook(stream: BinaryIO) -> tuple[ExcelReader, dict[str, str]]:
    """openpyxl's reader of ``stream`` in read-only mode with its package, workbook part and styles
    read, and ``{title: XML part}`` of its worksheets in the workbook's order (chart sheets, which
    hold no cells, left out). No worksheet is parsed."""
    reader = ExcelReader(stream, read_only=True, data_only=True)
    reader.read_manifest()
    reader.read_workbook()
    apply_stylesheet(reader.archive, reader.wb)
    parts = {
        sheet.name: rel.target
        for sheet, rel in reader.parser.find_sheets()
        if rel.target in reader.valid_files and "chartsheet" not in rel.Type
    }
    return reader, parts


def sheet_of(reader: ExcelReader, title: str, part: str) -> Sheet:
    strings = reader.package.find(SHARED_STRINGS)
    wb = reader.wb
    return Sheet(
        archive=reader.archive,
        title=title,
        part=part,
        strings_part=strings.PartName[1:] if strings is not None else None,
        epoch=wb.epoch,
        date_styles=frozenset(wb._date_formats),
        timedelta_styles=frozenset(wb._timedelta_formats),
    )


def recorded_rows(sheet: Sheet) -> int | None:
    """The last row number the sheet's ``dimension`` records (None when it records none), read
    from the head of its XML only."""
    with sheet.archive.open(sheet.part) as src:
        for _, element in iterparse(src, events=("start",)):
            if element.tag == _DIMENSION:
                ref = element.get("ref", "")
                return range_boundaries(ref)[3] if ":" in ref else range_boundaries(f"{ref}:{ref}")[3]
            if element.tag == _DATA:
                return None
    return None


def read_strings(sheet: Sheet) -> list[str]:
    """The shared strings as openpyxl reads them (``read_string_table``), without a rich-text
    object per string."""
    if sheet.strings_part is None:
        return []
    strings = []
    with sheet.archive.open(sheet.strings_part) as src:
        for _, node in iterparse(src):
            if node.tag == _SHARED:
                strings.append(_text(node).replace("x005F_", ""))
                node.clear()
    return strings


def _text(node) -> str:
    """An inline or shared string's text: its plain text, then its runs' (phonetic hints left out),
    as openpyxl's ``Text.content``."""
    if len(node) == 1 and node[0].tag == _TEXT:
        return node[0].text or ""
    plain = None
    runs = []
    for child in node:
        if child.tag == _TEXT:
            plain = child.text
        elif child.tag == _RUN:
            runs.append(child.findtext(_TEXT) or "")
    return (plain or "") + "".join(runs)


def rows(sheet: Sheet) -> Iterator[tuple[int, list[str]]]:
    """(row number, cell texts) of every row that has a value, trailing empty cells left out; a
    missing cell is "". The rows and columns are those ``iter_rows(values_only=True)`` gives from
    the first row and column on, a workbook's recorded size ignored (some writers get it wrong)."""
    cells = _Cells(sheet, read_strings(sheet))
    expected = 1  # openpyxl drops a row numbered below one already given
    number = 0
    data = None
    read = 0
    with sheet.archive.open(sheet.part) as src:
        for event, element in iterparse(src, events=("start", "end")):
            if event == "start":
                if data is None and element.tag == _DATA:
                    data = element
                continue
            if element.tag != _ROW:
                continue
            number = _row_number(element.get("r"), number)
            if number >= expected:
                expected = number + 1
                texts = cells.of(element)
                if texts and any(map(str.strip, texts)):
                    yield number, texts
            element.clear()
            read += 1
            if data is not None and read % PRUNE_EVERY == 0:
                del data[:]


def _row_number(text: str | None, previous: int) -> int:
    if text is None:
        return previous + 1
    try:
        return int(text)
    except ValueError:
        value = float(text)
        if not value.is_integer():
            raise ValueError(f"{text} is not a valid row number") from None
        return int(value)


class _Cells:
    """The texts of one row's cells (``WorkSheetParser.parse_cell`` and ``_get_row``, values only)."""

    def __init__(self, sheet: Sheet, strings: list[str]):
        self.strings = strings
        self.epoch = sheet.epoch
        self.date_styles = sheet.date_styles
        self.timedelta_styles = sheet.timedelta_styles
        self.columns: dict[str, int] = {}

    def of(self, row) -> list[str]:
        texts: list[str] = []
        column = 0  # a cell without a reference is the one after the previous
        for cell in row:
            ref = cell.get("r")
            column = self._column(ref) if ref else column + 1
            kind = cell.get("t")
            if kind == "inlineStr":
                inline = cell.find(_INLINE)
                text = "" if inline is None else _text(inline)
            else:
                value = cell.findtext(_CELL_VALUE)
                if not value:
                    text = ""
                elif kind is None or kind == "n":
                    text = self._number(value, cell.get("s"))
                elif kind == "s":
                    text = self.strings[int(value)]
                elif kind == "b":
                    text = "TRUE" if int(value) else "FALSE"
                elif kind == "d":
                    text = cell_text(from_ISO8601(value))
                else:  # "str" (a formula's text), "e" (an error such as #N/A)
                    text = value
            width = len(texts)
            if column > width:
                if column > width + 1:
                    texts.extend([""] * (column - 1 - width))
                texts.append(text)
            else:
                texts[column - 1] = text
        # The row is as wide as its last cell's column, and ends at its last cell that has a value.
        del texts[column:]
        while texts and not texts[-1]:
            texts.pop()
        return texts

    def _column(self, ref: str) -> int:
        letters = ref.rstrip(_DIGITS)
        column = self.columns.get(letters)
        if column is None:
            column = self.columns[letters] = column_index_from_string(letters)
        return column

    def _number(self, value: str, style: str | None) -> str:
        number = float(value) if ("." in value or "E" in value or "e" in value) else int(value)
        if style and self.date_styles and int(style) in self.date_styles:
            try:
                return cell_text(
                    from_excel(number, self.epoch, timedelta=int(style) in self.timedelta_styles)
                )
            except (OverflowError, ValueError):
                warn(f"A cell's date serial {value} is outside the limits for dates.", stacklevel=2)
                return "#VALUE!"
        if type(number) is int:
            return Number(number)
        return Number(int(number)) if number.is_integer() else Number(repr(number))
