"""Erasure on request: a person's number leaves every campaign, and can never come back.

Every lead whose primary is the number is deleted (its contacts, history and calls with it), every
secondary contact with the number is deleted, other leads' calls to it keep no number, the texts
that could quote it (history reasons, export filters, the admin's log) lose it, and the number's
keyed hash joins the do-not-call list (``compliance.hashing``) so a later import, form or API
create of the number is refused. The ``Erasure`` row says who, when and how many rows; never the
number.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.admin.models import LogEntry
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Replace
from django.utils import timezone

from campaigns.models import Campaign
from leadmgr.storage.locking import lock_now, retried_on_deadlock
from leads import textsearch
from leads.models import CallAttempt, Lead, SecondaryContact, StatusChange
from leads.phones import normalize_phone

from .hashing import number_hash
from .models import DoNotCallEntry, Erasure, ExportRecord

ERASED = "[erased]"  # what replaces the number inside a kept text
REASON_ERASED = "Erased on request."


def _scrub_text(model, field: str, *forms: str) -> int:
    """Replace each form of the number, in turn, inside ``field`` of every row quoting it; returns
    the rows changed (by each form)."""
    from django.db.models import Value

    return sum(
        model.objects.filter(**{f"{field}__contains": form}).update(
            **{field: Replace(field, Value(form), Value(ERASED))}
        )
        for form in forms
    )


@retried_on_deadlock
@transaction.atomic
def erase_number(
    *, number: str, user=None, channel: str = "command", now: dt.datetime | None = None
) -> Erasure:
    """Erase ``number`` (any human form) everywhere. Raises ValidationError for an invalid number."""
    e164 = normalize_phone(number)
    now = now or timezone.now()
    by = user if getattr(user, "pk", None) else None  # an anonymous user is no one
    # The record, filled in as the rows go (written last, in the same transaction).
    erasure = Erasure(performed_by=by, performed_at=now, channel=channel)
    # campaign IN (all) + phone: the unique (campaign, phone) index, probed once per campaign.
    campaign_ids = list(Campaign.objects.values_list("pk", flat=True))
    lead_ids = list(
        Lead.objects.filter(campaign_id__in=campaign_ids, phone=e164).values_list("pk", flat=True)
    )
    contacts = SecondaryContact.objects.filter(phone=e164)
    calls_to_it = CallAttempt.objects.filter(phone=e164)
    # Every lead whose rows change, locked first and in id order, as the runner takes them (a lead,
    # then its calls): taking a call or a contact before its lead could close a cycle with it.
    lock_now(
        Lead.objects.filter(
            Q(pk__in=lead_ids)
            | Q(pk__in=contacts.values("lead_id"))
            | Q(pk__in=calls_to_it.values("lead_id"))
        ).order_by("pk")
    )
    textsearch.forget(lead_ids)
    # Other leads' calls to the contact: no number, no contact (the contact goes below).
    calls = calls_to_it.exclude(lead_id__in=lead_ids).update(
        phone="", contact=None, provider_ref="", detail=REASON_ERASED
    )
    erasure.contacts_deleted, _ = contacts.delete()
    # The leads with their contacts, history and calls (the database's cascades).
    CallAttempt.objects.filter(lead_id__in=lead_ids).delete()
    StatusChange.objects.filter(lead_id__in=lead_ids).delete()
    erasure.contacts_deleted += SecondaryContact.objects.filter(lead_id__in=lead_ids).delete()[0]
    erasure.leads_deleted = Lead.objects.filter(pk__in=lead_ids).delete()[0]
    digits = e164[1:]  # how a search box or a reason may quote it (contains the E.164 form too)
    erasure.history_scrubbed = _scrub_text(StatusChange, "reason", e164, digits)
    erasure.calls_scrubbed = calls + _scrub_text(CallAttempt, "detail", e164, digits)
    ExportRecord.objects.filter(filters__icontains=digits).update(filters={"erased": True})
    LogEntry.objects.filter(Q(object_repr__contains=digits) | Q(change_message__contains=digits)).delete()
    erasure.entries_scrubbed, _ = DoNotCallEntry.objects.filter(number=e164).delete()
    digest = number_hash(e164)
    DoNotCallEntry.objects.filter(number_hash=digest).delete()
    DoNotCallEntry.objects.create(
        number=None,
        number_hash=digest,
        source=DoNotCallEntry.Source.ERASURE,
        reason=REASON_ERASED,
        added_by=by,
        added_at=now,
    )
    erasure.save()
    return erasure
