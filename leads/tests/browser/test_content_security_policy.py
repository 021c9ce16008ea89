"""The Content-Security-Policy in a real browser: the pages' own scripts (Bootstrap, htmx, ours)
work under it, and the browser tests would hear any violation (the page fixture fails on one)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from leadmgr.testing import PASSWORD, make_campaign, make_lead, make_user
from leads import roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def sign_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/leads/$"))


@pytest.mark.expect_csp_violation
def test_an_inline_style_is_blocked_and_reported(page, csp_violations):
    response = page.goto("/accounts/login/")
    assert "style-src 'self'" in response.headers["content-security-policy"]
    page.evaluate(
        """document.body.insertAdjacentHTML('beforeend', '<p id="red" style="color: rgb(255, 0, 0)">x</p>')"""
    )
    expect(page.locator("#red")).not_to_have_css("color", "rgb(255, 0, 0)")
    for _ in range(100):  # the console message arrives on its own time
        if csp_violations:
            break
        page.wait_for_timeout(100)
    assert any("style-src" in text for text in csp_violations), csp_violations


def test_the_leads_table_and_the_charts_work_under_the_policy(page, screenshot):
    campaign = make_campaign("Spring")
    for _ in range(3):
        make_lead(campaign)
    make_user("sam", group=roles.STAFF)
    sign_in(page, "sam")
    # htmx fills the match count; our own script ticks the page's rows.
    expect(page.locator("#match-count")).to_have_text("3")
    page.get_by_label("Select page").check()
    expect(page.locator('#leads-table tbody input[name="pk"]:checked')).to_have_count(3)
    # The chart's bars take their widths from classes, not style attributes.
    page.goto(f"/campaigns/{campaign.pk}/")
    # The live fragment replaces the chart once loaded: measure after that swap, not during it.
    page.wait_for_load_state("networkidle")
    bar = page.locator('#live [data-status="created"] .chart-fill')
    assert (
        bar.evaluate(
            "el => el.getBoundingClientRect().width / el.parentElement.getBoundingClientRect().width"
        )
        > 0.99
    )
    # The campaign list is a table of counts per status now (no chart): the counts under the policy.
    page.goto("/campaigns/")
    expect(page.locator(f'tr[data-campaign="{campaign.pk}"] td[data-status="created"]')).to_have_text("3")
    screenshot("11-campaigns-under-csp")
