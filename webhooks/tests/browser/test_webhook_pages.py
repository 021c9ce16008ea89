"""A Staff member subscribes a receiver, copies the secret, sends a test event and reads the log."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from leadmgr.testing import PASSWORD, make_user
from leads import roles
from webhooks.delivery import Worker
from webhooks.models import Subscription

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_staff_subscribe_a_receiver_and_see_the_test_event_delivered(
    page, screenshot, receiver, fast_retries
):
    make_user("sam", group=roles.STAFF)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/leads/$"))

    page.get_by_role("link", name="Webhooks").click()
    page.get_by_role("link", name="New subscription").click()
    page.get_by_label("URL").fill(receiver.url)
    page.locator('input[name="events"][value="lead.status_changed"]').check()
    page.get_by_role("button", name="Create").click()
    subscription = Subscription.objects.get()
    expect(page.locator("#webhook-secret")).to_have_text(subscription.secret)
    screenshot("webhook-created")

    page.get_by_role("button", name="Send a test event").click()
    expect(page.get_by_text("Test event queued")).to_be_visible()
    worker = Worker()
    try:
        assert worker.drain().delivered == 1
    finally:
        worker.close()
    page.reload()
    expect(page.locator("#webhook-secret")).to_have_count(0)  # shown once
    row = page.locator("table tbody tr").first
    expect(row).to_contain_text("webhook.test")
    expect(row).to_contain_text("200")
    expect(row).to_contain_text("Delivered")
    assert receiver.received[0]["event"]["type"] == "webhook.test"
    screenshot("webhook-log")

    page.locator("#nav").get_by_role("link", name="Webhooks").click()
    expect(page.locator(f'[data-subscription="{subscription.pk}"]')).to_contain_text("Active")
