"""Leads sent as JSON, checked and written by the CSV importer (``leads.csv.importer.import_rows``).

One home for the rules of a new lead: this module only lays each item out as the importer's row
(the contract's CSV columns) and maps the importer's per-row errors back to request paths
(``secondary_contacts[1].phone_number``). Phones, campaign, status, ``next_attempt_at``, required
variables, duplicates within the request and in the database, and the initial status with its
history are all decided by the importer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from campaigns.models import Campaign
from leadmgr.storage import is_storable_text
from leads import selectors
from leads import variables as lead_variables
from leads.csv.columns import CAMPAIGN, NEXT_ATTEMPT_AT, PHONE, STATUS, neutralise
from leads.csv.errors import CSVFileError
from leads.csv.importer import ImportOptions, import_rows
from leads.csv.rows import LeadRow

REASON_API = "Created through the API"

E_CAMPAIGN_UNKNOWN = "Campaign {id} does not exist: use the id of an existing campaign."
E_VALUE_NOT_TEXT = "{name!r} must be text, a number or true/false (not a list or an object)."
E_BAD_TEXT = "{name!r} contains a NUL character or an unpaired surrogate: send plain text."


class OnDuplicate:
    ERROR = "error"
    SKIP = "skip"
    UPDATE = "update"
    CHOICES = (ERROR, SKIP, UPDATE)


@dataclass
class Item:
    """One lead as the API received it (after the serializer's shape checks)."""

    phone: str
    campaign_id: int
    status: str = ""
    next_attempt_at: str = ""
    variables: dict = field(default_factory=dict)
    contacts: list[tuple[str, dict]] = field(default_factory=list)  # (phone, variables)


@dataclass
class ItemResult:
    index: int
    lead_id: int | None = None
    action: str = ""  # created, updated, skipped (already in the campaign) or "" when rejected
    errors: list[dict] = field(default_factory=list)


@dataclass
class Outcome:
    results: list[ItemResult]
    written: bool
    file_error: str = ""  # a problem with the request as a whole (the importer's header rules)

    @property
    def rejected(self) -> list[ItemResult]:
        return [r for r in self.results if r.errors]


def _clean_text(value: str) -> bool:
    # What PostgreSQL cannot store in text (NUL) and UTF-8 cannot encode (a lone surrogate).
    return is_storable_text(value)


def text_value(value) -> str | None:
    """A variable's value as the cell text the importer reads, or None when it cannot be one."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    return None


def variables_errors(values: Mapping, path: str) -> list[dict]:
    """What the importer's header would refuse for the whole request, said for this item:
    names that are not variable names, too many variables, values that are not text."""
    errors = [{"field": path, "message": m} for m in lead_variables.variable_errors(values)]
    for name, value in values.items():
        text = text_value(value)
        if text is None:
            errors.append(
                {"field": f"{path}.{name}", "message": E_VALUE_NOT_TEXT.format(name=str(name)[:80])}
            )
        elif not (_clean_text(text) and _clean_text(str(name))):
            errors.append({"field": f"{path}.{name}", "message": E_BAD_TEXT.format(name=str(name)[:80])})
    return errors


def item_errors(item: Item, index_path: str, campaigns: Mapping[int, Campaign]) -> list[dict]:
    """The checks that must pass before an item can become a row at all."""
    errors: list[dict] = []
    if item.campaign_id not in campaigns:
        errors.append(
            {"field": f"{index_path}campaign", "message": E_CAMPAIGN_UNKNOWN.format(id=item.campaign_id)}
        )
    errors += variables_errors(item.variables, f"{index_path}variables")
    for i, (_, values) in enumerate(item.contacts):
        errors += variables_errors(values, f"{index_path}secondary_contacts[{i}].variables")
    return errors


def _cell(value) -> str:
    # The importer strips one leading ' (a spreadsheet's text mark): neutralise adds it back where needed.
    return neutralise(text_value(value) or "")


def _set_defaults(campaign: Campaign) -> dict:
    return {k: v for k, v in lead_variables.defaults(campaign.assistant).items() if lead_variables.is_set(v)}


def _prefilled(item: Item, defaults: Mapping | None) -> dict:
    """The lead's variables as the lead form saves them: the assistant's defaults, then the item's
    (an empty value sent for a variable with a default leaves the default)."""
    if not defaults:
        return item.variables
    given = {
        k: v for k, v in item.variables.items() if k not in defaults or lead_variables.is_set(text_value(v))
    }
    return defaults | given


def layout(items: Sequence[Item], campaigns: Mapping[int, Campaign], *, prefill: bool):
    """The importer's header and rows for ``items`` (row ``line`` = the item's index)."""
    defaults = {pk: _set_defaults(c) for pk, c in campaigns.items()} if prefill else {}
    values = [_prefilled(item, defaults.get(item.campaign_id)) for item in items]
    names = list(dict.fromkeys(name for v in values for name in v))
    n_contacts = max((len(item.contacts) for item in items), default=0)
    contact_names = [
        list(dict.fromkeys(name for item in items if len(item.contacts) > n for name in item.contacts[n][1]))
        for n in range(n_contacts)
    ]
    header = [PHONE, CAMPAIGN, STATUS, NEXT_ATTEMPT_AT, *names]
    for n in range(n_contacts):
        header.append(f"secondary_{n + 1}_phone")
        header.extend(f"secondary_{n + 1}_{name}" for name in contact_names[n])

    def rows():
        for index, (item, own) in enumerate(zip(items, values, strict=True)):
            cells = [
                item.phone,
                neutralise(campaigns[item.campaign_id].name),
                item.status,
                item.next_attempt_at,
                *(_cell(own.get(name)) for name in names),
            ]
            for n in range(n_contacts):
                if n < len(item.contacts):
                    phone, cvalues = item.contacts[n]
                    cells.append(phone)
                    cells.extend(_cell(cvalues.get(name)) for name in contact_names[n])
                else:
                    cells.extend([""] * (1 + len(contact_names[n])))
            yield index, cells

    return header, rows()


def _path(column: str, index_path: str) -> str | None:
    """An importer's column name as a request path."""
    if column in (PHONE,):
        return f"{index_path}phone_number"
    if column in (CAMPAIGN, STATUS, NEXT_ATTEMPT_AT):
        return f"{index_path}{column}"
    if column.startswith("secondary_"):
        parts = column.split("_", 2)
        if len(parts) == 3 and parts[1].isdigit():
            n = int(parts[1]) - 1
            tail = "phone_number" if parts[2] == "phone" else f"variables.{parts[2]}"
            return f"{index_path}secondary_contacts[{n}].{tail}"
    if column:
        return f"{index_path}variables"  # a required variable (the column names them) or a variable's cell
    return index_path.rstrip(".") or None


def run(
    items: Sequence[Item | None],
    *,
    shape_errors: Sequence[list[dict]] | None = None,
    user,
    on_duplicate: str = OnDuplicate.SKIP,
    skip_invalid: bool = False,
    prefill: bool = True,
    indexed_paths: bool = True,
    campaigns: Mapping[int, Campaign] | None = None,
) -> Outcome:
    """Check ``items`` and write them as the importer does: all or nothing unless ``skip_invalid``.

    ``on_duplicate``: ``skip`` and ``error`` leave a lead already in its campaign untouched (the
    caller turns ``skipped`` into an error for ``error``), ``update`` merges its variables.
    ``indexed_paths``: error paths start ``items[i].`` (bulk) or not (one lead). An item that is
    None had a wrong shape, and ``shape_errors[i]`` holds its errors.
    """
    if campaigns is None:
        ids = {item.campaign_id for item in items if item is not None}
        campaigns = (
            Campaign.objects.select_related("assistant").prefetch_related("assistant__variables").in_bulk(ids)
        )
    prefix = (lambda i: f"items[{i}].") if indexed_paths else (lambda i: "")
    results, good = _checked(items, shape_errors, prefix, campaigns)
    if not good:
        return Outcome(results, written=False)
    chosen = [items[i] for i in good]
    update = on_duplicate == OnDuplicate.UPDATE
    header, rows = layout(chosen, campaigns, prefill=prefill and not update)
    options = ImportOptions(
        # Strict with an item already refused: the others are still checked (every error is
        # reported at once), in a dry run that writes nothing.
        dry_run=len(good) < len(items) and not skip_invalid,
        skip_invalid=skip_invalid,
        update_existing=update,
        user=user,
        reason=REASON_API,
        preview_rows=len(chosen),
    )
    try:
        imported = import_rows(header, rows, options)
    except CSVFileError as exc:
        return Outcome(results, written=False, file_error=exc.message)
    # The importer's lines are positions in ``chosen``; map them back to the request's indexes.
    for rejected in imported.rejected:
        index = good[rejected.line]
        results[index].errors = [
            {"field": _path(e.column, prefix(index)), "message": e.message} for e in rejected.errors
        ]
    _attach_ids(imported.preview, good, results)
    if not imported.written:  # strict and something was refused: nothing happened to any item
        for r in results:
            r.lead_id, r.action = None, ""
    return Outcome(results, written=imported.written)


def _checked(items, shape_errors, prefix, campaigns) -> tuple[list[ItemResult], list[int]]:
    """Each item's result with the errors found before the importer, and the items without any."""
    results = [ItemResult(i) for i in range(len(items))]
    good: list[int] = []
    for i, item in enumerate(items):
        if item is None:  # its shape was wrong: ``shape_errors`` says how
            results[i].errors = list(shape_errors[i]) if shape_errors else []
            continue
        results[i].errors = item_errors(item, prefix(i), campaigns)
        if not results[i].errors:
            good.append(i)
    return results, good


ACTIONS = {"create": "created", "update": "updated", "skip": "skipped"}


def _attach_ids(accepted: Sequence[LeadRow], good: list[int], results: list[ItemResult]) -> None:
    """Each accepted item's lead id and what the import did with it.

    The importer hands back every accepted row (its ``preview``, asked for in full) with its E.164
    phone and its action; the ids are read by (campaign, phone), one probe of the unique index per
    phone and one query per campaign.
    """
    by_campaign: dict[int, list[LeadRow]] = {}
    for row in accepted:
        by_campaign.setdefault(row.campaign.pk, []).append(row)
        results[good[row.line]].action = ACTIONS.get(row.action, "")
    for campaign_id, rows in by_campaign.items():
        ids = {phone: pk for phone, pk, _ in selectors.leads_by_phone(campaign_id, [r.phone for r in rows])}
        for row in rows:
            results[good[row.line]].lead_id = ids.get(row.phone)


# --- The shape of one item (bulk requests: a serializer per item would cost more than the import) ---

E_REQUIRED = "This field is required."
E_NOT_TEXT = "Must be text."
E_NOT_OBJECT = "Must be an object."
E_NOT_LIST = "Must be a list."
E_NOT_INTEGER = "Must be a whole number from 1 to 9223372036854775807."
E_TOO_LONG = "Must be at most {n} characters."
TEXT_MAX = 64


def _text(data: Mapping, key: str, path: str, errors: list[dict], *, required: bool) -> str:
    value = data.get(key)
    if value is None:
        if required:
            errors.append({"field": f"{path}{key}", "message": E_REQUIRED})
        return ""
    if not isinstance(value, str):
        errors.append({"field": f"{path}{key}", "message": E_NOT_TEXT})
        return ""
    if len(value) > TEXT_MAX:
        errors.append({"field": f"{path}{key}", "message": E_TOO_LONG.format(n=TEXT_MAX)})
        return ""
    if not _clean_text(value):
        errors.append({"field": f"{path}{key}", "message": E_BAD_TEXT.format(name=key)})
        return ""
    return value


def _object(data: Mapping, key: str, path: str, errors: list[dict]) -> dict:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append({"field": f"{path}{key}", "message": E_NOT_OBJECT})
        return {}
    return value


def parse_item(data, path: str) -> tuple[Item | None, list[dict]]:
    """One lead of a bulk request as an Item, or the errors of its shape (paths from ``path``)."""
    if not isinstance(data, dict):
        return None, [{"field": path.rstrip(".") or None, "message": E_NOT_OBJECT}]
    errors: list[dict] = []
    phone = _text(data, "phone_number", path, errors, required=True)
    campaign = data.get("campaign")
    if campaign is None:
        errors.append({"field": f"{path}campaign", "message": E_REQUIRED})
    elif isinstance(campaign, bool) or not isinstance(campaign, int) or not 1 <= campaign < 2**63:
        errors.append({"field": f"{path}campaign", "message": E_NOT_INTEGER})
    status = _text(data, "status", path, errors, required=False)
    next_at = _text(data, "next_attempt_at", path, errors, required=False)
    values = _object(data, "variables", path, errors)
    contacts: list[tuple[str, dict]] = []
    raw_contacts = data.get("secondary_contacts")
    if raw_contacts is not None and not isinstance(raw_contacts, list):
        errors.append({"field": f"{path}secondary_contacts", "message": E_NOT_LIST})
    for i, contact in enumerate(raw_contacts if isinstance(raw_contacts, list) else ()):
        cpath = f"{path}secondary_contacts[{i}]."
        if not isinstance(contact, dict):
            errors.append({"field": cpath.rstrip("."), "message": E_NOT_OBJECT})
            continue
        contacts.append(
            (
                _text(contact, "phone_number", cpath, errors, required=True),
                _object(contact, "variables", cpath, errors),
            )
        )
    if errors:
        return None, errors
    return Item(phone, campaign, status, next_at, dict(values), contacts), []
