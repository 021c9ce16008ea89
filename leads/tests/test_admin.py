from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from leadmgr.testing import make_campaign, make_lead
from leads.models import Lead, SecondaryContact, Status, StatusChange

CHANGELIST = reverse("admin:leads_lead_changelist")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_the_changelist_renders_without_a_full_count(admin_client, campaign, django_assert_num_queries):
    for _ in range(5):
        make_lead(campaign)
    # session, user, capped COUNT of the filtered rows, the page (with campaign joined),
    # campaigns for the filter sidebar.
    with django_assert_num_queries(5) as captured:
        response = admin_client.get(CHANGELIST, {"status__exact": "created"})
    assert response.status_code == 200
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1 and "LIMIT" in counts[0].upper()
    assert response.context["cl"].result_count == 5


def test_the_changelist_searches_phone_and_variable_content(admin_client, campaign):
    target = make_lead(campaign, variables={"customer_name": "Sarah Johnson", "industry": "Dentistry"})
    make_lead(campaign, variables={"customer_name": "John Smith"})
    by_variable = admin_client.get(CHANGELIST, {"q": "dentistry"})
    by_phone = admin_client.get(CHANGELIST, {"q": target.phone})
    assert list(by_variable.context["cl"].result_list) == [target]
    assert list(by_phone.context["cl"].result_list) == [target]


def test_hostile_variable_values_are_escaped(admin_client, campaign):
    lead = make_lead(campaign, variables={"customer_name": "<script>alert(1)</script>"})
    response = admin_client.get(reverse("admin:leads_lead_change", args=[lead.pk]))
    assert response.status_code == 200
    assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in response.content


def _add_form(campaign, phone, contacts=(), variables='{"customer_name": "Sarah"}'):
    data = {
        "phone": phone,
        "campaign": campaign.pk,
        "variables": variables,
        "contacts-TOTAL_FORMS": str(len(contacts)),
        "contacts-INITIAL_FORMS": "0",
        "history-TOTAL_FORMS": "0",
        "history-INITIAL_FORMS": "0",
        "calls-TOTAL_FORMS": "0",
        "calls-INITIAL_FORMS": "0",
    }
    for i, contact in enumerate(contacts):
        data |= {
            f"contacts-{i}-phone": contact,
            f"contacts-{i}-position": str(i),
            f"contacts-{i}-variables": "{}",
        }
    return data


def test_an_admin_adds_a_lead_with_contacts_and_phones_are_normalised(admin_client, campaign):
    response = admin_client.post(
        reverse("admin:leads_lead_add"), _add_form(campaign, "+1 (415) 555-0100", ["+1 415 555 0101"])
    )
    assert response.status_code == 302
    lead = Lead.objects.get()
    assert (lead.phone, lead.status) == ("+14155550100", Status.CREATED)
    assert list(lead.contacts.values_list("phone", flat=True)) == ["+14155550101"]


def test_the_admin_refuses_a_contact_equal_to_the_primary(admin_client, campaign):
    response = admin_client.post(
        reverse("admin:leads_lead_add"), _add_form(campaign, "+14155550100", ["+1 415 555 0100"])
    )
    assert response.status_code == 200
    assert "+14155550100 is this lead&#x27;s primary number" in response.content.decode()
    assert not Lead.objects.exists()


def test_the_admin_refuses_a_bad_phone_naming_it(admin_client, campaign):
    response = admin_client.post(reverse("admin:leads_lead_add"), _add_form(campaign, "12345"))
    assert "&#x27;12345&#x27; has no country code" in response.content.decode()


def test_the_admin_enforces_required_variables(admin_client, campaign):
    response = admin_client.post(
        reverse("admin:leads_lead_add"), _add_form(campaign, "+14155550100", variables="{}")
    )
    assert "Required variables are not set: customer_name." in response.content.decode()
    assert not Lead.objects.exists()


def test_status_actions_go_through_the_lifecycle_for_all_selected_rows(admin_client, admin_user, campaign):
    leads = [make_lead(campaign) for _ in range(3)]
    busy = make_lead(campaign, status=Status.PROCESSING)
    response = admin_client.post(
        CHANGELIST,
        {"action": "mark_completed", ACTION_CHECKBOX_NAME: [lead.pk for lead in [*leads, busy]], "index": 0},
        follow=True,
    )
    assert response.status_code == 200
    assert Lead.objects.filter(status=Status.COMPLETED).count() == 3
    assert Lead.objects.get(pk=busy.pk).status == Status.PROCESSING
    assert StatusChange.objects.filter(user=admin_user, to_status="completed").count() == 3
    messages = [str(m) for m in response.context["messages"]]
    assert "3 lead(s) set to Completed." in messages
    assert (
        "1 lead(s) left unchanged: A call attempt is under way: Completed cannot be set until it ends "
        "(the runner sets the outcome)." in messages
    )


def test_bulk_delete_counts_then_deletes_everything_matching_the_filter(admin_client, campaign):
    other = make_campaign("Autumn", assistant=campaign.assistant)
    for _ in range(4):
        make_lead(campaign, contacts=["+14155550101", "+14155550102"])
    survivor = make_lead(other, contacts=["+14155550103"])
    url = f"{CHANGELIST}?campaign__id__exact={campaign.pk}"
    confirm = admin_client.post(
        url, {"action": "delete_leads", "select_across": "1", "index": "0", ACTION_CHECKBOX_NAME: ["0"]}
    )
    assert confirm.status_code == 200
    assert "You are about to delete <strong>4 leads</strong>" in confirm.content.decode()
    assert "<strong>8 secondary contacts</strong>" in confirm.content.decode()
    assert Lead.objects.count() == 5  # nothing deleted before the confirmation

    # The confirmation page re-posts the page's ticked ids; with select_across they stand for the filter.
    assert f'name="{ACTION_CHECKBOX_NAME}" value="0"' in confirm.content.decode()
    done = admin_client.post(
        url,
        {
            "action": "delete_leads",
            "select_across": "1",
            "index": "0",
            "post": "yes",
            ACTION_CHECKBOX_NAME: ["0"],
        },
        follow=True,
    )
    assert done.status_code == 200
    assert list(Lead.objects.all()) == [survivor]
    assert SecondaryContact.objects.count() == 1
    assert "Deleted 4 leads and 8 secondary contacts." in [str(m) for m in done.context["messages"]]


def test_the_admin_refuses_to_delete_a_campaign_that_has_leads(admin_client, lead):
    response = admin_client.post(
        reverse("admin:campaigns_campaign_delete", args=[lead.campaign_id]), {"post": "yes"}
    )
    assert response.status_code == 200
    assert "Spring&#x27; still has 1 lead(s)" in response.content.decode()
    assert Lead.objects.filter(pk=lead.pk).exists()


def test_assistants_are_edited_with_their_variables(admin_client):
    response = admin_client.post(
        reverse("admin:campaigns_assistant_add"),
        {
            "name": "Renewals",
            "description": "",
            "message_template": "Hi {{contact_name}}",
            "variables-TOTAL_FORMS": "2",
            "variables-INITIAL_FORMS": "0",
            "variables-0-position": "0",
            "variables-0-name": "contact_name",
            "variables-0-default": "",
            "variables-0-required": "on",
            "variables-1-position": "1",
            "variables-1-name": "renewal_date",
            "variables-1-default": "next month",
        },
    )
    assert response.status_code == 302
    from campaigns.models import Assistant

    assistant = Assistant.objects.get(name="Renewals")
    assert list(assistant.variables.values_list("name", "default", "required")) == [
        ("contact_name", "", True),
        ("renewal_date", "next month", False),
    ]


def test_campaigns_are_edited_with_their_policy_and_window(admin_client, campaign):
    response = admin_client.post(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
        {
            "name": "Spring",
            "assistant": campaign.assistant_id,
            "state": "running",
            "max_retries": "5",
            "retry_interval": "00:30:00",
            "calling_days": ["0", "2", "4"],
            "window_start": "08:30",
            "window_end": "18:00",
            "concurrency_limit": "10",
        },
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.state, campaign.max_retries, campaign.calling_days, campaign.concurrency_limit) == (
        "running",
        5,
        [0, 2, 4],
        10,
    )


def test_the_scheduled_action_asks_for_a_time_then_schedules(admin_client, admin_user, campaign):
    leads = [make_lead(campaign) for _ in range(2)]
    ids = [lead.pk for lead in leads]
    ask = admin_client.post(CHANGELIST, {"action": "mark_scheduled", ACTION_CHECKBOX_NAME: ids, "index": 0})
    assert ask.status_code == 200
    assert "Schedule <strong>2 leads</strong>" in ask.content.decode()
    assert not Lead.objects.filter(status=Status.SCHEDULED).exists()

    done = admin_client.post(
        CHANGELIST,
        {
            "action": "mark_scheduled",
            ACTION_CHECKBOX_NAME: ids,
            "index": 0,
            "scheduled_at": "2026-12-01 15:30",
            "reason": "Callback requested",
        },
        follow=True,
    )
    assert done.status_code == 200
    scheduled = Lead.objects.filter(status=Status.SCHEDULED)
    assert scheduled.count() == 2
    assert {lead.next_attempt_at.isoformat() for lead in scheduled} == {"2026-12-01T15:30:00+00:00"}
    assert StatusChange.objects.filter(user=admin_user, reason="Callback requested").count() == 2
