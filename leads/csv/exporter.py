"""The export: the rows of a filtered queryset (``leads.selectors.filter_leads``) as CSV text in
chunks (``export_csv``) or as a workbook (``export_xlsx``), reading the database in bounded batches.

Free-text cells that a spreadsheet would run as a formula get a leading ``'`` (which import strips
again), phone cells are E.164, datetimes ISO 8601 in UTC. The variable columns come from
``leads.variable_names`` (no scan of the leads before the header). Each row is built by one
function (``_build_rows``) from the raw database tuple; how datetimes are read fastest is the
storage layer's (``leadmgr.storage.datetext``).
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, TypedDict, Unpack

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet

from campaigns.models import VARIABLE_NAME_RE, Campaign
from leadmgr.storage import datetext

from .. import variable_names
from .. import variables as lead_variables
from ..models import Lead, SecondaryContact
from . import xlsx
from .columns import CORE_COLUMNS, FORMULA_TRIGGERS, PHONE, neutralise

EXPORT_CHUNK = 1000  # rows per database read; 2,000 costs ~6 MB more peak for no speed


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


# --- Cells --------------------------------------------------------------------------------------


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, bool | int | float):
        return neutralise(json.dumps(value))
    return neutralise(json.dumps(value, ensure_ascii=False))


_SEPARATOR = "\x1f"
# A cell that begins with a formula trigger, in cells joined with a separator before each one (a
# literal first character lets the search skip from separator to separator).
_NEEDS_CARE = re.compile("\x1f[" + re.escape("".join(FORMULA_TRIGGERS)) + "]")
# Phones joined with a separator after each one, every one of them E.164.
_ALL_E164 = re.compile(r"(?:\+[0-9]+\x1f)*")
_json_scan = json.JSONDecoder().scan_once


def _loads(text: str):
    """json.loads for the JSON the database returns (no leading blank): the C scanner directly."""
    try:
        value, end = _json_scan(text, 0)
    except StopIteration:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


def _spread(stored: list, names: list[str]) -> list[list]:
    """The cells of ``names`` from each of a batch's variables (JSON text, or a dict where the
    database decodes it), formula-safe. Nearly every batch is plain text that needs nothing: one
    join and one search over the whole batch tell; otherwise each row is looked at on its own."""
    blank = [""] * len(names)
    rows = []
    append = rows.append
    for values in stored:
        if values.__class__ is str:
            values = _loads(values)
        append(list(map(values.get, names, blank)) if values else blank)
    try:
        joined = _SEPARATOR + _SEPARATOR.join([_SEPARATOR.join(row) for row in rows])
    except TypeError:  # a number, a boolean, JSON null, a list somewhere in the batch
        return [_safe(row) for row in rows]
    if _NEEDS_CARE.search(joined):
        return [_safe(row) for row in rows]
    return rows


def _safe(row: list) -> list[str]:
    """One row's variable cells, formula-safe."""
    try:
        joined = _SEPARATOR + _SEPARATOR.join(row)
    except TypeError:
        return [_cell(v) for v in row]
    return [_cell(v) for v in row] if _NEEDS_CARE.search(joined) else row


def _phones(phones: list[str]) -> list[str]:
    """Phone cells: stored phones are E.164 (written only through the normaliser), which one
    match over the batch tells; anything else is not trusted."""
    if _ALL_E164.fullmatch(_SEPARATOR.join(phones) + _SEPARATOR):
        return phones
    return [p if p[:1] == "+" and p[1:].isdigit() else neutralise(p) for p in phones]


# --- Writing ------------------------------------------------------------------------------------


class ExportChoice(TypedDict, total=False):
    """What an export writes, as ``export_rows`` takes it (``export_csv`` and ``export_xlsx`` too)."""

    columns: Sequence[str] | None
    with_secondary: bool
    plan: ExportPlan | None
    chunk_size: int


def export_csv(leads: QuerySet[Lead], **choice: Unpack[ExportChoice]) -> Iterator[str]:
    """Yield the CSV of ``leads`` (header first) in chunks of text; memory stays bounded.

    Rows are read with a raw database cursor in batches of ``chunk_size`` (a server-side cursor on
    PostgreSQL); secondary contacts are fetched per batch, in calling order.
    """
    lines = _Lines()
    batches = export_rows(leads, **choice)
    yield lines.of([next(batches)])
    for rows in batches:
        yield lines.of(rows)


class _Lines:
    """Rows as CSV text, exactly as ``csv.writer`` (minimal quoting, CRLF) writes them.

    A cell needs quoting only when it holds a comma, a double quote, a CR or an LF, and nearly none
    does: joining a batch's cells with commas, and counting that text's commas, quotes and line
    breaks to confirm it, costs a third of the writer's work per cell. A row the count does not
    confirm goes through the writer.
    """

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")

    def of(self, rows: list[list]) -> str:
        width = len(rows[0]) if rows else 0
        if width < 2:  # a lone empty cell is written as "" (one-column rows: the writer alone)
            return self._written(rows)
        lines = [",".join(map(str, row)) for row in rows]
        text = "\r\n".join(lines)
        if not _needs_the_writer(text, len(rows), width):
            return text + "\r\n"
        for i, line in enumerate(lines):
            if _needs_the_writer(line, 1, width):
                lines[i] = self._written([rows[i]])[:-2]
        return "\r\n".join(lines) + "\r\n"

    def _written(self, rows: list[list]) -> str:
        self.writer.writerows(rows)
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text


def _needs_the_writer(text: str, rows: int, width: int) -> bool:
    """Whether ``rows`` rows of ``width`` cells joined with commas (and CRLF between rows) hold a
    cell that must be quoted, or one that ``str`` does not write as the writer would (None)."""
    breaks = rows - 1
    return (
        text.count(",") != rows * (width - 1)
        or text.count("\n") != breaks
        or text.count("\r") != breaks
        or '"' in text
        or "None" in text
    )


def export_xlsx(leads: QuerySet[Lead], out: BinaryIO, **choice: Unpack[ExportChoice]) -> int:
    """Write the same columns and cells as ``export_csv`` to ``out`` as an Excel workbook; return
    how many leads it holds (the export audit records it).

    Cells are formula-safe text as in the CSV (a leading ``'`` before = + - @), stored as strings;
    ``id`` and ``attempts`` are numbers. openpyxl's write-only mode keeps memory bounded."""
    batches = export_rows(leads, **choice)
    header = next(batches)
    rows = 0

    def counted() -> Iterator[list]:
        nonlocal rows
        for batch in batches:
            rows += len(batch)
            yield from batch

    xlsx.write_xlsx(itertools.chain([header], counted()), out)
    return rows


def iter_bytes(chunks: Iterable[str], *, bom: bool = False) -> Iterator[bytes]:
    if bom:
        yield codecs.BOM_UTF8
    for chunk in chunks:
        yield chunk.encode("utf-8")


# --- Rows ---------------------------------------------------------------------------------------

_DATETIMES = ("next_attempt_at", "created_at", "updated_at")


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
    leads, (next_at, created, updated), iso = datetext.iso_columns(leads, _DATETIMES)
    qs = leads.order_by("pk").values_list(
        "pk", "phone", "campaign_id", "status", next_at, "attempts", created, updated, "variables"
    )
    try:
        sql, params = qs.query.sql_with_params()
    except EmptyResultSet:  # a filter that can match nothing (``.none()``): the header alone
        return
    shape = _Shape.of(plan, iso)
    # No transaction: on SQLite it would hold the write lock (IMMEDIATE) for the whole download.
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(chunk_size):
            yield _build_rows(batch, _contacts_of(batch) if plan.contacts else {}, shape)


@dataclass
class _Shape:
    """What every row of one export needs, looked up once."""

    campaigns: dict[int, str]  # campaign id -> its name, formula-safe
    iso: Callable[[object], str]  # a datetime as read -> ISO 8601 text
    pick: list[int] | None  # which of the fixed columns (None: all of them)
    variables: list[str]
    n_contacts: int
    contact_variables: list[str]

    @classmethod
    def of(cls, plan: ExportPlan, iso: Callable[[object], str]) -> _Shape:
        campaigns = {pk: neutralise(name) for pk, name in Campaign.objects.values_list("pk", "name")}
        full = tuple(plan.core) == CORE_COLUMNS
        pick = None if full else [CORE_COLUMNS.index(c) for c in plan.core]
        return cls(campaigns, iso, pick, plan.variables, plan.contacts, plan.contact_variables)


def _contacts_of(batch: list[tuple]) -> dict[int, list[tuple]]:
    """The secondary contacts of a batch's leads, (phone, variables) in calling order, by lead."""
    ids = [r[0] for r in batch]
    table = connection.ops.quote_name(SecondaryContact._meta.db_table)
    marks = ", ".join(["%s"] * len(ids))
    by_lead: dict[int, list[tuple]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT lead_id, phone, variables FROM {table} WHERE lead_id IN ({marks}) ORDER BY lead_id, position, id",
            ids,
        )
        for lead_id, phone, cvalues in cursor.fetchall():
            by_lead.setdefault(lead_id, []).append((phone, cvalues))
    return by_lead


def _build_rows(batch: list[tuple], contacts_by_lead: dict[int, list[tuple]], shape: _Shape) -> list[list]:
    """The cells of a batch of raw rows (pk, phone, campaign_id, status, next_attempt_at, attempts,
    created_at, updated_at, variables): the one row builder of every export. It runs a million
    times for a million leads, so what each row needs checked is checked a batch at a time."""
    campaigns, iso, pick = shape.campaigns, shape.iso, shape.pick
    variables = _spread([r[8] for r in batch], shape.variables)
    phones = _phones([r[1] for r in batch])
    rows = [
        [r[0], phone, campaigns.get(r[2], ""), r[3], iso(r[4]), r[5], iso(r[6]), iso(r[7]), *cells]
        for r, phone, cells in zip(batch, phones, variables, strict=True)
    ]
    if pick is not None:
        fixed = len(CORE_COLUMNS)
        rows = [[row[i] for i in pick] + row[fixed:] for row in rows]
    n = shape.n_contacts
    if not n:
        return rows
    # Each lead's first n contacts, in calling order, as one list for the batch-wide checks.
    owns = [contacts_by_lead.get(r[0], ())[:n] for r in batch]
    contacts = [contact for own in owns for contact in own]
    contact_cells = _spread([c[1] for c in contacts], shape.contact_variables)
    contact_phones = _phones([c[0] for c in contacts])
    blank = [""] * (1 + len(shape.contact_variables))
    at = 0
    for row, own in zip(rows, owns, strict=True):
        for i in range(at, at + len(own)):
            row.append(contact_phones[i])
            row += contact_cells[i]
        at += len(own)
        if len(own) < n:
            row += blank * (n - len(own))
    return rows
