"""Test calls from a campaign page (Staff): a typed number, the assistant's message rendered from a
chosen lead's variables, placed through the configured provider (simulated, and http against a
real local server), recorded as a TestCall, and never touching any lead's status, attempts or calls."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from campaigns import testcalls
from campaigns.models import Campaign, TestCall
from campaigns.providers import signing
from campaigns.testcall_views import M_PLACED
from compliance.services import dnc_add
from leadcounts.selectors import status_counts
from leadmgr.testing import PERSONAS, make_assistant, make_campaign, make_lead
from leads.models import CallAttempt, Lead, Status, StatusChange
from leads.phones import E_PHONE_INVALID

from .test_http_provider import SECRET, ProviderEndpoint

State = Campaign.State
TO = "+14155550123"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def setup(db):
    assistant = make_assistant(
        variables=[("customer_name", "", True), ("company", "Acme", False)],
        template="Hi {{customer_name}} from {{company}}.",
    )
    campaign = make_campaign(state=State.RUNNING, assistant=assistant)
    lead = make_lead(campaign, variables={"customer_name": "Sarah Johnson"})
    other = make_lead(campaign, status=Status.RESCHEDULED, variables={"customer_name": "Omar"})
    return campaign, lead, other


@pytest.fixture
def instant(settings):
    settings.LEADMGR_PROVIDER = "simulated"
    settings.LEADMGR_SIMULATED_SPEEDUP = 0  # the result is there at once


@pytest.fixture
def endpoint(settings):
    server = ProviderEndpoint()
    server.thread.start()
    settings.LEADMGR_PROVIDER = "http"
    settings.LEADMGR_PROVIDER_URL = server.url
    settings.LEADMGR_PROVIDER_SECRET = SECRET
    settings.LEADMGR_PROVIDER_TIMEOUT = 1
    yield server
    server.server.shutdown()
    server.server.server_close()


def place(client, campaign, phone=TO, lead="", **headers):
    return client.post(
        reverse("campaigns:test_call_place", args=[campaign.pk]),
        {"phone": phone, "lead": lead},
        headers=headers,
    )


def leads_state(campaign) -> tuple:
    """Everything a test call must leave alone."""
    rows = list(
        Lead.objects.filter(campaign=campaign)
        .order_by("pk")
        .values_list(
            "pk", "status", "attempts", "next_attempt_at", "last_attempt_at", "lease_expires_at", "updated_at"
        )
    )
    return rows, CallAttempt.objects.count(), StatusChange.objects.count(), status_counts(campaign.pk)


@pytest.mark.parametrize("persona", PERSONAS)
def test_role_matrix_of_placing_a_test_call(as_persona, persona, setup, instant):
    campaign, lead, _ = setup
    response = place(as_persona(persona), campaign, lead=str(lead.pk))
    if persona == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    else:
        expected = {"outsider": 404, "operator": 403, "staff": 302, "admin": 302}[persona]
        assert response.status_code == expected
    assert TestCall.objects.count() == (1 if persona in ("staff", "admin") else 0)


@pytest.mark.parametrize(("persona", "shown"), [("operator", False), ("staff", True), ("admin", True)])
def test_only_staff_and_admins_see_the_test_call_panel(as_persona, persona, shown, setup):
    campaign, _, _ = setup
    page = as_persona(persona).get(f"/campaigns/{campaign.pk}/").content.decode()
    assert (f'hx-get="/campaigns/{campaign.pk}/test-call/"' in page) is shown
    if shown:
        panel = as_persona(persona).get(f"/campaigns/{campaign.pk}/test-call/").content.decode()
        assert 'id="place-test-call"' in panel and "No test call yet." in panel


def test_the_test_call_posts_on_the_panel_without_leaving_the_page(client, staff, setup):
    campaign, _, _ = setup
    client.force_login(staff)
    panel = client.get(f"/campaigns/{campaign.pk}/test-call/").content.decode()
    url = f"/campaigns/{campaign.pk}/test-call/place/"
    assert f'hx-post="{url}" hx-target="#test-call" hx-swap="outerHTML"' in panel
    assert 'method="post" action="' + url + '"' in panel  # and without JavaScript


def test_a_simulated_test_call_says_the_leads_message_and_touches_no_lead(client, staff, setup, instant):
    campaign, lead, other = setup
    before = leads_state(campaign)
    client.force_login(staff)
    panel = place(client, campaign, phone="+1 415 555 0123", lead=str(lead.pk), **HTMX).content.decode()
    call = TestCall.objects.get()
    assert (call.phone, call.source_lead_id, call.source_lead_phone) == (TO, lead.pk, lead.phone)
    assert call.message == "Hi Sarah Johnson from Acme."
    assert (call.provider, call.accepted, call.placed_by) == ("simulated", True, staff)
    assert call.outcome in {"completed", "no_answer", "busy", "voicemail", "failed"}
    assert call.provider_ref == f"sim-42--{call.pk}"
    assert (
        'id="test-call-result"' in panel
        and f"Test call to {TO} placed through the simulated provider" in panel
    )
    assert f'data-test-call="{call.pk}"' in panel and "Hi Sarah Johnson from Acme." in panel
    assert leads_state(campaign) == before
    # By the lead's phone number too, and the page lists both.
    place(client, campaign, lead=other.phone, **HTMX)
    assert TestCall.objects.order_by("pk").last().message == "Hi Omar from Acme."
    assert leads_state(campaign) == before
    page = client.get(f"/campaigns/{campaign.pk}/test-call/").content.decode()
    assert page.count("data-test-call=") == 2


def test_a_plain_post_goes_back_to_the_campaign_page_with_a_message(client, staff, setup, instant):
    campaign, lead, _ = setup
    client.force_login(staff)
    response = place(client, campaign, lead=str(lead.pk))
    assert response.status_code == 302 and response["Location"] == f"/campaigns/{campaign.pk}/"
    call = TestCall.objects.get()
    page = client.get(response["Location"]).content.decode()
    assert M_PLACED.format(phone=TO, provider="simulated", ref=f" (reference {call.provider_ref})") in page


def test_an_http_test_call_reaches_the_provider_signed_with_the_message(client, staff, setup, endpoint):
    campaign, lead, _ = setup
    before = leads_state(campaign)
    client.force_login(staff)
    panel = place(client, campaign, lead=str(lead.pk), **HTMX).content.decode()
    call = TestCall.objects.get()
    ((headers, payload, raw),) = endpoint.requests
    assert payload["call_id"] == -call.pk and payload["lead_id"] == lead.pk and payload["attempt"] == 0
    assert (payload["to"], payload["numbers"], payload["callback_url"]) == (TO, [TO], "")
    assert payload["message"] == "Hi Sarah Johnson from Acme."
    assert payload["variables"] == {"customer_name": "Sarah Johnson", "company": "Acme"}
    signing.verify(
        SECRET,
        headers[signing.TIMESTAMP_HEADER],
        headers[signing.SIGNATURE_HEADER],
        raw,
        now=time.time(),
        max_age=60,
    )
    assert (call.provider, call.accepted, call.provider_ref, call.outcome) == ("http", True, "ref-1", "")
    assert "(reference ref-1)" in panel and ">placed</td>" in panel
    assert leads_state(campaign) == before


def test_a_test_call_the_provider_refuses_is_recorded_as_refused(client, staff, setup, endpoint):
    campaign, lead, _ = setup
    endpoint.mode = "5xx"
    client.force_login(staff)
    panel = place(client, campaign, lead=str(lead.pk), **HTMX).content.decode()
    call = TestCall.objects.get()
    assert (call.accepted, call.detail) == (False, "The provider answered HTTP 503.")
    assert "did not take the test call" in panel and "refused: The provider answered HTTP 503." in panel


@pytest.mark.parametrize(
    ("phone", "lead", "field", "message"),
    [
        ("+1415", "first", "phone", E_PHONE_INVALID.format(value="+1415")),
        (TO, "999999", "lead", testcalls.E_NO_LEAD.format(ref="999999")),
        (TO, "+14155559999", "lead", testcalls.E_NO_LEAD.format(ref="+14155559999")),
        (TO, "elsewhere", "lead", None),
    ],
)
def test_a_bad_number_or_lead_is_refused_and_nothing_placed(
    client, staff, setup, instant, phone, lead, field, message
):
    campaign, first, _ = setup
    elsewhere = make_lead(make_campaign("Elsewhere"))
    ref = {"first": str(first.pk), "elsewhere": str(elsewhere.pk)}.get(lead, lead)
    client.force_login(staff)
    response = place(client, campaign, phone=phone, lead=ref, **HTMX)
    errors = response.context["form"].errors
    assert errors[field] == [message or testcalls.E_NO_LEAD.format(ref=ref)]
    assert not TestCall.objects.exists()


def test_a_number_on_the_do_not_call_list_is_not_called(client, staff, setup, endpoint):
    campaign, lead, _ = setup
    dnc_add(number=TO, reason="asked")
    client.force_login(staff)
    response = place(client, campaign, lead=str(lead.pk), **HTMX)
    assert response.context["form"].errors["phone"] == [
        testcalls.E_BLOCKED.format(phone=TO, reason="on the do-not-call list")
    ]
    assert not endpoint.requests and not TestCall.objects.exists()
