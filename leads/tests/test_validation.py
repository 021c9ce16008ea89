"""The lead rules' typed errors (leads/validation.py), and the admin saving through the lead services."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from compliance import erasure
from leadmgr.testing import make_assistant, make_campaign, make_lead
from leads import services, validation
from leads.models import Lead, SecondaryContact
from leads.validation import CONTACT_PHONE, PHONE, VARIABLES, ContactInput, LeadError


def test_it_names_the_contact_of_each_phone_error():
    primary, contacts, errors = validation.check_phones(
        "+1 415 555 0100", ["+14155550100", "555", "+14155550101"]
    )
    assert (primary, contacts) == ("+14155550100", ["+14155550100", "", "+14155550101"])
    assert [(e.field, e.contact) for e in errors] == [(CONTACT_PHONE, 0), (CONTACT_PHONE, 1)]
    assert errors[0].message == validation.E_CONTACT_IS_PRIMARY.format(phone="+14155550100")


def test_contacts_checked_apart_from_an_unknown_primary_are_only_compared_with_each_other():
    phones, errors = validation.check_contact_phones(None, ["+14155550101", "+1 415 555 0101"])
    assert phones == ["+14155550101", "+14155550101"]
    assert errors == [
        LeadError(CONTACT_PHONE, validation.E_CONTACT_REPEATED.format(phone="+14155550101", n=1), contact=1)
    ]


def test_a_duplicate_primary_names_the_lead_that_has_the_number(campaign):
    existing = make_lead(campaign, phone="+14155550100")
    checked = validation.check_lead(campaign=campaign, phone="+14155550100", variables={"customer_name": "A"})
    assert [(e.field, e.existing_pk) for e in checked.errors] == [(PHONE, existing.pk)]


def test_the_service_raises_typed_errors_that_keep_the_form_keys(campaign):
    with pytest.raises(validation.LeadInvalid) as exc:
        services.lead_create(campaign=campaign, phone="+14155550100", contacts=[ContactInput("+14155550100")])
    assert {(e.field, e.contact) for e in exc.value.lead_errors} == {(CONTACT_PHONE, 0), (VARIABLES, None)}
    assert set(exc.value.message_dict) == {"contacts-0", "variables"}


def test_an_erased_number_is_refused_on_a_contact(campaign, admin_user):
    erasure.erase_number(number="+14155550109", user=admin_user)
    with pytest.raises(validation.LeadInvalid) as exc:
        services.lead_create(
            campaign=campaign,
            phone="+14155550100",
            variables={"customer_name": "A"},
            contacts=[ContactInput("+14155550109")],
        )
    assert exc.value.message_dict == {"contacts-0": [validation.E_ERASED.format(phone="+14155550109")]}


def _admin_post(lead: Lead, phone: str, campaign, contacts: list[tuple[int | None, str, int]]) -> dict:
    data = {
        "phone": phone,
        "campaign": campaign.pk,
        "variables": json.dumps(lead.variables),
        "contacts-TOTAL_FORMS": str(len(contacts)),
        "contacts-INITIAL_FORMS": str(sum(1 for pk, _, _ in contacts if pk)),
        "history-TOTAL_FORMS": "0",
        "history-INITIAL_FORMS": "0",
        "calls-TOTAL_FORMS": "0",
        "calls-INITIAL_FORMS": "0",
    }
    for i, (pk, contact_phone, position) in enumerate(contacts):
        data |= {
            f"contacts-{i}-id": str(pk or ""),
            f"contacts-{i}-lead": str(lead.pk),
            f"contacts-{i}-phone": contact_phone,
            f"contacts-{i}-position": str(position),
            f"contacts-{i}-variables": "{}",
        }
    return data


def test_the_admin_saves_contacts_in_the_calling_order_their_positions_give(admin_client, campaign):
    lead = make_lead(campaign, contacts=["+14155550101", "+14155550102"])
    first, second = lead.contacts.order_by("position")
    data = _admin_post(
        lead,
        lead.phone,
        campaign,
        [(first.pk, first.phone, 5), (second.pk, second.phone, 1), (None, "+1 415 555 0103", 3)],
    )
    response = admin_client.post(reverse("admin:leads_lead_change", args=[lead.pk]), data)
    assert response.status_code == 302
    assert list(
        SecondaryContact.objects.filter(lead=lead).order_by("position").values_list("pk", "phone")
    ) == [
        (second.pk, "+14155550102"),
        (SecondaryContact.objects.get(phone="+14155550103").pk, "+14155550103"),
        (first.pk, "+14155550101"),
    ]


def test_the_admin_moves_a_lead_with_the_move_checks_warning(admin_client, campaign):
    other = make_campaign("Other", assistant=make_assistant("Bare", variables=[("customer_name", "", True)]))
    lead = make_lead(campaign, variables={"customer_name": "Sarah", "company": "Acme"})
    response = admin_client.post(
        reverse("admin:leads_lead_change", args=[lead.pk]),
        _admin_post(lead, lead.phone, other, []),
        follow=True,
    )
    assert Lead.objects.get(pk=lead.pk).campaign == other
    warning = "The new campaign's assistant does not use these variables (they are kept): company."
    assert warning in [str(m) for m in response.context["messages"]]


def test_the_admin_refuses_an_erased_number(admin_client, admin_user, campaign):
    erasure.erase_number(number="+14155550109", user=admin_user)
    lead = make_lead(campaign, variables={"customer_name": "Sarah"})
    response = admin_client.post(
        reverse("admin:leads_lead_change", args=[lead.pk]), _admin_post(lead, "+14155550109", campaign, [])
    )
    assert response.status_code == 200
    assert validation.E_ERASED.format(phone="+14155550109") in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).phone == lead.phone
