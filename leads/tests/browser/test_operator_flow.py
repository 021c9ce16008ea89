"""An operator's day in a real browser: create, find, change, move and bulk-delete leads."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from leadmgr.testing import PASSWORD, make_assistant, make_campaign, make_lead, make_user
from leads import roles
from leads.models import Lead, SecondaryContact, Status
from leads.variables import E_MOVE_MISSING, W_MOVE_UNKNOWN

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def world():
    sales = make_assistant(
        "Sales Qualifier",
        [
            ("customer_name", "", True),
            ("company", "Acme", False),
            ("industry", "Software Development", False),
        ],
        template="Hi {{customer_name}} from {{company}}.",
    )
    reminder = make_assistant(
        "Appointment Reminder",
        [("customer_name", "", True), ("appointment_date", "", True)],
        template="Hello {{customer_name}}, your appointment is on {{appointment_date}}.",
    )
    spring = make_campaign("Spring", sales)
    dental = make_campaign("Dental", reminder)
    northwind = [
        make_lead(
            spring, variables={"customer_name": f"N{i}", "company": "Northwind"}, contacts=[f"+1415555090{i}"]
        )
        for i in range(3)
    ]
    keeper = make_lead(spring, variables={"customer_name": "Keep Me", "company": "Globex"})
    return {"spring": spring, "dental": dental, "northwind": northwind, "keeper": keeper}


def sign_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/leads/$"))


def open_form(page, link: str, url: str) -> None:
    """Follow a link to a lead form and wait for its scripts: htmx wires the campaign select when
    the page has loaded, and a choice made before that sends no request (seen once in CI)."""
    page.get_by_role("link", name=link).click()
    expect(page).to_have_url(re.compile(url))
    page.wait_for_load_state()


def variable_value(page, name: str):
    return page.locator(f'#variables [data-variable-row]:has(input[value="{name}"]) input[name$="-value"]')


def test_an_operator_creates_finds_changes_moves_and_deletes_leads(page, screenshot, world):
    make_user("sam", group=roles.STAFF)
    page.goto("/accounts/login/")
    screenshot("01-sign-in")
    sign_in(page, "sam")

    # Create: choosing the campaign pre-fills the assistant's variables at once.
    open_form(page, "New lead", r"/leads/new/$")
    page.get_by_label("Phone number", exact=True).first.fill("+1 (415) 555-0123")
    page.get_by_label("Campaign").select_option(label="Spring")
    expect(variable_value(page, "company")).to_have_value("Acme")
    expect(variable_value(page, "industry")).to_have_value("Software Development")
    expect(page.locator('#variables [data-required]:has(input[value="customer_name"])')).to_contain_text(
        "required"
    )
    variable_value(page, "customer_name").fill("Sarah Johnson")
    variable_value(page, "company").fill("TechStart Solutions")  # override a default

    # Two secondary contacts, the second with its own variable, then moved first.
    page.get_by_role("button", name="Add Secondary Contact").click()
    page.get_by_role("button", name="Add Secondary Contact").click()
    cards = page.locator("#contacts [data-contact]")
    cards.nth(0).locator("[data-contact-phone]").fill("+14155550124")
    cards.nth(1).locator("[data-contact-phone]").fill("+14155550125")
    cards.nth(1).get_by_role("button", name="Add variable").click()
    cards.nth(1).locator('input[name$="-name"]').fill("contact_name")
    cards.nth(1).locator('input[name$="-value"]').fill("Jane Doe")
    cards.nth(1).get_by_role("button", name="Move up").click()
    expect(cards.nth(0).locator("[data-contact-phone]")).to_have_value("+14155550125")
    expect(cards.nth(0).locator("[data-contact-title]")).to_have_text("Secondary contact 1")
    screenshot("02-lead-form")
    page.get_by_role("button", name="Save lead").click()

    expect(page.locator("h1")).to_have_text("+14155550123")
    lead = Lead.objects.get(phone="+14155550123")
    assert lead.variables == {
        "customer_name": "Sarah Johnson",
        "company": "TechStart Solutions",
        "industry": "Software Development",
    }
    assert list(lead.contacts.values_list("phone", "variables")) == [
        ("+14155550125", {"contact_name": "Jane Doe"}),
        ("+14155550124", {}),
    ]
    expect(page.locator("#contacts-list li").first).to_contain_text("+14155550125")
    expect(page.locator("[data-message]").first).to_contain_text("Hi Sarah Johnson from TechStart Solutions.")
    screenshot("03-lead-page")

    # Find it in the table: filters and search.
    page.get_by_role("link", name="Leads", exact=True).click()
    expect(page.locator("#leads-table")).to_contain_text("+14155550123")
    page.locator("#filters").get_by_label("Campaign").select_option(label="Spring")
    page.locator("#filters").get_by_label("Created", exact=True).check()
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"campaign=\d+.*status=created"))
    expect(page.locator("#leads-table")).to_contain_text("+14155550123")
    page.get_by_role("search").get_by_placeholder("Search phone or variables").fill("TechStart")
    page.get_by_role("search").get_by_role("button", name="Search").click()
    expect(page.locator("#leads-table tbody tr")).to_have_count(1)
    expect(page.locator("#leads-table")).to_contain_text("+14155550123")
    expect(page.locator("#match-count")).to_have_text("1")
    screenshot("04-leads-table-filtered")
    page.get_by_role("search").get_by_placeholder("Search phone or variables").fill("no such text")
    page.get_by_role("search").get_by_role("button", name="Search").click()
    expect(page.locator("#leads-table")).to_contain_text("No leads match these filters.")

    # Change its status from the lead page; the history records who.
    page.goto(f"/leads/{lead.pk}/")
    page.once("dialog", lambda dialog: dialog.accept())  # Completed takes it out of the queue: confirmed
    page.locator("#quick-status").get_by_role("button", name="Completed").click()
    expect(page.locator("#lead-status")).to_have_text("Completed")
    expect(page.locator("#history")).to_contain_text("sam")
    assert Lead.objects.get(pk=lead.pk).status == Status.COMPLETED

    # Move it to a campaign whose assistant needs another variable: the check blocks, then passes.
    open_form(page, "Edit", r"/leads/\d+/edit/$")
    page.get_by_label("Campaign").select_option(label="Dental")
    expect(page.locator('[data-move-check="error"]')).to_have_text(
        E_MOVE_MISSING.format(names="appointment_date")
    )
    expect(page.locator('[data-move-check="warning"]')).to_have_text(
        W_MOVE_UNKNOWN.format(names="company, industry")
    )
    screenshot("05-move-check")
    page.get_by_role("button", name="Save lead").click()
    expect(page.locator("#variable-errors")).to_have_text(E_MOVE_MISSING.format(names="appointment_date"))
    assert Lead.objects.get(pk=lead.pk).campaign == world["spring"]
    variable_value(page, "appointment_date").fill("Dec 3 at 10:00")
    page.get_by_role("button", name="Save lead").click()
    expect(page.locator(".alert-warning")).to_contain_text(W_MOVE_UNKNOWN.format(names="company, industry"))
    assert Lead.objects.get(pk=lead.pk).campaign == world["dental"]
    # The contacts kept their calling order through the refused save and the accepted one.
    assert list(lead.contacts.values_list("phone", flat=True)) == ["+14155550125", "+14155550124"]

    # Bulk-delete a filtered set after the confirmation.
    page.goto("/leads/?var=company&value=Northwind")
    expect(page.locator("#leads-table tbody tr")).to_have_count(3)
    expect(page.locator("#match-count")).to_have_text("3")
    page.get_by_label(re.compile("leads matching the filter")).check()
    page.locator("#bulk").get_by_role("button", name="Delete").click()
    expect(page.locator("#delete-summary")).to_contain_text("3 leads with 3 secondary contacts")
    screenshot("06-bulk-delete-confirm")
    page.get_by_role("button", name="Yes, delete 3 leads").click()
    expect(page.locator(".alert-success")).to_contain_text("Deleted 3 lead(s) and 3 secondary contact(s).")
    expect(page).to_have_url(re.compile(r"var=company&value=Northwind"))
    assert not Lead.objects.filter(pk__in=[n.pk for n in world["northwind"]]).exists()
    assert SecondaryContact.objects.filter(lead__in=world["northwind"]).count() == 0
    assert Lead.objects.filter(pk__in=[lead.pk, world["keeper"].pk]).count() == 2

    page.goto("/campaigns/")
    screenshot("07-campaigns")
    page.get_by_role("link", name="Spring").click()
    expect(page.locator('[data-status="created"] [data-count]')).to_have_text("1")
    screenshot("08-campaign-detail")
    page.goto("/leads/")
    screenshot("09-leads-table")


def test_an_operator_changes_the_status_of_checked_rows(page, screenshot, world):
    make_user("olivia", group=roles.OPERATORS)
    sign_in(page, "olivia")
    expect(page.locator("#bulk")).not_to_contain_text("Delete")
    expect(page.locator("#bulk")).not_to_contain_text("Export CSV")
    page.goto("/leads/?var=company&value=Northwind")
    boxes = page.locator('#leads-table tbody input[name="pk"]')
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.locator("#bulk").get_by_role("button", name="Change status").click()
    expect(page.locator("h1")).to_have_text("Change status of 2 leads")
    page.get_by_label("New status").select_option(label="Max Retries")
    page.get_by_label("Reason").fill("Wrong numbers")
    screenshot("10-bulk-status")
    page.once("dialog", lambda dialog: dialog.accept())  # Max Retries takes them out of the queue
    page.get_by_role("button", name="Change status").click()
    expect(page.locator(".alert-success")).to_contain_text("2 lead(s) set to Max Retries.")
    expect(page).to_have_url(re.compile(r"var=company&value=Northwind"))
    assert Lead.objects.filter(status=Status.MAX_RETRIES).count() == 2
