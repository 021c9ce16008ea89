"""A workbook's sheet read from its XML gives the rows openpyxl's read-only iteration gives.

The reference is ``iter_rows(values_only=True)`` of ``openpyxl.load_workbook(read_only=True,
data_only=True)``, each value through ``cell_text``, with the trailing empty cells and the rows
without a value left out (what the import read before reading the XML itself)."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile

import openpyxl
import pytest
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from leads.csv import sheet as sheet_xml
from leads.csv import xlsx
from leads.csv.sheet import Number, cell_text

CELLS = [
    ["phone", "customer_name", "company", "since", "at", "score", "ok", "wait", "note"],
    [14155550100, "Sarah", 42, dt.date(2026, 5, 1), dt.time(14, 30), 3.5, True, dt.timedelta(hours=36), None],
    [14155550101.0, "  ", None, dt.datetime(2026, 5, 1, 14, 30, 15), None, 1e20, False, None, "=1+1"],
    [],
    [None, None, None],
    ["   ", None],
    ["+14155550102", "Zoë", -7, dt.datetime(1899, 12, 31), None, 0.1, None, None, "x005F_x000D_ kept"],
    [None, None, None, None, None, None, None, None, None, None, None, None, "far right"],
    [123456789012345, 2**53 + 1, 1.5e-7, 100.0, None],
]


def openpyxl_rows(data: bytes, title: str | None = None) -> list[tuple[int, list]]:
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    worksheet = book[title] if title else book.worksheets[0]
    worksheet.reset_dimensions()
    found = []
    for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
        cells = [cell_text(v) for v in values]
        while cells and not cells[-1]:
            cells.pop()
        if cells and any(c.strip() for c in cells):
            found.append((number, _typed(cells)))
    book.close()
    return found


def our_rows(data: bytes, title: str | None = None) -> list[tuple[int, list]]:
    return [
        (n, _typed(cells)) for n, cells in xlsx.sheet_rows(xlsx.open_sheet(io.BytesIO(data), sheet=title))
    ]


def _typed(cells: list[str]) -> list[tuple[str, str]]:
    """Cells with their kind: a number's text becomes a phone number in a phone column."""
    return [(type(c).__name__, str(c)) for c in cells]


def workbook(rows, *, write_only=False, epoch=None, styled_blanks=False) -> bytes:
    book = openpyxl.Workbook(write_only=write_only)
    sheet = book.create_sheet("Leads") if write_only else book.active
    if epoch:
        book.epoch = epoch
    for row in rows:
        sheet.append(row)
    if styled_blanks:  # formatted but empty cells: written as <c r=".." s=".."/>
        for ref in ("K2", "L2", "A12", "M13"):
            sheet[ref].number_format = "0.00"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def rewritten(data: bytes, sheet=lambda xml: xml, *, strings: list[str] | None = None) -> bytes:
    """``data`` with its first sheet's XML passed through ``sheet`` and, with ``strings`` (``<si>``
    items), a shared strings part: what spreadsheets write and openpyxl does not."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = sheet(content.decode()).encode()
            elif item.filename == "[Content_Types].xml" and strings is not None:
                content = content.replace(b"</Types>", SHARED_TYPE.encode() + b"</Types>")
            target.writestr(item, content)
        if strings is not None:
            count = f'count="{len(strings)}" uniqueCount="{len(strings)}"'
            target.writestr(
                "xl/sharedStrings.xml", f'<sst xmlns="{MAIN_NS}" {count}>{"".join(strings)}</sst>'
            )
    return out.getvalue()


MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SHARED_TYPE = (
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
)


def shared_strings(data: bytes) -> bytes:
    """``data`` with its inline strings moved to a shared strings part, as Excel writes a sheet."""
    strings: list[str] = []

    def share(match: re.Match) -> str:
        strings.append(f"<si>{match[2]}</si>")
        return f'<c{match[1]} t="s"><v>{len(strings) - 1}</v></c>'

    xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    xml = re.sub(r'<c([^>]*?) t="inlineStr"><is>(.*?)</is></c>', share, xml)
    assert strings
    return rewritten(data, lambda _: xml, strings=strings)


def with_rows(data: bytes, rows_xml: str, *, strings: list[str] | None = None) -> bytes:
    def sheet(xml: str) -> str:
        return re.sub(r"<sheetData>.*</sheetData>|<sheetData ?/>", f"<sheetData>{rows_xml}</sheetData>", xml)

    return rewritten(data, sheet, strings=strings)


@pytest.mark.parametrize(
    "options",
    [{}, {"write_only": True}, {"shared": True}, {"epoch": CALENDAR_MAC_1904}, {"styled_blanks": True}],
    ids=["inline-strings", "write-only", "shared-strings", "1904-dates", "styled-blank-cells"],
)
def test_it_reads_the_values_openpyxl_reads(options):
    shared = options.pop("shared", False)
    data = workbook(CELLS, **options)
    if shared:
        data = shared_strings(data)
    assert our_rows(data) == openpyxl_rows(data)
    assert our_rows(data)[:2] == [
        (1, [("str", n) for n in CELLS[0]]),
        (
            2,
            [("Number", "14155550100"), ("str", "Sarah"), ("Number", "42"), ("str", "2026-05-01")]
            + [("str", "14:30:00"), ("Number", "3.5"), ("str", "TRUE"), ("str", "1 day, 12:00:00")],
        ),
    ]


def test_rich_text_cells_read_as_their_text():
    rich = CellRichText("Acme ", TextBlock(InlineFont(b=True), "Bold"), " Ltd")
    inline = workbook([["phone", "company"], ["+14155550100", rich]])
    for data in (inline, shared_strings(inline)):
        assert our_rows(data) == openpyxl_rows(data)
        assert our_rows(data)[1][1][1] == ("str", "Acme Bold Ltd")


def test_rows_and_cells_without_references_gaps_and_other_cell_kinds_read_as_openpyxl_reads_them():
    strings = [
        "<si><t>phone</t></si>",
        "<si><r><t>Ann </t></r><r><rPr><b/></rPr><t>Lee</t></r><rPh sb='0' eb='1'><t>phonetic</t></rPh></si>",
        "<si><t>a_x005F_x000D_b</t></si>",
        "<si><t/></si>",
    ]
    rows_xml = (
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="D1" t="s"><v>2</v></c></row>'
        # no row number: the next row; cells without references: each after the one before
        '<row><c><v>14155550100</v></c><c t="str"><v>formula text</v></c><c t="e"><v>#N/A</v></c></row>'
        # a gap (rows 3 and 4), a row number written as a decimal, kinds of cells
        '<row r="5.0"><c r="A5" t="b"><v>1</v></c><c r="C5" t="d"><v>2026-05-01T14:30:00</v></c>'
        '<c r="D5" t="inlineStr"><is><t xml:space="preserve"> padded </t></is></c>'
        '<c r="E5" t="inlineStr"/><c r="F5" t="s"><v>3</v></c><c r="G5"><v>1.25E3</v></c></row>'
        # a row numbered below the last: openpyxl drops it
        '<row r="4"><c r="A4"><v>1</v></c></row>'
        # cells out of order: the row is as wide as its last cell
        '<row r="7"><c r="C7"><v>3</v></c><c r="A7"><v>1</v></c></row>'
        '<row r="8"><c r="b8"><v>2</v></c><c r="A8"><v></v></c></row>'
        '<row r="9"/>'
    )
    data = with_rows(workbook([["x"]]), rows_xml, strings=strings)
    assert our_rows(data) == openpyxl_rows(data)
    assert [n for n, _ in our_rows(data)] == [1, 2, 5, 7]


def test_the_parsed_rows_are_let_go_as_the_sheet_is_read(monkeypatch):
    monkeypatch.setattr(sheet_xml, "PRUNE_EVERY", 2)
    rows = [["phone", "customer_name"]] + [[14155550100 + i, f"Name {i}"] for i in range(9)]
    for write_only in (False, True):
        data = workbook(rows, write_only=write_only)
        assert our_rows(data) == openpyxl_rows(data)
        assert len(our_rows(data)) == 10


def test_a_chart_sheet_is_not_a_sheet_of_rows():
    book = openpyxl.Workbook()
    book.active.title = "Leads"
    book.active.append(["phone"])
    book.create_chartsheet("Chart", 0)
    out = io.BytesIO()
    book.save(out)
    assert our_rows(out.getvalue()) == [(1, [("str", "phone")])]
    with pytest.raises(xlsx.XLSXFileError) as exc:
        xlsx.open_sheet(io.BytesIO(out.getvalue()), sheet="Chart")
    assert exc.value.message == xlsx.E_XLSX_NO_SHEET.format(name="Chart", names="'Leads'")


def test_the_row_count_for_a_progress_bar_is_the_recorded_size(tmp_path):
    path = tmp_path / "x.xlsx"
    path.write_bytes(workbook(CELLS))
    assert xlsx.count_rows(path) == len(CELLS)
    path.write_bytes(workbook(CELLS, write_only=True))  # records no size
    assert xlsx.count_rows(path) is None
    path.write_bytes(b"not a workbook")
    assert xlsx.count_rows(path) is None


def test_a_number_cell_is_a_number_for_the_phone_columns():
    assert [type(t) for t in (cell_text(14155550100), cell_text(1.0), cell_text("1"))] == [
        Number,
        Number,
        str,
    ]
