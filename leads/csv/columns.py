"""The columns of the CSV format (the contract's "CSV" section) and what a header's names mean.

``read_header`` maps a file's header once: the primary phone (under any of ``PHONE_ALIASES``),
campaign, status, next_attempt_at, variables, and secondary contacts (``secondary_N_phone``,
``secondary_N_<variable>``); the export's own columns (``EXPORT_ONLY``) are read and ignored.
Names are compared the forgiving way (``fold``). Cells a spreadsheet would run as a formula are
written with a leading ``'`` (``neutralise``), which import takes off again (``unquote``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from campaigns.models import VARIABLE_NAME_RE

from .. import variables as lead_variables
from .errors import (
    E_BAD_COLUMN,
    E_BAD_SECONDARY_COLUMN,
    E_DUPLICATE_COLUMN,
    E_NO_PHONE_COLUMN,
    E_SECONDARY_WITHOUT_PHONE_COLUMN,
    E_TOO_MANY_VARIABLE_COLUMNS,
    CSVFileError,
)

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

# The sample's phone: 555-0100 to 555-0199 are reserved for fiction in every North American area
# code (phonenumbers still takes them as valid), so the sample can never call a real person.
SAMPLE_PHONE = "+12025550100"


def fold(name: str) -> str:
    """Header names compared the forgiving way: case, spaces, dashes and underscores ignored."""
    return name.strip().lower().replace(" ", "").replace("-", "").replace("_", "")


_PHONE_FOLDED = frozenset(fold(n) for n in PHONE_ALIASES)
_IGNORED_FOLDED = {fold(n): n for n in EXPORT_ONLY}
_SECONDARY_PHONE_RE = re.compile(r"^secondary(\d+)phone$|^secondaryphone(\d+)$")
_SECONDARY_VAR_RE = re.compile(r"^secondary_(\d+)_([A-Za-z_][A-Za-z0-9_]*)$", re.IGNORECASE)


def is_phone_name(name: str) -> bool:
    """Whether a header name means the primary phone (any of ``PHONE_ALIASES``, folded)."""
    return fold(name) in _PHONE_FOLDED


def neutralise(value: str) -> str:
    """A free-text cell a spreadsheet will show as text, never run: prefix ``'`` to a trigger."""
    if value and value[0] in FORMULA_TRIGGERS:
        return "'" + value
    return value


def unquote(value: str) -> str:
    """Undo a spreadsheet's (or our export's) leading ``'`` text mark."""
    return value[1:] if value[:1] == "'" else value


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


def read_header(names: Sequence[str]) -> Header:
    """Map header names to their meaning; raise CSVFileError for a header that cannot work."""
    found = _Roles(names)
    for index, raw in enumerate(names):
        found.take(index, raw.strip())
    return found.header()


class _Roles:
    """The meaning of each header name as it is read, refusing a second column for one meaning."""

    def __init__(self, names: Sequence[str]):
        self.names = names
        self.roles: dict[str, int] = {}  # canonical name -> column index, to find duplicates
        self.single: dict[str, int] = {}  # phone, campaign, status, next_attempt_at -> column index
        self.variables: list[tuple[int, str]] = []
        self.contacts: dict[int, ContactColumns] = {}
        self.unnamed: list[int] = []

    def claim(self, canonical: str, index: int) -> None:
        if canonical in self.roles:
            first, second = _col_label(self.names, self.roles[canonical]), _col_label(self.names, index)
            raise CSVFileError(E_DUPLICATE_COLUMN.format(first=first, second=second, name=canonical))
        self.roles[canonical] = index

    def take(self, index: int, name: str) -> None:
        folded = fold(name)
        if not name:
            self.unnamed.append(index)
            return
        role = PHONE if folded in _PHONE_FOLDED else _SINGLE.get(folded)
        if role is not None:
            self.claim(role, index)
            self.single[role] = index
        elif folded in _IGNORED_FOLDED:
            self.claim(_IGNORED_FOLDED[folded], index)
        elif match := _SECONDARY_PHONE_RE.match(folded):
            n = int(match.group(1) or match.group(2))
            self.claim(f"secondary_{n}_phone", index)
            self.contacts.setdefault(n, ContactColumns(n)).phone = index
        elif (match := _SECONDARY_VAR_RE.match(name)) and VARIABLE_NAME_RE.match(match.group(2)):
            n, var = int(match.group(1)), match.group(2)
            self.claim(f"secondary_{n}_{var}", index)
            self.contacts.setdefault(n, ContactColumns(n)).variables.append((index, var))
        elif folded.startswith("secondary"):
            raise CSVFileError(E_BAD_SECONDARY_COLUMN.format(name=name))
        elif VARIABLE_NAME_RE.match(name):
            self.claim(name, index)
            self.variables.append((index, name))
        else:
            raise CSVFileError(E_BAD_COLUMN.format(name=name, suggestion=_suggest(name)))

    def header(self) -> Header:
        if PHONE not in self.single:
            raise CSVFileError(E_NO_PHONE_COLUMN)
        # Before any row is read: a file 10,000 columns wide would widen every later export.
        limit = lead_variables.max_variables()
        contact_names = {var for cols in self.contacts.values() for _, var in cols.variables}
        for count, whose in ((len(self.variables), ""), (len(contact_names), " for secondary contacts")):
            if count > limit:
                raise CSVFileError(E_TOO_MANY_VARIABLE_COLUMNS.format(count=count, whose=whose, limit=limit))
        for n, cols in self.contacts.items():
            if cols.phone is None:
                name = self.names[cols.variables[0][0]].strip()
                raise CSVFileError(E_SECONDARY_WITHOUT_PHONE_COLUMN.format(name=name, n=n))
        return Header(
            names=list(self.names),
            phone=self.single[PHONE],
            campaign=self.single.get(CAMPAIGN),
            status=self.single.get(STATUS),
            next_attempt_at=self.single.get(NEXT_ATTEMPT_AT),
            variables=self.variables,
            contacts=[self.contacts[n] for n in sorted(self.contacts)],
            unnamed=self.unnamed,
        )


# The one-column meanings besides the phone, by folded name.
_SINGLE = {CAMPAIGN: CAMPAIGN, STATUS: STATUS, fold(NEXT_ATTEMPT_AT): NEXT_ATTEMPT_AT}


def _suggest(name: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", name)
    suggestion = "_".join(w.lower() for w in words) or "customer_name"
    return suggestion if VARIABLE_NAME_RE.match(suggestion) else f"v_{suggestion}"


def _col_label(names: Sequence[str], index: int) -> str:
    return f"{index + 1} ({names[index].strip()!r})"
