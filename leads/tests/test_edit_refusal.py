"""A lead under a call attempt keeps its numbers and campaign: one rule (lifecycle.edit_refusal)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from leadmgr.testing import make_campaign, make_lead
from leads import lifecycle, services
from leads.models import Lead, Status

pytestmark = pytest.mark.django_db


def test_edit_refusal_names_what_may_not_change_while_processing():
    assert lifecycle.edit_refusal(Status.CREATED, ["phone", "contacts", "campaign"]) is None
    assert lifecycle.edit_refusal(Status.PROCESSING, []) is None
    assert lifecycle.edit_refusal(Status.PROCESSING, ["contacts"]) == lifecycle.E_EDIT_UNDER_WAY.format(
        what="secondary contacts"
    )
    assert lifecycle.edit_refusal(
        Status.PROCESSING, ["campaign", "phone"]
    ) == lifecycle.E_EDIT_UNDER_WAY.format(what="phone number and campaign")


def test_the_lead_service_refuses_contact_phone_and_campaign_edits_while_processing(campaign):
    lead = make_lead(campaign, contacts=["+14155550101"], status=Status.PROCESSING)
    other = make_campaign("Other", campaign.assistant)
    contact = lead.contacts.get()
    keep = [services.ContactInput(phone=contact.phone, id=contact.pk)]
    for change in (
        {"contacts": [services.ContactInput(phone="+14155550102")]},
        {"contacts": keep, "phone": "+14155550199"},
        {"contacts": keep, "campaign": other},
    ):
        fields = {"campaign": campaign, "phone": lead.phone, "variables": lead.variables} | change
        with pytest.raises(ValidationError) as refused:
            services.lead_update(lead=Lead.objects.get(pk=lead.pk), **fields)
        assert "A call attempt is under way" in str(refused.value)
    stored = Lead.objects.get(pk=lead.pk)
    assert (stored.phone, stored.campaign_id, list(stored.contacts.values_list("phone", flat=True))) == (
        lead.phone,
        campaign.pk,
        ["+14155550101"],
    )
    # Variables may still change.
    services.lead_update(
        lead=stored, campaign=campaign, phone=lead.phone, variables={"customer_name": "Ann"}, contacts=keep
    )
    assert Lead.objects.get(pk=lead.pk).variables == {"customer_name": "Ann"}


def test_the_lead_form_shows_the_refusal(client, operator, campaign):
    from .test_views_lead import form_data

    lead = make_lead(campaign, status=Status.PROCESSING)
    client.force_login(operator)
    response = client.post(
        f"/leads/{lead.pk}/edit/", form_data(lead.phone, campaign, contacts=["+14155550102"])
    )
    assert response.status_code == 200
    assert "A call attempt is under way: the secondary contacts cannot be changed" in response.text
    assert not Lead.objects.get(pk=lead.pk).contacts.exists()


def test_the_admin_refuses_a_phone_change_while_processing(client, admin_user, campaign):
    lead = make_lead(campaign, status=Status.PROCESSING)
    client.force_login(admin_user)
    data = {
        "phone": "+14155550188",
        "campaign": campaign.pk,
        "variables": '{"customer_name": "Sarah Johnson"}',
        "contacts-TOTAL_FORMS": "0",
        "contacts-INITIAL_FORMS": "0",
        "history-TOTAL_FORMS": "0",
        "history-INITIAL_FORMS": "0",
        "calls-TOTAL_FORMS": "0",
        "calls-INITIAL_FORMS": "0",
    }
    response = client.post(f"/admin/leads/lead/{lead.pk}/change/", data)
    assert response.status_code == 200
    assert "A call attempt is under way: the phone number cannot be changed" in response.text
    assert Lead.objects.get(pk=lead.pk).phone == lead.phone
