"""Staff place a test call from a campaign page (the simulated provider, its result at once): the
panel shows the call with the lead's message, and the lead is left as it was."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from campaigns.models import Campaign, TestCall
from leadmgr.testing import PASSWORD, make_campaign, make_lead, make_user
from leads import roles
from leads.models import CallAttempt, Lead

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_staff_place_a_test_call_from_the_campaign_page(page, screenshot, settings):
    settings.LEADMGR_PROVIDER = "simulated"
    settings.LEADMGR_SIMULATED_SPEEDUP = 0
    make_user("sam", group=roles.STAFF)
    campaign = make_campaign(state=Campaign.State.RUNNING)
    lead = make_lead(campaign, variables={"customer_name": "Sarah Johnson"})
    before = Lead.objects.values_list("status", "attempts", "updated_at").get(pk=lead.pk)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"/campaigns/{campaign.pk}/")
    expect(page.locator("#results svg title").first).to_have_text("Dials per day by outcome, last 14 days")
    page.get_by_label("Number to call").fill("+1 415 555 0123")
    page.get_by_label("Lead whose variables fill the message").fill(str(lead.pk))
    url = page.url
    page.get_by_role("button", name="Place test call").click()
    expect(page.locator("#test-call-result")).to_contain_text(
        "Test call to +14155550123 placed through the simulated provider"
    )
    expect(page.locator("#test-calls")).to_contain_text("Hi Sarah Johnson from Acme.")
    assert page.url == url  # the panel was swapped in place
    call = TestCall.objects.get()
    assert (call.phone, call.source_lead_id, call.accepted) == ("+14155550123", lead.pk, True)
    assert Lead.objects.values_list("status", "attempts", "updated_at").get(pk=lead.pk) == before
    assert not CallAttempt.objects.exists()

    # A number the normaliser refuses is answered on the panel, and nothing is placed.
    page.get_by_label("Number to call").fill("+1415")
    page.get_by_label("Lead whose variables fill the message").fill(str(lead.pk))
    page.get_by_role("button", name="Place test call").click()
    expect(page.locator("#test-call")).to_contain_text("is not a valid phone number")
    assert TestCall.objects.count() == 1
    screenshot("campaign-test-call")
