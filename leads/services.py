"""Writes that touch a lead and its contacts together, each in one transaction.

Forms, the admin and the API hand raw input here; ``validation.check_lead`` normalises phones and
checks the rules (unique primary per campaign, distinct numbers within a lead, erased numbers,
required variables, the move check, the edit refused while a call is under way) and this module
raises its typed errors as ``validation.LeadInvalid``, a ``ValidationError`` keyed by field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Unpack

from django.db import connections, transaction

from campaigns.models import Campaign
from leadcounts import services as lead_counts
from leadmgr.storage import bulk as storage_bulk
from leadmgr.storage.delete import fast_delete
from leadmgr.storage.locking import lock_now, retried_on_deadlock
from webhooks import outbox

from . import lifecycle, selectors, textsearch, validation
from .models import CallAttempt, Lead, SecondaryContact, Status, StatusChange

# The rules' messages and input shapes live in ``validation``; these names stay for the import.
from .validation import (  # noqa: F401
    E_CONTACT_IS_PRIMARY,
    E_CONTACT_REPEATED,
    E_DUPLICATE_PRIMARY,
    E_ERASED,
    ContactInput,
    LeadFields,
    LeadInvalid,
    clean_variables,
)


@dataclass
class LeadSaveResult:
    lead: Lead
    warnings: list[str] = field(default_factory=list)


def validate_phones(
    primary: str, contacts: Sequence[str], region: str | None = None
) -> tuple[str, list[str], dict]:
    """``validation.check_phones`` with its errors keyed as a form's (``phone``, ``contacts-<i>``),
    the shape the import's worker processes hand back."""
    primary_e164, normalised, errors = validation.check_phones(primary, contacts, region)
    return primary_e164, normalised, validation.errors_by_key(errors)


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


def _checked(fields: LeadFields, lead: Lead | None = None) -> validation.CheckedLead:
    """``validation.check_lead`` of the input; ``LeadInvalid`` with its errors if any."""
    checked = validation.check_lead(**fields, lead=lead)
    if checked.errors:
        raise LeadInvalid(checked.errors)
    return checked


@transaction.atomic
def lead_create(**fields: Unpack[LeadFields]) -> LeadSaveResult:
    """Create a lead in status Created with its contacts in calling order (``LeadFields``).

    ``removed_variables``: assistant defaults the operator removed from the form (not inherited).
    """
    checked = _checked(fields)
    lead = Lead.objects.create(
        campaign=fields["campaign"],
        phone=checked.phone,
        variables=checked.values,
        removed_variables=checked.removed or None,
    )
    _save_contacts(lead, fields.get("contacts", ()), checked.contact_phones)
    outbox.lead_created(lead)
    textsearch.catch_up()  # searchable at once through the index, not only as a pending lead
    return LeadSaveResult(lead)


@transaction.atomic
def lead_update(
    *,
    lead: Lead,
    status: str = "",
    user=None,
    reason: str = "",
    scheduled_at: dt.datetime | None = None,
    **fields: Unpack[LeadFields],
) -> LeadSaveResult:
    """Change a lead's phone, campaign, variables and contacts (``LeadFields``), then (``status``) its status through
    the lifecycle, all in one transaction: a refused status change (``lifecycle.TransitionError``)
    keeps the edit unsaved too.

    Moving to another campaign runs the move check: a missing required variable is an error, a
    variable the new assistant does not use is a warning returned with the result.
    ``removed_variables``: defaults the operator removed now; earlier removals are kept unless
    the lead sets the variable again.
    """
    # The check takes the lead's row lock: the runner cannot claim the lead before the write.
    checked = _checked(fields, lead)
    lead.campaign, lead.phone, lead.variables = fields["campaign"], checked.phone, checked.values
    lead.removed_variables = checked.removed or None
    lead.save(update_fields=["campaign", "phone", "variables", "removed_variables", "updated_at"])
    _save_contacts(lead, fields.get("contacts", ()), checked.contact_phones)
    textsearch.catch_up()
    if status:
        lifecycle.set_status(lead, status, user=user, reason=reason, scheduled_at=scheduled_at)
    return LeadSaveResult(lead, checked.warnings)


def refresh_statistics(using: str = "default") -> list[str]:
    """Keep SQLite's planner statistics for the leads pages: the leads table and the campaigns it
    joins (sorted by campaign, the table is read campaign by campaign only when SQLite knows they
    are few). Called after an import, which is how leads arrive by the thousand, and after
    migrate and flush (a flushed table's statistics describe rows that are gone)."""
    return storage_bulk.refresh_statistics(Lead, Campaign, conn=connections[using])


@retried_on_deadlock
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
            # The runner locks the leads it is calling (Processing) in id order, those of a dial
            # and then those whose attempts it ends. The DELETE locks rows in the order it scans
            # them: holding one while it waited for another closed a cycle with the runner
            # ("deadlock detected"). Those leads are taken first, in id order; they are few.
            lock_now(leads.filter(status=Status.PROCESSING).order_by("pk"))
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
