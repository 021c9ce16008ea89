"""The do-not-call list pages and the lead page's Opt out, in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from compliance.models import DoNotCallEntry
from leadmgr.testing import PASSWORD, make_campaign, make_lead, make_user
from leads import roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

A, B = "+14155550101", "+14155550102"


def sign_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_staff_add_find_and_remove_a_number(page, screenshot):
    make_user("sam", group=roles.STAFF)
    make_campaign("Spring")
    sign_in(page, "sam")
    page.get_by_role("link", name="Do not call").click()
    form = page.locator("#dnc-add")
    form.get_by_label("Phone number").fill("+1 (415) 555-0101")
    form.get_by_label("List").select_option(label="Spring")
    form.get_by_label("Reason").fill("asked by letter")
    form.get_by_role("button", name="Add to list").click()
    expect(page.get_by_role("alert")).to_contain_text(f"{A} added to the Spring do-not-call list.")
    row = page.locator("#dnc-entries tbody tr").filter(has_text=A)
    expect(row).to_contain_text("asked by letter")
    screenshot("compliance-dnc-list")
    page.locator("#dnc-search").get_by_label("Number contains").fill("0199")
    page.locator("#dnc-search").get_by_role("button", name="Search").click()
    expect(page.locator("#dnc-entries")).to_contain_text("No entries match 0199")
    page.goto("/compliance/do-not-call/")
    row = page.locator("#dnc-entries tbody tr").filter(has_text=A)
    row.get_by_placeholder("Why may it be called?").fill("listed by mistake")
    row.get_by_role("button", name="Remove").click()
    expect(page.get_by_role("alert")).to_contain_text(f"{A} removed from the Spring do-not-call list.")
    entry = DoNotCallEntry.objects.get()
    assert (entry.removed_by.username, entry.removal_reason) == ("sam", "listed by mistake")


def test_an_operator_opts_a_lead_out_from_its_page(page, screenshot):
    make_user("olivia", group=roles.OPERATORS)
    lead = make_lead(make_campaign("Spring"), phone=A, contacts=[B])
    sign_in(page, "olivia")
    page.goto(f"/leads/{lead.pk}/")
    page.get_by_role("link", name="Opt out").click()
    expect(page.locator("#opt-out-form")).to_contain_text(A)
    expect(page.locator("#opt-out-form")).to_contain_text(B)
    page.get_by_label(A).uncheck()
    page.get_by_label("Reason").fill("asked on the call")
    screenshot("compliance-opt-out")
    page.get_by_role("button", name="Confirm opt-out").click()
    expect(page).to_have_url(f"/leads/{lead.pk}/")
    expect(page.get_by_role("alert")).to_contain_text(f"Opted out: {B} will not be called again")
    assert list(DoNotCallEntry.objects.values_list("number", "source", "added_by__username")) == [
        (B, "opt_out", "olivia")
    ]


def test_the_lead_form_warns_of_a_listed_number_before_saving(page):
    make_user("olivia", group=roles.OPERATORS)
    make_campaign("Spring")
    DoNotCallEntry.objects.create(number=A, added_at="2026-01-01T00:00Z")
    sign_in(page, "olivia")
    page.goto("/leads/new/")
    page.get_by_label("Phone number").fill(A)
    page.get_by_label("Phone number").blur()
    expect(page.locator("#phone-listed")).to_contain_text("is on the do-not-call list")
