"""A user changes their time zone on the profile page and sees a lead's times in it; a callback
time typed on the lead page is read in it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from leadmgr.testing import PASSWORD, make_campaign, make_lead, make_user
from leads import roles
from leads.models import Lead, Status

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_an_operator_changes_their_time_zone_and_sees_a_leads_times_in_it(page, screenshot):
    make_user("olivia", group=roles.OPERATORS)
    lead = make_lead(make_campaign())
    Lead.objects.filter(pk=lead.pk).update(created_at=dt.datetime(2030, 1, 15, 12, 0, tzinfo=dt.UTC))
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("olivia")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"/leads/{lead.pk}/")
    expect(page.locator("main")).to_contain_text("2030-01-15 12:00 UTC")
    page.locator("#time-zone-link").click()
    expect(page).to_have_url(re.compile(r"/accounts/time-zone/$"))
    page.get_by_label("Time zone").select_option("Asia/Tokyo")
    page.get_by_role("button", name="Save time zone").click()
    expect(page.get_by_role("alert")).to_contain_text("Your time zone is now Asia/Tokyo")
    expect(page.locator("#time-zone-link")).to_have_text("Asia/Tokyo")

    page.goto(f"/leads/{lead.pk}/")
    expect(page.locator("main")).to_contain_text("2030-01-15 21:00 JST")
    expect(page.get_by_text("Scheduled at (Asia/Tokyo)")).to_be_visible()
    page.locator("#quick-scheduled-at").fill("2030-07-01T10:00")
    page.locator('[data-status-action="scheduled"] button').click()
    expect(page.locator("#lead-status")).to_have_text("Scheduled")
    expect(page.locator("main")).to_contain_text("2030-07-01 10:00 JST")
    lead.refresh_from_db()
    assert (lead.status, lead.next_attempt_at) == (
        Status.SCHEDULED,
        dt.datetime(2030, 7, 1, 1, 0, tzinfo=dt.UTC),
    )
    screenshot("lead-in-tokyo-time")
