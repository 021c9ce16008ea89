"""The lead form (new and edit), its htmx variables partial, the lead page and quick status changes."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.messages import get_messages
from django.test import override_settings
from django.utils.html import escape

from leadmgr.testing import make_assistant, make_campaign, make_lead
from leads import lifecycle, services
from leads import variables as lead_variables
from leads.models import CallAttempt, Lead, SecondaryContact, Status
from leads.phones import E_PHONE_NEEDS_COUNTRY


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def form_data(phone, campaign, variables=None, contacts=(), **extra) -> dict:
    """The POST the lead form sends: variables and contacts as formsets, contacts in ORDER."""
    variables = {"customer_name": "Sarah Johnson"} if variables is None else variables
    data = {
        "phone": phone,
        "campaign": campaign.pk,
        "vars-TOTAL_FORMS": str(len(variables)),
        "vars-INITIAL_FORMS": "0",
        "contacts-TOTAL_FORMS": str(len(contacts)),
        "contacts-INITIAL_FORMS": "0",
    }
    for i, (name, value) in enumerate(variables.items()):
        data |= {f"vars-{i}-name": name, f"vars-{i}-value": value}
    for i, contact in enumerate(contacts):
        contact = {"phone": contact} if isinstance(contact, str) else contact
        data |= {f"contacts-{i}-phone": contact["phone"], f"contacts-{i}-ORDER": contact.get("order", i + 1)}
        if "id" in contact:
            data[f"contacts-{i}-id"] = contact["id"]
        if contact.get("delete"):
            data[f"contacts-{i}-DELETE"] = "on"
        own = contact.get("variables", {})
        data |= {f"contacts-{i}-vars-TOTAL_FORMS": str(len(own)), f"contacts-{i}-vars-INITIAL_FORMS": "0"}
        for j, (name, value) in enumerate(own.items()):
            data |= {f"contacts-{i}-vars-{j}-name": name, f"contacts-{i}-vars-{j}-value": value}
    return data | extra


@pytest.fixture
def signed_in(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def reminder_campaign(db):
    assistant = make_assistant("Reminder", [("customer_name", "", True), ("appointment_date", "", True)])
    return make_campaign("Dental", assistant)


# --- New lead -------------------------------------------------------------------------------


def test_the_form_uses_the_product_words(signed_in, campaign, django_assert_num_queries):
    # session, user, permissions (user's, groups'), campaign choices
    with django_assert_num_queries(5):
        page = signed_in.get("/leads/new/").content.decode()
    for word in ["Phone number", "Campaign", "Status", "Add Secondary Contact", "Created"]:
        assert word in page


def test_it_creates_a_lead_with_contacts_in_the_chosen_order(signed_in, campaign):
    data = form_data(
        "+1 (415) 555-0123",
        campaign,
        {"customer_name": "Sarah Johnson", "company": "TechStart", "industry": "Software"},
        [
            {"phone": "+14155550124", "order": 2},
            {"phone": "+44 20 7946 0958", "order": 1, "variables": {"contact_name": "Jane Doe"}},
        ],
    )
    response = signed_in.post("/leads/new/", data)
    lead = Lead.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/leads/{lead.pk}/"
    assert (lead.phone, lead.status, lead.campaign) == ("+14155550123", Status.CREATED, campaign)
    assert lead.variables == {
        "customer_name": "Sarah Johnson",
        "company": "TechStart",
        "industry": "Software",
    }
    assert list(lead.contacts.values_list("phone", "variables", "position")) == [
        ("+442079460958", {"contact_name": "Jane Doe"}, 0),
        ("+14155550124", {}, 1),
    ]


def test_removed_contacts_and_variables_are_not_saved(signed_in, campaign):
    data = form_data(
        "+14155550123",
        campaign,
        {"customer_name": "Ann", "company": "X"},
        [{"phone": "+14155550124", "delete": True}],
    )
    data["vars-1-DELETE"] = "on"
    signed_in.post("/leads/new/", data)
    lead = Lead.objects.get()
    assert lead.variables == {"customer_name": "Ann"} and not lead.contacts.exists()


def test_it_enforces_required_variables(signed_in, campaign):
    response = signed_in.post("/leads/new/", form_data("+14155550123", campaign, {"company": "X"}))
    assert response.status_code == 200
    assert lead_variables.E_MISSING_REQUIRED.format(names="customer_name") in response.content.decode()
    assert not Lead.objects.exists()


def test_a_national_number_without_a_region_asks_for_the_country_code(signed_in, campaign):
    response = signed_in.post("/leads/new/", form_data("(415) 555-0123", campaign))
    assert response.context["form"].errors["phone"] == [E_PHONE_NEEDS_COUNTRY.format(value="(415) 555-0123")]


@override_settings(LEADMGR_DEFAULT_REGION="US")
def test_a_national_number_is_normalised_when_the_region_is_known(signed_in, campaign):
    signed_in.post("/leads/new/", form_data("(415) 555-0123", campaign))
    assert Lead.objects.get().phone == "+14155550123"


def test_duplicate_secondary_numbers_are_refused_on_their_field(signed_in, campaign):
    data = form_data("+14155550123", campaign, contacts=["+1 415 555 0123", "+14155550124", "+14155550124"])
    response = signed_in.post("/leads/new/", data)
    forms = response.context["editor"].contacts.forms
    assert forms[0].errors["phone"] == [services.E_CONTACT_IS_PRIMARY.format(phone="+14155550123")]
    assert forms[2].errors["phone"] == [services.E_CONTACT_REPEATED.format(phone="+14155550124", n=2)]
    assert "is this lead&#x27;s primary number" in response.content.decode()
    assert not Lead.objects.exists()


def test_a_primary_number_already_in_the_campaign_is_refused(signed_in, campaign, lead):
    response = signed_in.post("/leads/new/", form_data(lead.phone, campaign))
    assert response.context["form"].errors["phone"] == [
        services.E_DUPLICATE_PRIMARY.format(phone=lead.phone, campaign=campaign.name)
    ]


# --- The variables partial (htmx) -----------------------------------------------------------


def test_choosing_a_campaign_prefills_its_variables(signed_in, campaign, django_assert_num_queries):
    # session, user, permissions (user's, groups'), campaign with assistant, its variables
    with django_assert_num_queries(6):
        response = signed_in.get(f"/leads/form/variables/?campaign={campaign.pk}", HTTP_HX_REQUEST="true")
    rows = [(f["name"].value(), f["value"].value()) for f in response.context["variables"].forms]
    assert rows == [("customer_name", ""), ("company", "Acme")]
    assert response.context["required_names"] == {"customer_name"}
    assert "required" in response.content.decode()
    assert json.loads(response.context["prefilled_json"]) == {"company": "Acme"}


def test_switching_campaign_keeps_typed_values_and_drops_untouched_defaults(
    signed_in, campaign, reminder_campaign
):
    query = (
        f"campaign={reminder_campaign.pk}&vars-TOTAL_FORMS=3&vars-0-name=customer_name&vars-0-value=Ann"
        "&vars-1-name=company&vars-1-value=Acme&vars-2-name=note&vars-2-value=VIP"
        "&prefilled=%7B%22company%22%3A%20%22Acme%22%7D"
    )
    response = signed_in.get(f"/leads/form/variables/?{query}")
    rows = [(f["name"].value(), f["value"].value()) for f in response.context["variables"].forms]
    assert rows == [("customer_name", "Ann"), ("appointment_date", ""), ("note", "VIP")]


def test_moving_an_existing_lead_shows_the_variable_check(signed_in, campaign, reminder_campaign):
    lead = make_lead(campaign, variables={"customer_name": "Ann", "company": "X"})
    query = f"campaign={reminder_campaign.pk}&lead={lead.pk}&vars-TOTAL_FORMS=2&vars-0-name=customer_name&vars-0-value=Ann&vars-1-name=company&vars-1-value=X"
    page = signed_in.get(f"/leads/form/variables/?{query}").content.decode()
    assert escape(lead_variables.E_MOVE_MISSING.format(names="appointment_date")) in page
    assert escape(lead_variables.W_MOVE_UNKNOWN.format(names="company")) in page


# --- Edit -----------------------------------------------------------------------------------


def test_the_edit_form_shows_the_lead_with_its_contacts(signed_in, campaign, django_assert_num_queries):
    lead = make_lead(campaign, contacts=["+14155550901", "+14155550902"])
    # session, user, permissions (user's, groups'), lead with its campaign and assistant, the
    # assistant's variables (what the lead inherits, which are required), contacts, campaign choices
    with django_assert_num_queries(8):
        response = signed_in.get(f"/leads/{lead.pk}/edit/")
    page = response.content.decode()
    assert page.index("+14155550901") < page.index("+14155550902")
    assert 'value="Sarah Johnson"' in page


def test_edit_keeps_contact_ids_and_reorders(signed_in, campaign):
    lead = make_lead(campaign, contacts=["+14155550901", "+14155550902"])
    first, second = lead.contacts.all()
    CallAttempt.objects.create(
        lead=lead, contact=second, attempt_number=1, phone=second.phone, started_at=dt.datetime.now(dt.UTC)
    )
    data = form_data(
        lead.phone,
        campaign,
        contacts=[
            {"id": first.pk, "phone": first.phone, "order": 2},
            {"id": second.pk, "phone": second.phone, "order": 1},
        ],
    )
    data["contacts-INITIAL_FORMS"] = "2"
    response = signed_in.post(f"/leads/{lead.pk}/edit/", data)
    assert response.status_code == 302
    assert list(lead.contacts.values_list("pk", "position")) == [(second.pk, 0), (first.pk, 1)]
    assert CallAttempt.objects.get().contact_id == second.pk


def test_moving_to_another_campaign_is_blocked_by_missing_required_variables(
    signed_in, campaign, reminder_campaign
):
    lead = make_lead(campaign, variables={"customer_name": "Ann", "company": "X"})
    response = signed_in.post(
        f"/leads/{lead.pk}/edit/",
        form_data(lead.phone, reminder_campaign, {"customer_name": "Ann", "company": "X"}),
    )
    assert response.status_code == 200
    assert response.context["editor"].variable_errors == [
        lead_variables.E_MOVE_MISSING.format(names="appointment_date")
    ]
    assert Lead.objects.get(pk=lead.pk).campaign == campaign


def test_moving_with_unknown_variables_saves_with_a_warning(signed_in, campaign, reminder_campaign):
    lead = make_lead(campaign, variables={"customer_name": "Ann", "company": "X"})
    values = {"customer_name": "Ann", "company": "X", "appointment_date": "Dec 3"}
    response = signed_in.post(f"/leads/{lead.pk}/edit/", form_data(lead.phone, reminder_campaign, values))
    assert response.status_code == 302
    assert texts(response) == [
        f"Lead {lead.phone} saved.",
        lead_variables.W_MOVE_UNKNOWN.format(names="company"),
    ]
    assert Lead.objects.get(pk=lead.pk).campaign == reminder_campaign


def test_edit_offers_only_the_manual_overrides_the_lifecycle_allows(signed_in, campaign):
    lead = make_lead(campaign, status=Status.COMPLETED)
    choices = [
        c[0] for c in signed_in.get(f"/leads/{lead.pk}/edit/").context["form"].fields["status"].choices
    ]
    assert choices == ["", *lifecycle.allowed_manual_targets(Status.COMPLETED)]
    busy = make_lead(campaign, status=Status.PROCESSING)
    choices = [
        c[0] for c in signed_in.get(f"/leads/{busy.pk}/edit/").context["form"].fields["status"].choices
    ]
    assert choices == [""]


def test_edit_sets_scheduled_with_a_time_and_a_reason(signed_in, campaign, operator):
    lead = make_lead(campaign)
    data = form_data(lead.phone, campaign, status="scheduled", reason="Asked for a callback")
    response = signed_in.post(f"/leads/{lead.pk}/edit/", data)
    assert response.context["form"].errors["scheduled_at"] == [lifecycle.E_SCHEDULED_NEEDS_TIME]
    data["scheduled_at"] = "2030-12-01T09:15"  # in the future: a past time is refused
    assert signed_in.post(f"/leads/{lead.pk}/edit/", data).status_code == 302
    lead.refresh_from_db()
    assert (lead.status, lead.next_attempt_at) == (
        Status.SCHEDULED,
        dt.datetime(2030, 12, 1, 9, 15, tzinfo=dt.UTC),
    )
    change = lead.history.get()
    assert (change.user, change.reason, change.automatic) == (operator, "Asked for a callback", False)


def test_a_forged_status_choice_is_refused_and_nothing_saved(signed_in, campaign):
    lead = make_lead(campaign, status=Status.PROCESSING)
    response = signed_in.post(
        f"/leads/{lead.pk}/edit/", form_data("+14155550999", campaign, status="completed")
    )
    assert response.status_code == 200
    assert "status" in response.context["form"].errors
    assert Lead.objects.get(pk=lead.pk).phone == lead.phone


# --- Lead page ------------------------------------------------------------------------------


def test_the_lead_page_shows_everything(signed_in, campaign, operator, django_assert_num_queries):
    lead = make_lead(campaign, variables={"customer_name": "Ann"})
    SecondaryContact.objects.create(
        lead=lead, phone="+14155550902", position=1, variables={"customer_name": "Bob"}
    )
    SecondaryContact.objects.create(lead=lead, phone="+14155550901", position=0, variables={"company": ""})
    lifecycle.set_status(lead, Status.COMPLETED, user=operator, reason="Closed by email")
    CallAttempt.objects.create(
        lead=lead, attempt_number=1, phone=lead.phone, started_at=dt.datetime.now(dt.UTC), outcome="busy"
    )
    # session, user, permissions (user's, groups'), lead with campaign and assistant,
    # the assistant's variables, contacts, history with users, calls
    with django_assert_num_queries(9):
        response = signed_in.get(f"/leads/{lead.pk}/")
    page = response.content.decode()
    assert page.index("+14155550901") < page.index("+14155550902")
    assert "Hi Ann from Acme." in page and "Hi Bob from Acme." in page
    assert "Closed by email" in page and "olivia" in page and "Busy" in page
    assert response.context["effective"] == {"customer_name": "Ann", "company": "Acme"}


def test_the_lead_page_flags_missing_message_variables(signed_in, campaign):
    campaign.assistant.message_template = "Hi {{customer_name}}, about {{product}}."
    campaign.assistant.save()
    lead = make_lead(campaign, variables={"customer_name": "Ann"})
    response = signed_in.get(f"/leads/{lead.pk}/")
    (_, _, message) = response.context["rendered"][0]
    assert (message.text, message.missing) == ("Hi Ann, about {{product}}.", ["product"])
    assert "Missing: product" in response.content.decode()


@pytest.mark.parametrize(
    ("target", "extra", "status"),
    [
        ("created", {}, Status.CREATED),
        ("completed", {}, Status.COMPLETED),
        ("max_retries", {}, Status.MAX_RETRIES),
        ("rescheduled", {}, Status.RESCHEDULED),
        ("scheduled", {"scheduled_at": "2030-12-24T10:00"}, Status.SCHEDULED),
    ],
)
def test_quick_status_overrides_return_where_the_operator_was(signed_in, campaign, target, extra, status):
    lead = make_lead(campaign, status=Status.RESCHEDULED)
    response = signed_in.post(
        f"/leads/{lead.pk}/status/", {"target": target, "next": "/leads/?status=rescheduled", **extra}
    )
    assert response.status_code == 302 and response["Location"] == "/leads/?status=rescheduled"
    assert Lead.objects.get(pk=lead.pk).status == status


def test_a_refused_quick_change_says_why(signed_in, campaign):
    lead = make_lead(campaign, status=Status.PROCESSING)
    response = signed_in.post(f"/leads/{lead.pk}/status/", {"target": "completed"})
    assert response["Location"] == f"/leads/{lead.pk}/"
    assert texts(response) == [lifecycle.E_CALL_UNDER_WAY.format(label="Completed")]
    assert Lead.objects.get(pk=lead.pk).status == Status.PROCESSING


def test_a_form_shown_again_keeps_the_contacts_in_the_chosen_order(signed_in, campaign):
    data = form_data(
        "not a phone",
        campaign,
        contacts=[{"phone": "+14155550124", "order": 2}, {"phone": "+14155550125", "order": 1}],
    )
    page = signed_in.post("/leads/new/", data).content.decode()
    assert page.index('value="+14155550125"') < page.index('value="+14155550124"')
