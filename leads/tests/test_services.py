from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from leadmgr.testing import make_assistant, make_campaign, make_lead
from leads import services
from leads.models import Lead, SecondaryContact
from leads.services import ContactInput


def test_it_creates_a_lead_in_created_with_contacts_in_calling_order(campaign):
    result = services.lead_create(
        campaign=campaign,
        phone="+1 (415) 555-0100",
        variables={"customer_name": "John Smith", "role": "CEO", "company": ""},
        contacts=[
            ContactInput("+1 415 555 0101", {"contact_name": "Jane Doe", "role": "CTO"}),
            ContactInput("+44 20 7946 0958"),
        ],
    )
    lead = Lead.objects.get(pk=result.lead.pk)
    assert (lead.phone, lead.status, lead.variables) == (
        "+14155550100",
        "created",
        {"customer_name": "John Smith", "role": "CEO"},  # an empty value is "not set"
    )
    assert list(lead.contacts.values_list("phone", "position", "variables")) == [
        ("+14155550101", 0, {"contact_name": "Jane Doe", "role": "CTO"}),
        ("+442079460958", 1, {}),
    ]


def test_it_rejects_a_primary_already_in_the_campaign(campaign):
    make_lead(campaign, phone="+14155550100")
    with pytest.raises(ValidationError) as exc:
        services.lead_create(campaign=campaign, phone="+1 415 555 0100", variables={"customer_name": "X"})
    assert exc.value.message_dict == {"phone": ["+14155550100 is already a lead in campaign 'Spring'."]}


def test_it_rejects_a_secondary_equal_to_the_primary_or_to_another_secondary(campaign):
    with pytest.raises(ValidationError) as exc:
        services.lead_create(
            campaign=campaign,
            phone="+14155550100",
            variables={"customer_name": "X"},
            contacts=[
                ContactInput("+1 415 555 0100"),
                ContactInput("+14155550101"),
                ContactInput("+1-415-555-0101"),
            ],
        )
    assert exc.value.message_dict == {
        "contacts-0": [
            "+14155550100 is this lead's primary number; a secondary contact needs another number."
        ],
        "contacts-2": ["+14155550101 is already secondary contact 2; each number may appear once."],
    }
    assert not Lead.objects.exists()


def test_it_requires_the_assistants_required_variables(campaign):
    with pytest.raises(ValidationError) as exc:
        services.lead_create(campaign=campaign, phone="+14155550100", variables={"company": "Acme"})
    assert exc.value.message_dict == {"variables": ["Required variables are not set: customer_name."]}


def test_it_reports_every_bad_field_at_once(campaign):
    with pytest.raises(ValidationError) as exc:
        services.lead_create(campaign=campaign, phone="555", contacts=[ContactInput("nope")])
    assert set(exc.value.message_dict) == {"phone", "contacts-0", "variables"}


def test_reordering_contacts_keeps_them_and_their_ids(campaign):
    lead = make_lead(campaign, contacts=["+14155550101", "+14155550102"])
    first, second = lead.contacts.order_by("position")
    services.lead_update(
        lead=lead,
        campaign=campaign,
        phone=lead.phone,
        variables=lead.variables,
        contacts=[ContactInput(second.phone, id=second.pk), ContactInput(first.phone, id=first.pk)],
    )
    assert list(lead.contacts.order_by("position").values_list("pk", "phone")) == [
        (second.pk, "+14155550102"),
        (first.pk, "+14155550101"),
    ]


def test_swapping_two_contact_numbers_in_place_does_not_trip_the_unique_constraint(campaign):
    lead = make_lead(campaign, contacts=["+14155550101", "+14155550102"])
    first, second = lead.contacts.order_by("position")
    services.lead_update(
        lead=lead,
        campaign=campaign,
        phone=lead.phone,
        variables=lead.variables,
        contacts=[ContactInput(second.phone, id=first.pk), ContactInput(first.phone, id=second.pk)],
    )
    assert list(lead.contacts.order_by("position").values_list("pk", "phone")) == [
        (first.pk, "+14155550102"),
        (second.pk, "+14155550101"),
    ]


def test_removing_and_adding_contacts(campaign):
    lead = make_lead(campaign, contacts=["+14155550101", "+14155550102"])
    keep = lead.contacts.get(phone="+14155550102")
    services.lead_update(
        lead=lead,
        campaign=campaign,
        phone=lead.phone,
        variables=lead.variables,
        contacts=[ContactInput(keep.phone, id=keep.pk), ContactInput("+14155550103", {"role": "CFO"})],
    )
    assert list(lead.contacts.order_by("position").values_list("phone", "variables")) == [
        ("+14155550102", {}),
        ("+14155550103", {"role": "CFO"}),
    ]
    assert SecondaryContact.objects.count() == 2


def test_moving_a_lead_checks_variables_against_the_new_assistant(campaign):
    reminder = make_campaign(
        "Reminders",
        assistant=make_assistant(
            "Reminder", variables=[("customer_name", "", True), ("appointment_date", "", True)]
        ),
    )
    lead = make_lead(campaign, variables={"customer_name": "Sarah", "company": "Acme"})
    with pytest.raises(ValidationError) as exc:
        services.lead_update(lead=lead, campaign=reminder, phone=lead.phone, variables=lead.variables)
    assert exc.value.message_dict == {
        "variables": [
            "The new campaign's assistant requires variables this lead does not set: appointment_date."
        ]
    }
    assert Lead.objects.get(pk=lead.pk).campaign == campaign

    result = services.lead_update(
        lead=lead,
        campaign=reminder,
        phone=lead.phone,
        variables=lead.variables | {"appointment_date": "Dec 1"},
    )
    assert Lead.objects.get(pk=lead.pk).campaign == reminder
    assert result.warnings == [
        "The new campaign's assistant does not use these variables (they are kept): company."
    ]


def test_moving_a_lead_to_a_campaign_where_its_phone_exists_is_refused(campaign):
    other = make_campaign("Autumn", assistant=campaign.assistant)
    make_lead(other, phone="+14155550100")
    lead = make_lead(campaign, phone="+14155550100")
    with pytest.raises(ValidationError) as exc:
        services.lead_update(lead=lead, campaign=other, phone=lead.phone, variables=lead.variables)
    assert exc.value.message_dict == {"phone": ["+14155550100 is already a lead in campaign 'Autumn'."]}
