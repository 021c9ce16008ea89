"""Test calls: Staff place one call from a campaign page, to a number they type, saying the
assistant's message as a chosen lead of the campaign would hear it, through the configured provider.

The provider is used through its interface, as the runner uses it (``place`` one ``CallRequest``,
then whatever ``due_results`` has at once), but nothing the runner owns is written: the call is a
``TestCall`` row, never a ``CallAttempt``, and no lead's status, attempts or next attempt change.
Its ``call_id`` is the test call's id negated, so it can never be taken for a lead's call: a
callback quoting it is answered "unknown call". No callback URL is sent (no result is expected);
the page shows whether the provider took the call, its reference, and the outcome when the
provider had it at once (the simulated provider with ``LEADMGR_SIMULATED_SPEEDUP=0``).
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from compliance.selectors import block_reason, blocked_numbers
from leads import variables as lead_variables
from leads.models import Lead
from leads.phones import InvalidPhone, normalize_phone

from .models import Campaign, TestCall
from .providers import CallRequest, Provider, get_provider

SHOWN = 10  # test calls listed on the campaign page

E_NO_LEAD = "No lead {ref!r} in this campaign: give the id of one of its leads or its phone number."
E_BLOCKED = "{phone} is {reason}: a test call is not placed to it."


class TestCallRefused(Exception):
    __test__ = False  # not a test class

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def find_lead(campaign: Campaign, ref: str) -> Lead | None:
    """A lead of ``campaign`` by its id or its phone number (as typed: normalised first)."""
    ref = (ref or "").strip().lstrip("#")
    if ref.isdigit() and len(ref) <= 18:
        lead = Lead.objects.filter(campaign=campaign, pk=int(ref)).first()
        if lead is not None:
            return lead
    try:
        phone = normalize_phone(ref)
    except InvalidPhone:  # not a number either: no such lead
        return None
    return Lead.objects.filter(campaign=campaign, phone=phone).first()


def message_for(campaign: Campaign, lead: Lead) -> tuple[dict, str]:
    """The lead's effective variables and the assistant's message rendered with them (as the runner
    renders it for the lead's primary number)."""
    assistant = campaign.assistant
    values = lead_variables.effective(assistant, lead.variables, None, lead.removed_variables)
    return values, lead_variables.render_message(assistant.message_template, values).text


def place_test_call(
    *,
    campaign: Campaign,
    phone: str,
    lead: Lead,
    user,
    provider: Provider | None = None,
    now: dt.datetime | None = None,
) -> TestCall:
    """Place one test call and record it; TestCallRefused for a number on a do-not-call list."""
    phone = normalize_phone(phone)
    blocked = blocked_numbers([phone], campaign)
    if phone in blocked:
        raise TestCallRefused(E_BLOCKED.format(phone=phone, reason=block_reason(blocked[phone])))
    provider = provider or get_provider()
    values, message = message_for(campaign, lead)
    # Committed before the provider is asked (its answer may take seconds: no transaction waits on it).
    with transaction.atomic():
        call = TestCall.objects.create(
            campaign=campaign,
            placed_by=user if getattr(user, "pk", None) else None,
            placed_at=now or timezone.now(),
            phone=phone,
            source_lead_id=lead.pk,
            source_lead_phone=lead.phone,
            message=message,
            provider=provider.name,
        )
    request = CallRequest(
        call_id=-call.pk,
        lead_id=lead.pk,
        attempt=0,
        to=phone,
        numbers=[phone],
        contact_index=0,
        variables=values,
        message=message,
        campaign=campaign.name,
        assistant=campaign.assistant.name,
        callback_url="",
    )
    placement = provider.place([request])[0]
    result = next((r for r in provider.due_results() if r.call_id == request.call_id), None)
    call.accepted = placement.accepted
    call.provider_ref = placement.provider_ref or (result.provider_ref if result else "")
    call.outcome = result.outcome if result and placement.accepted else ""
    call.detail = placement.detail or (result.detail if result else "")
    call.save(update_fields=["accepted", "provider_ref", "outcome", "detail"])
    return call


def latest(campaign: Campaign | int) -> list[TestCall]:
    campaign_id = campaign if isinstance(campaign, int) else campaign.pk
    return list(TestCall.objects.filter(campaign_id=campaign_id).select_related("placed_by")[:SHOWN])
