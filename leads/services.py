"""Writes that touch a lead and its contacts together, each in one transaction.

Forms and the admin hand raw input here; this module normalises phones, checks the rules that need
other rows (unique primary per campaign, distinct numbers within a lead, required variables, the
move check) and raises ``ValidationError`` keyed by field so a form can show each message in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import connections, transaction

from campaigns.models import Campaign
from compliance import selectors as compliance
from leadcounts import services as lead_counts
from leadmgr.storage import bulk as storage_bulk
from leadmgr.storage.delete import fast_delete
from webhooks import outbox

from . import lifecycle, selectors, textsearch
from . import variables as lead_variables
from .models import CallAttempt, Lead, SecondaryContact, StatusChange
from .phones import InvalidPhone, normalize_phone

E_DUPLICATE_PRIMARY = "{phone} is already a lead in campaign {campaign!r}."
E_ERASED = "{phone} was erased on request: it may not be added again."


class DuplicatePrimary(ValidationError):
    """E_DUPLICATE_PRIMARY, with the lead that already has the number (the form links to it)."""

    def __init__(self, message: str, existing_pk: int) -> None:
        # No params: Django would %-format the message with them, and a campaign name may hold "%".
        super().__init__(message, code="duplicate_primary")
        self.existing_pk = existing_pk


E_CONTACT_IS_PRIMARY = "{phone} is this lead's primary number; a secondary contact needs another number."
E_CONTACT_REPEATED = "{phone} is already secondary contact {n}; each number may appear once."


@dataclass
class ContactInput:
    phone: str
    variables: dict = field(default_factory=dict)
    id: int | None = None  # an existing contact being kept (its call history stays linked)


@dataclass
class LeadSaveResult:
    lead: Lead
    warnings: list[str] = field(default_factory=list)


def clean_variables(values: Mapping | None) -> dict[str, str]:
    """Keep set values only, as strings (an empty value means "not set")."""
    return {
        str(k).strip(): str(v)
        for k, v in (values or {}).items()
        if str(k).strip() and lead_variables.is_set(v)
    }


def validate_phones(
    primary: str, contacts: Sequence[str], region: str | None = None
) -> tuple[str, list[str], dict]:
    """Normalise the primary and the contact numbers; return them and the errors by field.

    Error keys: ``phone`` for the primary, ``contacts-<i>`` for the i-th contact (0-based).
    """
    errors: dict[str, list[str]] = {}
    try:
        primary_e164 = normalize_phone(primary, region)
    except InvalidPhone as exc:
        errors["phone"] = exc.messages
        primary_e164 = ""
    normalised: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(contacts):
        key = f"contacts-{i}"
        try:
            phone = normalize_phone(raw, region)
        except InvalidPhone as exc:
            errors[key] = exc.messages
            normalised.append("")
            continue
        if phone == primary_e164:
            errors[key] = [E_CONTACT_IS_PRIMARY.format(phone=phone)]
        elif phone in seen:
            errors[key] = [E_CONTACT_REPEATED.format(phone=phone, n=seen[phone] + 1)]
        else:
            seen[phone] = i
        normalised.append(phone)
    return primary_e164, normalised, errors


def _check_unique_primary(campaign: Campaign, phone: str, exclude_pk: int | None, errors: dict) -> None:
    if not phone or "phone" in errors:
        return
    clash = Lead.objects.filter(campaign=campaign, phone=phone)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    existing_pk = clash.values_list("pk", flat=True).first()
    if existing_pk is not None:
        message = E_DUPLICATE_PRIMARY.format(phone=phone, campaign=campaign.name)
        errors["phone"] = [DuplicatePrimary(message, existing_pk)]


def _check_not_erased(primary: str, contact_phones: list[str], errors: dict) -> None:
    """A number erased on request may never be added again (compliance/erasure.py)."""
    numbers = [p for p in (primary, *contact_phones) if p]
    erased = {n for n, source in compliance.blocked_numbers(numbers).items() if source == "erasure"}
    if primary in erased and "phone" not in errors:
        errors["phone"] = [E_ERASED.format(phone=primary)]
    for i, phone in enumerate(contact_phones):
        if phone in erased and f"contacts-{i}" not in errors:
            errors[f"contacts-{i}"] = [E_ERASED.format(phone=phone)]


def _save_contacts(lead: Lead, contacts: Sequence[ContactInput], phones: list[str]) -> None:
    existing = {c.pk: c for c in lead.contacts.all()} if lead.pk else {}
    keep = {c.id for c in contacts if c.id in existing}
    SecondaryContact.objects.filter(lead=lead).exclude(pk__in=keep).delete()
    # Move kept contacts out of the way first so a swap of two numbers never meets the unique
    # (lead, phone) constraint half-way.
    updated: list[SecondaryContact] = []
    created: list[SecondaryContact] = []
    for position, (contact, phone) in enumerate(zip(contacts, phones, strict=True)):
        values = clean_variables(contact.variables)
        if contact.id in keep:
            obj = existing[contact.id]
            obj.phone, obj.variables, obj.position = phone, values, position
            updated.append(obj)
        else:
            created.append(SecondaryContact(lead=lead, phone=phone, variables=values, position=position))
    if updated:
        for obj in updated:
            SecondaryContact.objects.filter(pk=obj.pk).update(phone=f"~{obj.pk}")
        SecondaryContact.objects.bulk_update(updated, ["phone", "variables", "position"])
    SecondaryContact.objects.bulk_create(created)


@transaction.atomic
def lead_create(
    *,
    campaign: Campaign,
    phone: str,
    variables: Mapping | None = None,
    contacts: Sequence[ContactInput] = (),
    region: str | None = None,
    removed_variables: Iterable[str] = (),
) -> LeadSaveResult:
    """Create a lead in status Created with its contacts in calling order.

    ``removed_variables``: assistant defaults the operator removed from the form (not inherited).
    """
    primary, contact_phones, errors = validate_phones(phone, [c.phone for c in contacts], region)
    _check_unique_primary(campaign, primary, None, errors)
    _check_not_erased(primary, contact_phones, errors)
    values = clean_variables(variables)
    removed = _check_variables(campaign, values, removed_variables, (), errors)
    if errors:
        raise ValidationError(errors)
    lead = Lead.objects.create(
        campaign=campaign, phone=primary, variables=values, removed_variables=removed or None
    )
    _save_contacts(lead, contacts, contact_phones)
    outbox.lead_created(lead)
    textsearch.catch_up()  # searchable at once through the index, not only as a pending lead
    return LeadSaveResult(lead)


@transaction.atomic
def lead_update(
    *,
    lead: Lead,
    campaign: Campaign,
    phone: str,
    variables: Mapping | None = None,
    contacts: Sequence[ContactInput] = (),
    region: str | None = None,
    removed_variables: Iterable[str] = (),
) -> LeadSaveResult:
    """Change a lead's phone, campaign, variables and contacts (not its status: see lifecycle).

    Moving to another campaign runs the move check: a missing required variable is an error, a
    variable the new assistant does not use is a warning returned with the result.
    ``removed_variables``: defaults the operator removed now; earlier removals are kept unless
    the lead sets the variable again.
    """
    primary, contact_phones, errors = validate_phones(phone, [c.phone for c in contacts], region)
    # Under the row lock: the runner cannot claim the lead between this check and the write.
    current = lifecycle.lock_status(lead.pk)
    refusal = lifecycle.edit_refusal(
        current or "",
        _edited(lead, campaign=campaign, phone=primary, contacts=contacts, phones=contact_phones),
    )
    if refusal:
        raise ValidationError({NON_FIELD_ERRORS: [refusal]})
    _check_unique_primary(campaign, primary, lead.pk, errors)
    _check_not_erased(primary, contact_phones, errors)
    values = clean_variables(variables)
    warnings: list[str] = []
    if campaign.pk != lead.campaign_id:
        check = lead_variables.check_move(values, campaign.assistant)
        if check.error:
            errors["variables"] = [check.error]
        if check.warning:
            warnings.append(check.warning)
    removed = _check_variables(
        campaign,
        values,
        removed_variables,
        lead.removed_variables or (),
        errors,
        moved=campaign.pk != lead.campaign_id,
    )
    if errors:
        raise ValidationError(errors)
    lead.campaign, lead.phone, lead.variables = campaign, primary, values
    lead.removed_variables = removed or None
    lead.save(update_fields=["campaign", "phone", "variables", "removed_variables", "updated_at"])
    _save_contacts(lead, contacts, contact_phones)
    textsearch.catch_up()
    return LeadSaveResult(lead, warnings)


def _check_variables(
    campaign: Campaign,
    values: dict[str, str],
    removed_now: Iterable[str],
    removed_before: Iterable[str],
    errors: dict,
    *,
    moved: bool = False,
) -> list[str]:
    """The required check with removals; returns the defaults the lead will not inherit.

    A required variable removed now is an error that says why; one removed before (under another
    assistant) is simply inherited again. A moved lead's missing required variables are the move
    check's error, already placed.
    """
    assistant = campaign.assistant
    removed, required = lead_variables.removals(assistant, [*removed_now], values)
    if required:
        errors.setdefault("variables", []).append(
            lead_variables.E_REQUIRED_NOT_REMOVABLE.format(
                names=", ".join(required), assistant=assistant.name
            )
        )
        return removed
    earlier, _ = lead_variables.removals(assistant, removed_before, values)
    removed = [name for name in lead_variables.inherited(assistant) if name in {*removed, *earlier}]
    missing = lead_variables.missing_required(assistant, values, removed)
    if missing and not moved:
        errors.setdefault("variables", []).append(
            lead_variables.E_MISSING_REQUIRED.format(names=", ".join(missing))
        )
    return removed


def _edited(
    lead: Lead, *, campaign: Campaign, phone: str, contacts: Sequence[ContactInput], phones: list[str]
) -> set[str]:
    """Which of phone, campaign and contacts an edit changes (for ``lifecycle.edit_refusal``)."""
    stored = Lead.objects.filter(pk=lead.pk).values_list("phone", "campaign_id").first()
    changes: set[str] = set()
    if stored is None or stored[0] != phone:
        changes.add("phone")
    if stored is None or stored[1] != campaign.pk:
        changes.add("campaign")
    before = [
        (c.pk, c.phone, c.variables)
        for c in SecondaryContact.objects.filter(lead_id=lead.pk).order_by("position", "id")
    ]
    after = [(c.id, p, clean_variables(c.variables)) for c, p in zip(contacts, phones, strict=True)]
    if before != after:
        changes.add("contacts")
    return changes


def refresh_statistics(using: str = "default") -> list[str]:
    """Keep SQLite's planner statistics for the leads pages: the leads table and the campaigns it
    joins (sorted by campaign, the table is read campaign by campaign only when SQLite knows they
    are few). Called after an import, which is how leads arrive by the thousand, and after
    migrate and flush (a flushed table's statistics describe rows that are gone)."""
    return storage_bulk.refresh_statistics(Lead, Campaign, conn=connections[using])


def leads_delete(leads) -> tuple[int, int]:
    """Delete a filtered set of leads with their contacts, history and calls, in one transaction.

    Returns (leads deleted, secondary contacts deleted). The database's cascades (DB_CASCADE) make
    it one statement; on SQLite, though, they run a program per deleted lead and child table, a
    quarter of the cost of deleting 100k leads. So where the storage can switch foreign-key checks
    off (``storage.delete.fast_delete``: SQLite, outside any transaction), the children go first, a
    statement each, then the leads: the same rows, and the counts come from the deletes themselves.
    """
    with fast_delete(children_known=_children_known) as off, transaction.atomic():
        if not off:
            contacts = selectors.contact_count(leads)
            return lead_counts.delete_leads(leads), contacts
        ids = leads.order_by().values("pk")
        # A call of another lead's contact would be odd, but the schema allows it: DB_SET_NULL.
        CallAttempt.objects.filter(contact__lead__in=ids).exclude(lead__in=ids).update(contact=None)
        # Each is one DELETE: Django leaves DB_CASCADE / DB_SET_NULL relations to the database.
        CallAttempt.objects.filter(lead__in=ids).delete()
        StatusChange.objects.filter(lead__in=ids).delete()
        contacts, _ = SecondaryContact.objects.filter(lead__in=ids).delete()
        deleted = lead_counts.delete_leads(leads)
    return deleted, contacts


def _children_known() -> bool:
    """Whether every table that points at a lead is one ``leads_delete`` empties itself."""
    lead_children = {rel.related_model for rel in Lead._meta.related_objects}
    contact_children = {rel.related_model for rel in SecondaryContact._meta.related_objects}
    return lead_children == {SecondaryContact, StatusChange, CallAttempt} and contact_children == {
        CallAttempt
    }
