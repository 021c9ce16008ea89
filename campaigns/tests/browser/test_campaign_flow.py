"""Steering a campaign in a real browser (1366x768): create an assistant with variables and a
campaign, Start it, watch the page update without a reload while a runner dials, Pause (no dial
after it), Resume, Finish."""

from __future__ import annotations

import re
import threading
import time

import pytest
from django.db import connection
from django.db.models import Max
from playwright.sync_api import expect

from campaigns.models import Assistant, Campaign, CampaignStateChange
from campaigns.providers.simulated import SimulatedProvider
from campaigns.runner import Runner
from leadmgr.testing import PASSWORD, make_lead, make_user
from leads import roles
from leads.models import CallAttempt

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


class RunnerThread:
    """A campaign runner ticking in a thread of the test (the live server's database is in memory):
    unanswered calls lasting about a second, so attempts go on to their next number."""

    def __init__(self):
        self.runner = Runner(SimulatedProvider(mix={"no_answer": 1}, seed=3, speedup=30))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        try:
            while not self.stop.is_set():
                self.runner.tick()
                time.sleep(0.3)
        finally:
            connection.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=30)


def confirm(page, button: str, expected: str, reason: str) -> None:
    page.locator(f'[data-control="{button.lower()}"]').click()
    expect(page.locator("#control-outlook")).to_contain_text(expected)
    page.get_by_label(re.compile("^Reason")).fill(reason)
    page.get_by_role("button", name=re.compile(f"^Yes, {button.lower()}")).click()


def test_staff_create_steer_and_watch_a_campaign(page, screenshot, any_hour):
    page.set_viewport_size({"width": 1366, "height": 768})
    make_user("sam", group=roles.STAFF)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # An assistant with two variables, the second moved first, with a live preview.
    page.goto("/assistants/")
    page.get_by_role("link", name="New assistant").click()
    page.get_by_label("Name").fill("Collector")
    page.get_by_label("Message template").fill("Hi {{customer_name}} from {{company}}")
    page.get_by_role("button", name="Add variable").click()
    page.get_by_role("button", name="Add variable").click()
    rows = page.locator("#definitions [data-definition-row]")
    rows.nth(0).get_by_placeholder("name").fill("company")
    rows.nth(0).get_by_placeholder("default").fill("Acme")
    rows.nth(1).get_by_placeholder("name").fill("customer_name")
    rows.nth(1).get_by_label("required").check()
    rows.nth(1).get_by_role("button", name="Move up").click()
    expect(page.locator("#message-preview")).to_contain_text("Hi {{customer_name}} from Acme")
    screenshot("campaign-01-assistant-form")
    page.get_by_role("button", name="Save assistant").click()
    expect(page.locator("#assistants")).to_contain_text("Collector")
    assistant = Assistant.objects.get(name="Collector")
    assert list(assistant.variables.values_list("name", "default", "required")) == [
        ("customer_name", "", True),
        ("company", "Acme", False),
    ]

    # A campaign open at every hour, two calls at a time.
    page.goto("/campaigns/")
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name").fill("Autumn")
    page.get_by_label("Assistant").select_option(label="Collector")
    for day in ("Saturday", "Sunday"):
        page.get_by_label(day).check()
    page.get_by_label("Calls from").fill("00:00")
    page.get_by_label("Calls until").fill("23:59")
    page.get_by_label("Retries after the first attempt").fill("0")
    page.get_by_label("Concurrency limit").fill("2")
    screenshot("campaign-02-campaign-form")
    page.get_by_role("button", name="Save campaign").click()
    expect(page.locator("h1")).to_have_text("Autumn")
    campaign = Campaign.objects.get(name="Autumn")
    assert (campaign.state, campaign.calling_days, campaign.concurrency_limit) == ("draft", list(range(7)), 2)
    for i in range(12):
        make_lead(campaign, variables={"customer_name": f"Lead {i}"}, contacts=[f"+1212555{1000 + i}"])

    confirm(
        page, "Start", "Starting calls 12 due leads now, 2 at a time; 0 wait for their calling window.", "go"
    )
    expect(page.locator(".alert-success")).to_contain_text("Autumn was started.")
    page.evaluate("window.notReloaded = true")
    with RunnerThread():
        # The live part refreshes by itself: calls appear, then ended attempts.
        expect(page.locator("#in-progress tbody tr td.font-monospace").first).to_be_visible(timeout=20_000)
        expect(page.locator("#latest td", has_text="No answer").first).to_be_visible(timeout=30_000)
        assert page.evaluate("window.notReloaded") is True
        screenshot("campaign-03-live")

        confirm(page, "Pause", "Pausing stops new calls at once", "lunch")
        expect(page.locator(".alert-success")).to_contain_text("Autumn was paused.")
        last_before = CallAttempt.objects.aggregate(m=Max("pk"))["m"]
        time.sleep(4)  # several runner passes and call results
        assert not CallAttempt.objects.filter(pk__gt=last_before).exists()
        expect(page.locator("#start-preview")).to_be_visible()

    confirm(page, "Resume", "Resuming calls", "back")
    expect(page.locator(".alert-success")).to_contain_text("Autumn was resumed.")
    confirm(page, "Finish", "will never be called again", "done")
    expect(page.locator(".alert-success")).to_contain_text("Autumn was finished.")
    expect(page.locator("#controls [data-control]")).to_have_count(0)
    expect(page.locator("#state-history tbody tr")).to_have_count(4)
    screenshot("campaign-04-finished")
    assert list(
        CampaignStateChange.objects.order_by("changed_at", "id").values_list(
            "to_state", "reason", "changed_by__username"
        )
    ) == [
        ("running", "go", "sam"),
        ("paused", "lunch", "sam"),
        ("running", "back", "sam"),
        ("finished", "done", "sam"),
    ]
