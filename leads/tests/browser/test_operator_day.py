"""The operator's day at 1366×768 in Chromium: the lead form, the lead page, the leads table, the
export page, and axe-core (WCAG 2 A and AA) over every signed-in page."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from campaigns.models import Campaign
from leadmgr.testing import make_assistant, make_campaign, make_lead, make_user
from leads import lifecycle, roles
from leads.models import Lead, Status

from .conftest import REPORT_CSP_VIOLATIONS, is_csp_violation
from .test_operator_flow import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

AXE = Path(__file__).with_name("axe") / "axe.min.js"
INDUSTRY = "Software Development"


@pytest.fixture
def page(chromium, live_server, csp_violations):
    """The conftest's page at the laptop size the issue was seen at: 1366×768."""
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 768})
    context.set_default_timeout(10_000)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.on("console", lambda m: csp_violations.append(m.text) if is_csp_violation(m.text) else None)
    yield page
    context.close()
    assert not csp_violations, "the page broke its Content-Security-Policy:\n" + "\n".join(csp_violations)


def axe_violations(page) -> list[str]:
    """axe-core's WCAG 2 A and AA violations on the page, one line each (rule, nodes, why).

    Evaluated through the browser's debugging protocol, which the Content-Security-Policy does not
    govern: the site never serves axe."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa"]}});
          return r.violations.map((v) => ({id: v.id, nodes: v.nodes.map((n) => [n.target.join(" "), n.failureSummary.split(String.fromCharCode(10))[1]])}));
        }"""
    )
    return [f"{v['id']}: {json.dumps(v['nodes'])}" for v in result]


@pytest.fixture
def world():
    sales = make_assistant(
        "Sales Qualifier",
        [("customer_name", "", True), ("company", "Acme", False), ("industry", INDUSTRY, False)],
        template="Hi {{customer_name}} from {{company}}, in {{industry}}.",
    )
    reminder = make_assistant(
        "Appointment Reminder",
        [("customer_name", "", True), ("appointment_date", "", True)],
        template="Hello {{customer_name}}, your appointment is on {{appointment_date}}.",
    )
    spring = make_campaign("Spring demo follow-up", sales, state=Campaign.State.RUNNING)
    dental = make_campaign("Dental check-up reminders (north)", reminder)
    at = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
    leads = [
        make_lead(
            spring,
            variables={
                "customer_name": f"Customer with a rather long name number {i}",
                "company": "Northwind Traders International Holdings Limited",
                "industry": "Wholesale distribution of speciality foods",
            },
            contacts=[f"+1415555090{i}"],
            status=Status.RESCHEDULED if i % 2 else Status.CREATED,
            attempts=i % 3,
            next_attempt_at=at if i % 2 else None,
        )
        for i in range(6)
    ]
    plain = make_lead(spring, phone="+14155550150", variables={"customer_name": "Ann Lee"})
    return {"spring": spring, "dental": dental, "leads": leads, "plain": plain}


# --- Accessibility ---------------------------------------------------------------------------------


def test_every_signed_in_page_has_no_wcag_a_or_aa_violation(page, world, settings, tmp_path):
    settings.LEADMGR_IMPORT_DIR = tmp_path / "uploads"
    make_user("sam", group=roles.STAFF)
    sign_in(page, "sam")
    lead = world["leads"][1]
    spring = world["spring"]
    pages = [
        "/leads/",
        f"/leads/?campaign={spring.pk}&status=rescheduled&sort=-next_attempt_at",
        "/leads/?created_from=2026-02-01&created_to=2026-01-01",
        "/leads/new/",
        f"/leads/{lead.pk}/",
        f"/leads/{lead.pk}/edit/",
        f"/leads/status/?pk={lead.pk}",
        f"/leads/delete/?pk={lead.pk}",
        f"/leads/export/?campaign={spring.pk}",
        "/leads/import/",
        "/campaigns/",
        f"/campaigns/{spring.pk}/",
        "/accounts/password_change/",
    ]
    found = {}
    for url in pages:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        violations = axe_violations(page)
        if violations:
            found[url] = violations
    # The import preview, after an upload.
    page.goto("/leads/import/")
    page.get_by_label("CSV or Excel file").set_input_files(
        files=[
            {
                "name": "leads.csv",
                "mimeType": "text/csv",
                "buffer": b"phone,campaign,customer_name\n"
                b"+14155550160,Spring demo follow-up,Ann\n+1415,Spring demo follow-up,Bo\n",
            }
        ]
    )
    page.get_by_role("button", name="Preview").click()
    page.wait_for_load_state("networkidle")
    if violations := axe_violations(page):
        found["import preview"] = violations
    assert not found, "\n".join(f"{url}: {v}" for url, vs in found.items() for v in vs)


# --- The leads table ---------------------------------------------------------------------------------


FITS = """() => {
  const root = document.documentElement;
  const table = document.getElementById("leads-table").getBoundingClientRect();
  const select = document.querySelector("#filters select[name=campaign]");
  const style = getComputedStyle(select);
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = style.font;
  const longest = Math.max(...[...select.options].map((o) => ctx.measureText(o.text).width));
  const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const dates = [...document.querySelectorAll("#filters input[type=date]")];
  return {
    page: [root.scrollWidth, root.clientWidth],
    table: Math.ceil(table.right),
    campaign: [Math.ceil(longest), Math.floor(room)],
    dates: dates.map((d) => d.getBoundingClientRect().width),
  };
}"""


def test_the_leads_table_fits_1366_pixels_and_the_filters_show_whole_names(page, world, screenshot):
    make_user("olivia", group=roles.OPERATORS)
    sign_in(page, "olivia")
    page.goto("/leads/")
    fit = page.evaluate(FITS)
    screenshot("operator-day-table-1366")
    scroll_width, width = fit["page"]
    assert scroll_width <= width, f"the page scrolls sideways: {scroll_width} px in {width} px"
    assert fit["table"] <= width
    longest, room = fit["campaign"]
    assert longest <= room, f"the longest campaign name needs {longest} px, the select has {room} px"
    # A date input shows a whole date (mm/dd/yyyy) and its calendar button from about 140 px on.
    assert min(fit["dates"]) >= 140, fit["dates"]
    # A long key variable is cut to one line, whole on hover.
    company = page.locator("#leads-table .key-variable", has_text="company").first
    expect(company).to_have_attribute("title", "company: Northwind Traders International Holdings Limited")


def test_the_bulk_bar_counts_checked_rows_and_exports_those(page, world, screenshot):
    make_user("sam", group=roles.STAFF)
    sign_in(page, "sam")
    page.goto(f"/leads/?campaign={world['spring'].pk}")
    expect(page.locator("#checked-count")).to_have_text("0")
    boxes = page.locator('#leads-table tbody input[name="pk"]')
    boxes.nth(0).check()
    boxes.nth(2).check()
    expect(page.locator("#checked-count")).to_have_text("2")
    page.locator("[data-select-page]").check()
    expect(page.locator("#checked-count")).to_have_text(str(boxes.count()))
    page.locator("[data-select-page]").uncheck()
    boxes.nth(0).check()
    boxes.nth(2).check()
    checked = sorted(int(boxes.nth(i).get_attribute("value")) for i in (0, 2))
    page.locator("#bulk").get_by_role("link", name="Export CSV").click()
    expect(page.locator("#export-summary")).to_contain_text("The 2 leads checked in the table")
    expect(page.locator("#export-filter")).to_have_text("Campaign: Spring demo follow-up")
    expect(page.locator("#export-count")).to_have_text("2 leads")
    screenshot("operator-day-export-checked")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    phones = sorted(line.split(",")[1] for line in text.splitlines()[1:])
    assert phones == sorted(Lead.objects.filter(pk__in=checked).values_list("phone", flat=True))
    # "All matching" exports every lead the filter matches, checked or not.
    page.goto(f"/leads/?campaign={world['spring'].pk}")
    page.locator('#leads-table tbody input[name="pk"]').first.check()
    page.get_by_label(re.compile("leads matching the filter")).check()
    page.locator("#bulk").get_by_role("link", name="Export CSV").click()
    expect(page.locator("#export-count")).to_have_text("7 leads")


def test_the_page_size_is_chosen_on_the_page(page, world):
    for _ in range(24):
        make_lead(world["spring"])
    make_user("olivia", group=roles.OPERATORS)
    sign_in(page, "olivia")
    page.goto("/leads/?status=created")
    expect(page.locator("#leads-table tbody tr")).to_have_count(25)
    expect(page.get_by_role("button", name="Show")).to_be_hidden()  # the select applies itself
    page.get_by_label("Leads per page").select_option("50")
    expect(page).to_have_url(re.compile(r"status=created.*per_page=50"))
    expect(page.locator("#leads-table tbody tr")).to_have_count(28)
    expect(page.get_by_label("Leads per page")).to_have_value("50")


def test_an_inverted_date_range_is_shown_on_the_filter(page, world):
    make_user("olivia", group=roles.OPERATORS)
    sign_in(page, "olivia")
    page.locator("#filters").get_by_label("Created from").fill("2026-02-01")
    page.locator("#filters").get_by_label("to", exact=True).fill("2026-01-01")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator('[data-filter-error="created_to"]')).to_have_text(
        "The end date (2026-01-01) is before the start date (2026-02-01): swap them or change one."
    )


# --- The lead form and the lead page ---------------------------------------------------------------


def variable_row(page, name: str):
    return page.locator(f'#variables [data-variable-row]:has(input[value="{name}"])')


def test_removing_a_variable_sticks(page, world):
    lead = world["plain"]  # inherits company and industry
    make_user("olivia", group=roles.OPERATORS)
    sign_in(page, "olivia")
    page.goto(f"/leads/{lead.pk}/")
    expect(page.locator("#effective-variables")).to_contain_text(INDUSTRY)
    expect(page.locator("[data-message]").first).to_contain_text(f"in {INDUSTRY}.")
    page.get_by_role("link", name="Edit").click()
    page.wait_for_load_state()
    expect(variable_row(page, "industry").locator('input[name$="-value"]')).to_have_attribute(
        "placeholder", f"{INDUSTRY} (assistant default)"
    )
    page.get_by_role("button", name="Remove variable industry").click()
    page.get_by_role("button", name="Save lead").click()
    expect(page.locator("h1")).to_have_text(lead.phone)
    expect(page.locator("#effective-variables")).not_to_contain_text("industry")
    expect(page.locator("[data-message]").first).not_to_contain_text(INDUSTRY)
    expect(page.locator("[data-missing]").first).to_have_text("Missing: industry")
    page.get_by_role("link", name="Edit").click()
    page.wait_for_load_state()
    expect(variable_row(page, "industry")).to_have_count(0)
    # A required variable cannot be removed: the form says why.
    page.get_by_role("button", name="Remove variable customer_name").click()
    page.get_by_role("button", name="Save lead").click()
    expect(page.locator("#variable-errors")).to_have_text(
        "customer_name: required by the assistant 'Sales Qualifier', so the call cannot do without it. "
        "Change the value instead of removing the variable."
    )
    lead.refresh_from_db()
    assert (lead.variables, lead.removed_variables) == ({"customer_name": "Ann Lee"}, ["industry"])


def test_switching_the_campaign_several_times_piles_up_no_rows(page, world):
    make_user("olivia", group=roles.OPERATORS)
    sign_in(page, "olivia")
    page.goto("/leads/new/")
    page.wait_for_load_state()
    names = page.locator('#variables [data-variable-row]:visible input[name$="-name"]')
    campaign = page.get_by_label("Campaign")
    for _ in range(2):
        campaign.select_option(label="Spring demo follow-up")
        expect(names).to_have_count(3)
        campaign.select_option(label="Dental check-up reminders (north)")
        expect(names).to_have_count(2)
    assert [names.nth(i).input_value() for i in range(2)] == ["customer_name", "appointment_date"]
    variable_row(page, "customer_name").locator('input[name$="-value"]').fill("Ann")
    campaign.select_option(label="Spring demo follow-up")
    expect(names).to_have_count(3)
    expect(variable_row(page, "customer_name").locator('input[name$="-value"]')).to_have_value("Ann")


def test_a_duplicate_primary_links_to_the_existing_lead(page, world):
    existing = world["plain"]
    make_user("olivia", group=roles.OPERATORS)
    sign_in(page, "olivia")
    page.goto("/leads/new/")
    page.wait_for_load_state()
    page.get_by_label("Phone number", exact=True).first.fill(existing.phone)
    page.get_by_label("Campaign").select_option(label="Spring demo follow-up")
    variable_row(page, "customer_name").locator('input[name$="-value"]').fill("Someone")
    page.get_by_role("button", name="Save lead").click()
    expect(page.locator(".invalid-feedback")).to_contain_text("is already a lead in campaign")
    page.get_by_role("link", name="Open the existing lead").click()
    expect(page).to_have_url(re.compile(rf"/leads/{existing.pk}/$"))


def test_status_buttons_explain_themselves_ask_before_leaving_the_queue_and_keep_the_reason(
    page, world, screenshot
):
    lead = world["leads"][1]  # Rescheduled
    make_user("olivia", group=roles.OPERATORS)
    sign_in(page, "olivia")
    page.goto(f"/leads/{lead.pk}/")
    actions = page.locator("#quick-status")
    screenshot("operator-day-status-buttons")
    expect(actions.locator('[data-status-action="created"]')).to_contain_text(
        "Reset to Created Puts the lead back in the queue for another call attempt; retry limits still hold."
    )
    expect(actions.locator('[data-status-action="completed"]')).to_contain_text(
        "the campaign will not call this lead again"
    )
    # Completed asks first; declining changes nothing.
    questions = []

    def answer(dialog, accept: bool):
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, False))
    actions.get_by_role("button", name="Completed").click()
    page.wait_for_timeout(200)
    assert questions == [lifecycle.CONFIRM_LEAVING_QUEUE.format(phone=lead.phone, label="Completed")]
    assert Lead.objects.get(pk=lead.pk).status == Status.RESCHEDULED
    # Reset to Created stays in the queue: no question; the reason goes into the history.
    page.get_by_label("Reason").fill("Customer asked to be called again")
    actions.get_by_role("button", name="Reset to Created").click()
    expect(page.locator("#lead-status")).to_have_text("Created")
    expect(page.locator("#history tbody tr").last).to_contain_text("Customer asked to be called again")
    assert len(questions) == 1
    page.once("dialog", lambda d: answer(d, True))
    page.get_by_label("Reason").fill("Goal reached by email")
    actions.get_by_role("button", name="Completed").click()
    expect(page.locator("#lead-status")).to_have_text("Completed")
    expect(page.locator("#history tbody tr").last).to_contain_text("Goal reached by email")
    assert list(lead.history.order_by("at", "id").values_list("to_status", "reason")) == [
        ("created", "Customer asked to be called again"),
        ("completed", "Goal reached by email"),
    ]


def test_the_bulk_status_form_starts_with_no_status_and_asks_before_completing(page, world):
    make_user("olivia", group=roles.OPERATORS)
    sign_in(page, "olivia")
    leads = world["leads"][:2]
    page.goto("/leads/status/?" + "&".join(f"pk={lead.pk}" for lead in leads))
    expect(page.get_by_label("New status")).to_have_value("")
    page.get_by_label("New status").select_option(label="Completed")
    page.once("dialog", lambda d: d.dismiss())
    page.get_by_role("button", name="Change status").click()
    page.wait_for_timeout(200)
    assert set(Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("status", flat=True)) == {
        Status.CREATED,
        Status.RESCHEDULED,
    }
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Change status").click()
    expect(page.locator(".alert-success")).to_contain_text("2 lead(s) set to Completed.")
