"""The rules a lead must satisfy, with typed errors: one home for the lead form, the admin, the API
and (for its phone checks) the import.

Each check returns ``LeadError`` values that say which field they belong to (the primary phone,
the variables, the i-th secondary contact's phone, or the lead as a whole), so every door places
them its own way (a form field, an inline's row, a request path) without parsing a key.
``services.lead_create`` / ``lead_update`` run ``check_lead`` and raise ``LeadInvalid``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Required, TypedDict

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from campaigns.models import Campaign
from compliance import selectors as compliance

from . import lifecycle
from . import variables as lead_variables
from .models import Lead, SecondaryContact
from .phones import InvalidPhone, normalize_phone

E_DUPLICATE_PRIMARY = "{phone} is already a lead in campaign {campaign!r}."
E_ERASED = "{phone} was erased on request: it may not be added again."
E_CONTACT_IS_PRIMARY = "{phone} is this lead's primary number; a secondary contact needs another number."
E_CONTACT_REPEATED = "{phone} is already secondary contact {n}; each number may appear once."

# Where an error belongs.
PHONE = "phone"  # the primary number
VARIABLES = "variables"
CONTACT_PHONE = "contact_phone"  # the number of secondary contact ``LeadError.contact``
LEAD = NON_FIELD_ERRORS  # the lead as a whole (the edit refused while a call is under way)


@dataclass(frozen=True)
class LeadError:
    field: str  # PHONE, VARIABLES, CONTACT_PHONE or LEAD
    message: str
    contact: int | None = None  # with CONTACT_PHONE: the contact's index (0-based, in the order given)
    existing_pk: int | None = None  # a duplicate primary: the lead that already has the number

    @property
    def key(self) -> str:
        """The form-style key: ``phone``, ``variables``, ``contacts-<i>`` or ``__all__``."""
        return f"contacts-{self.contact}" if self.field == CONTACT_PHONE else self.field


class LeadInvalid(ValidationError):
    """A lead that breaks the rules: ``lead_errors`` typed; ``message_dict`` keyed by ``LeadError.key``."""

    def __init__(self, errors: Iterable[LeadError]) -> None:
        self.lead_errors = list(errors)
        super().__init__(errors_by_key(self.lead_errors))


def errors_by_key(errors: Iterable[LeadError]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in errors:
        found.setdefault(error.key, []).append(error.message)
    return found


def has_error(errors: Iterable[LeadError], field: str, contact: int | None = None) -> bool:
    return any(e.field == field and e.contact == contact for e in errors)


# --- phones -----------------------------------------------------------------------------------------


def check_primary(raw: str, region: str | None = None) -> tuple[str, list[LeadError]]:
    """The primary number in E.164 ("" when invalid) and its error."""
    try:
        return normalize_phone(raw, region), []
    except InvalidPhone as exc:
        return "", [LeadError(PHONE, m) for m in exc.messages]


def check_contact_phones(
    primary: str | None, contacts: Sequence[str], region: str | None = None
) -> tuple[list[str], list[LeadError]]:
    """The contact numbers in E.164 ("" where invalid): each valid, none the primary (when known,
    already in E.164), none repeated."""
    errors: list[LeadError] = []
    normalised: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(contacts):
        try:
            phone = normalize_phone(raw, region)
        except InvalidPhone as exc:
            errors.extend(LeadError(CONTACT_PHONE, m, contact=i) for m in exc.messages)
            normalised.append("")
            continue
        if primary and phone == primary:
            errors.append(LeadError(CONTACT_PHONE, E_CONTACT_IS_PRIMARY.format(phone=phone), contact=i))
        elif phone in seen:
            message = E_CONTACT_REPEATED.format(phone=phone, n=seen[phone] + 1)
            errors.append(LeadError(CONTACT_PHONE, message, contact=i))
        else:
            seen[phone] = i
        normalised.append(phone)
    return normalised, errors


def check_phones(
    primary: str, contacts: Sequence[str], region: str | None = None
) -> tuple[str, list[str], list[LeadError]]:
    """Normalise the primary and the contact numbers; return them and their errors."""
    primary_e164, errors = check_primary(primary, region)
    contact_phones, contact_errors = check_contact_phones(primary_e164, contacts, region)
    return primary_e164, contact_phones, errors + contact_errors


# --- rules that need other rows ---------------------------------------------------------------------


def check_unique_primary(campaign: Campaign, phone: str, exclude_pk: int | None) -> list[LeadError]:
    clash = Lead.objects.filter(campaign=campaign, phone=phone)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    existing_pk = clash.values_list("pk", flat=True).first()
    if existing_pk is None:
        return []
    message = E_DUPLICATE_PRIMARY.format(phone=phone, campaign=campaign.name)
    return [LeadError(PHONE, message, existing_pk=existing_pk)]


def check_not_erased(primary: str | None, contact_phones: Sequence[str]) -> list[LeadError]:
    """A number erased on request may never be added again (compliance/erasure.py)."""
    numbers = [p for p in (primary, *contact_phones) if p]
    erased = {n for n, source in compliance.blocked_numbers(numbers).items() if source == "erasure"}
    errors = [LeadError(PHONE, E_ERASED.format(phone=primary))] if primary in erased else []
    errors += [
        LeadError(CONTACT_PHONE, E_ERASED.format(phone=phone), contact=i)
        for i, phone in enumerate(contact_phones)
        if phone in erased
    ]
    return errors


def edit_refused(lead_pk: int, changes: Iterable[str]) -> LeadError | None:
    """The lifecycle's refusal of ``changes`` (phone, campaign, contacts) to the lead, read under its
    row lock: the runner cannot claim the lead between this check and the caller's write."""
    refusal = lifecycle.edit_refusal(lifecycle.lock_status(lead_pk) or "", set(changes))
    return LeadError(LEAD, refusal) if refusal else None


def clean_variables(values: Mapping | None) -> dict[str, str]:
    """Keep set values only, as strings (an empty value means "not set")."""
    return {
        str(k).strip(): str(v)
        for k, v in (values or {}).items()
        if str(k).strip() and lead_variables.is_set(v)
    }


@dataclass
class VariablesCheck:
    removed: list[str]  # the assistant's defaults the lead will not inherit
    errors: list[LeadError] = field(default_factory=list)
    warning: str | None = None  # a move: variables the new assistant does not use


def check_variables(
    campaign: Campaign,
    values: dict[str, str],
    removed_now: Iterable[str] = (),
    removed_before: Iterable[str] = (),
    *,
    moved: bool = False,
) -> VariablesCheck:
    """The move check (when ``moved``), then the required check with removals.

    A required variable removed now is an error that says why; one removed before (under another
    assistant) is simply inherited again. A moved lead's missing required variables are the move
    check's error.
    """
    assistant = campaign.assistant
    check = VariablesCheck(removed=[])
    if moved:
        move = lead_variables.check_move(values, assistant)
        if move.error:
            check.errors.append(LeadError(VARIABLES, move.error))
        check.warning = move.warning
    removed, required = lead_variables.removals(assistant, [*removed_now], values)
    if required:
        message = lead_variables.E_REQUIRED_NOT_REMOVABLE.format(
            names=", ".join(required), assistant=assistant.name
        )
        check.errors.append(LeadError(VARIABLES, message))
        check.removed = removed
        return check
    earlier, _ = lead_variables.removals(assistant, removed_before, values)
    check.removed = [name for name in lead_variables.inherited(assistant) if name in {*removed, *earlier}]
    missing = lead_variables.missing_required(assistant, values, check.removed)
    if missing and not moved:
        message = lead_variables.E_MISSING_REQUIRED.format(names=", ".join(missing))
        check.errors.append(LeadError(VARIABLES, message))
    return check


# --- a whole lead -----------------------------------------------------------------------------------


@dataclass
class ContactInput:
    phone: str
    variables: dict = field(default_factory=dict)
    id: int | None = None  # an existing contact being kept (its call history stays linked)


class LeadFields(TypedDict, total=False):
    """A lead's input, as ``check_lead`` and the services (``lead_create``, ``lead_update``) take it."""

    campaign: Required[Campaign]
    phone: Required[str]
    variables: Mapping | None
    contacts: Sequence[ContactInput] | None
    region: str | None
    removed_variables: Iterable[str]  # assistant defaults removed on the form (not inherited)


@dataclass
class CheckedLead:
    """A lead's input after the checks: normalised values, and the errors (none: it may be written)."""

    phone: str
    values: dict[str, str]
    contact_phones: list[str]
    removed: list[str]
    errors: list[LeadError]
    warnings: list[str] = field(default_factory=list)


def check_lead(
    *,
    campaign: Campaign,
    phone: str,
    variables: Mapping | None = None,
    contacts: Sequence[ContactInput] | None = (),
    region: str | None = None,
    removed_variables: Iterable[str] = (),
    lead: Lead | None = None,
) -> CheckedLead:
    """Every rule of a new lead (``lead`` None) or of an edit of ``lead``.

    ``contacts`` None: the caller checks the contacts itself (``check_contacts``, the admin's
    inline). An edit the lifecycle refuses (a call under way) is the only error reported, and the
    lead's row lock is held to the end of the caller's transaction.
    """
    raw_contacts = [c.phone for c in contacts or ()]
    primary, contact_phones, errors = check_phones(phone, raw_contacts, region)
    values = clean_variables(variables)
    if lead is not None:
        changed = edits(lead, campaign=campaign, phone=primary, contacts=contacts, phones=contact_phones)
        refused = edit_refused(lead.pk, changed)
        if refused:
            return CheckedLead(primary, values, contact_phones, [], [refused])
    if primary and not has_error(errors, PHONE):
        errors += check_unique_primary(campaign, primary, lead.pk if lead else None)
    errors += [
        e for e in check_not_erased(primary, contact_phones) if not has_error(errors, e.field, e.contact)
    ]
    moved = lead is not None and campaign.pk != lead.campaign_id
    removed_before = (lead.removed_variables or ()) if lead is not None else ()
    check = check_variables(campaign, values, removed_variables, removed_before, moved=moved)
    warnings = [check.warning] if check.warning else []
    return CheckedLead(primary, values, contact_phones, check.removed, errors + check.errors, warnings)


def check_contacts(
    primary: str | None, contacts: Sequence[ContactInput], *, lead: Lead | None = None
) -> tuple[list[str], list[LeadError]]:
    """The contacts' rules alone, for a door that checks them apart from the lead (the admin's
    inline): their numbers, erasure, and (an edit) the lifecycle's refusal to change them."""
    phones, errors = check_contact_phones(primary, [c.phone for c in contacts])
    if lead is not None and lead.pk:
        refused = contacts_changed(lead, contacts, phones) and edit_refused(lead.pk, {"contacts"})
        if refused:
            return phones, [refused]
    erased = [e for e in check_not_erased(None, phones) if not has_error(errors, e.field, e.contact)]
    return phones, errors + erased


def edits(
    lead: Lead,
    *,
    campaign: Campaign,
    phone: str,
    contacts: Sequence[ContactInput] | None,
    phones: list[str],
) -> set[str]:
    """Which of phone, campaign and contacts an edit changes (for the lifecycle's edit refusal);
    ``contacts`` None: not the contacts (checked apart)."""
    stored = Lead.objects.filter(pk=lead.pk).values_list("phone", "campaign_id").first()
    changes: set[str] = set()
    if stored is None or stored[0] != phone:
        changes.add("phone")
    if stored is None or stored[1] != campaign.pk:
        changes.add("campaign")
    if contacts is not None and contacts_changed(lead, contacts, phones):
        changes.add("contacts")
    return changes


def contacts_changed(lead: Lead, contacts: Sequence[ContactInput], phones: Sequence[str]) -> bool:
    before = [
        (c.pk, c.phone, c.variables)
        for c in SecondaryContact.objects.filter(lead_id=lead.pk).order_by("position", "id")
    ]
    after = [(c.id, p, clean_variables(c.variables)) for c, p in zip(contacts, phones, strict=True)]
    return before != after
