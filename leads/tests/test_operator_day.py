"""The operator's day: what a new team tripped on in the lead form, the lead page, the table and the
export page (variable removal, campaign switching, status explanations, duplicates, checked rows)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from campaigns.models import Campaign
from campaigns.providers.simulated import SimulatedProvider
from campaigns.runner import Runner
from campaigns.tests.helpers import Clock
from leadmgr.testing import make_assistant, make_campaign, make_lead
from leads import lifecycle
from leads import variables as lead_variables
from leads.filters import E_DATES_INVERTED
from leads.forms import E_BULK_LEAVING_QUEUE
from leads.models import Lead, Status
from leads.tests.test_csv_views import download
from leads.tests.test_views_lead import form_data
from leads.tests.test_views_table import rows
from leads.views import E_NOTHING_SELECTED

pytestmark = pytest.mark.django_db

INDUSTRY = "Software Development"


@pytest.fixture
def sales(db):
    return make_assistant(
        "Sales Qualifier",
        [("customer_name", "", True), ("company", "Acme", False), ("industry", INDUSTRY, False)],
        template="Hi {{customer_name}} from {{company}}.",
    )


@pytest.fixture
def spring(sales) -> Campaign:
    return make_campaign("Spring demo follow-up", sales, state=Campaign.State.RUNNING)


@pytest.fixture
def signed_in(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def staff_in(client, staff):
    client.force_login(staff)
    return client


def edit_data(lead: Lead, rows: list[tuple[str, str, bool]]) -> dict:
    """The edit form's POST: variable rows as (name, value, removed)."""
    data = form_data(lead.phone, lead.campaign, variables={})
    data["vars-TOTAL_FORMS"] = str(len(rows))
    for i, (name, value, removed) in enumerate(rows):
        data |= {f"vars-{i}-name": name, f"vars-{i}-value": value}
        if removed:
            data[f"vars-{i}-DELETE"] = "on"
    return data


class Recording(SimulatedProvider):
    """The simulated provider, keeping what it was asked to place (what the provider receives)."""

    def __init__(self) -> None:
        super().__init__(mix={"completed": 1}, seed=7, speedup=0)
        self.requests = []

    def place(self, requests):
        self.requests.extend(requests)
        return super().place(requests)


def what_the_provider_receives(lead: Lead) -> dict:
    provider = Recording()
    Runner(provider, clock=Clock(dt.datetime(2026, 11, 25, 18, 0, tzinfo=dt.UTC))).tick()
    [request] = [r for r in provider.requests if r.lead_id == lead.pk]
    return request.variables


# --- Removing a variable sticks ------------------------------------------------------------------


def test_the_edit_form_offers_an_inherited_default_to_remove(signed_in, spring):
    lead = make_lead(spring, variables={"customer_name": "Ann"})
    response = signed_in.get(f"/leads/{lead.pk}/edit/")
    shown = [(f["name"].value(), f["value"].value()) for f in response.context["editor"].variables.forms]
    assert shown == [("customer_name", "Ann"), ("company", ""), ("industry", "")]
    # Empty means "inherit": the default is the placeholder.
    assert f'placeholder="{INDUSTRY} (assistant default)"' in response.content.decode()


def test_removing_an_inherited_default_sticks_everywhere(signed_in, staff_in, spring):
    lead = make_lead(spring, variables={"customer_name": "Ann"})
    response = signed_in.post(
        f"/leads/{lead.pk}/edit/",
        edit_data(lead, [("customer_name", "Ann", False), ("company", "", False), ("industry", "", True)]),
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.variables, lead.removed_variables) == ({"customer_name": "Ann"}, ["industry"])

    # The lead page, and what the assistant will say, no longer know it; company is still inherited.
    page = signed_in.get(f"/leads/{lead.pk}/")
    assert page.context["effective"] == {"customer_name": "Ann", "company": "Acme"}
    assert INDUSTRY not in page.content.decode()
    # The edit form does not bring it back either.
    again = signed_in.get(f"/leads/{lead.pk}/edit/")
    assert "industry" not in [f["name"].value() for f in again.context["editor"].variables.forms]
    # Saving again keeps it removed.
    signed_in.post(f"/leads/{lead.pk}/edit/", edit_data(lead, [("customer_name", "Ann", False)]))
    lead.refresh_from_db()
    assert lead.removed_variables == ["industry"]
    # The export and the provider.
    header, exported = download(staff_in, f"pk={lead.pk}")
    assert "industry" not in header and INDUSTRY not in str(exported)
    assert what_the_provider_receives(lead) == {"customer_name": "Ann", "company": "Acme"}


def test_removing_a_value_the_form_saved_from_the_defaults_sticks(signed_in, spring):
    lead = make_lead(spring, variables={"customer_name": "Ann", "company": "Acme", "industry": INDUSTRY})
    signed_in.post(
        f"/leads/{lead.pk}/edit/",
        edit_data(
            lead, [("customer_name", "Ann", False), ("company", "Acme", False), ("industry", INDUSTRY, True)]
        ),
    )
    lead.refresh_from_db()
    assert (lead.variables, lead.removed_variables) == (
        {"customer_name": "Ann", "company": "Acme"},
        ["industry"],
    )
    assert signed_in.get(f"/leads/{lead.pk}/").context["effective"] == {
        "customer_name": "Ann",
        "company": "Acme",
    }
    assert what_the_provider_receives(lead) == {"customer_name": "Ann", "company": "Acme"}


def test_a_variable_removed_on_the_new_lead_form_is_not_inherited(signed_in, spring):
    data = form_data(
        "+14155550170", spring, variables={"customer_name": "Ann", "company": "Acme", "industry": ""}
    )
    data["vars-2-DELETE"] = "on"
    assert signed_in.post("/leads/new/", data).status_code == 302
    lead = Lead.objects.get(phone="+14155550170")
    assert (lead.variables, lead.removed_variables) == (
        {"customer_name": "Ann", "company": "Acme"},
        ["industry"],
    )


def test_a_required_variable_cannot_be_removed_and_the_form_says_why(signed_in, spring):
    lead = make_lead(spring, variables={"customer_name": "Ann"})
    response = signed_in.post(
        f"/leads/{lead.pk}/edit/", edit_data(lead, [("customer_name", "Ann", True), ("company", "", False)])
    )
    assert response.status_code == 200
    message = lead_variables.E_REQUIRED_NOT_REMOVABLE.format(
        names="customer_name", assistant="Sales Qualifier"
    )
    assert response.context["editor"].variable_errors == [message]
    assert message.replace("'", "&#x27;") in response.content.decode()
    lead.refresh_from_db()
    assert (lead.variables, lead.removed_variables) == ({"customer_name": "Ann"}, None)


def test_a_removed_default_set_again_is_the_leads_own_value(signed_in, spring):
    lead = make_lead(spring, variables={"customer_name": "Ann"}, removed_variables=["industry"])
    signed_in.post(
        f"/leads/{lead.pk}/edit/",
        edit_data(lead, [("customer_name", "Ann", False), ("industry", "Fintech", False)]),
    )
    lead.refresh_from_db()
    assert (lead.variables, lead.removed_variables) == ({"customer_name": "Ann", "industry": "Fintech"}, None)


def test_effective_variables_leave_out_removed_defaults_but_not_a_contacts_own_value(sales):
    assert lead_variables.effective(
        sales, {"customer_name": "Ann"}, {"industry": "Retail"}, ["industry"]
    ) == {
        "customer_name": "Ann",
        "company": "Acme",
        "industry": "Retail",
    }
    assert lead_variables.effective(sales, {}, None, ["industry", "company"]) == {}


# --- Switching the campaign on the new-lead form -------------------------------------------------


def test_switching_campaigns_shows_the_chosen_assistants_variables_and_what_was_typed(signed_in, spring):
    reminder = make_campaign(
        "Dental", make_assistant("Reminder", [("customer_name", "", True), ("appointment_date", "", True)])
    )
    survey = make_campaign(
        "Survey", make_assistant("Survey", [("score", "", False), ("topic", "NPS", False)])
    )

    def choose(campaign, current: list[tuple[str, str]], prefilled: str = "{}"):
        query = {"campaign": campaign.pk, "vars-TOTAL_FORMS": len(current), "prefilled": prefilled}
        for i, (name, value) in enumerate(current):
            query |= {f"vars-{i}-name": name, f"vars-{i}-value": value}
        response = signed_in.get("/leads/form/variables/", query)
        shown = [(f["name"].value(), f["value"].value()) for f in response.context["variables"].forms]
        return shown, response.context.get("prefilled_json", "{}")

    shown, filled = choose(spring, [])
    assert shown == [("customer_name", ""), ("company", "Acme"), ("industry", INDUSTRY)]
    shown, filled = choose(reminder, shown, filled)
    assert shown == [("customer_name", ""), ("appointment_date", "")]
    shown, filled = choose(survey, shown, filled)
    assert shown == [("score", ""), ("topic", "NPS")]
    shown, filled = choose(spring, [*shown[:1], ("topic", "NPS"), ("note", "typed")], filled)
    assert shown == [("customer_name", ""), ("company", "Acme"), ("industry", INDUSTRY), ("note", "typed")]
    shown, filled = choose(reminder, [("customer_name", "Ann"), *shown[1:]], filled)
    assert shown == [("customer_name", "Ann"), ("appointment_date", ""), ("note", "typed")]


# --- Duplicate primary -----------------------------------------------------------------------------


def test_a_duplicate_primary_links_to_the_existing_lead(signed_in, spring):
    existing = make_lead(spring, phone="+14155550180")
    response = signed_in.post("/leads/new/", form_data("+1 415 555 0180", spring))
    assert response.status_code == 200
    page = response.content.decode()
    assert "+14155550180 is already a lead in campaign &#x27;Spring demo follow-up&#x27;." in page
    assert f'<a href="/leads/{existing.pk}/" id="duplicate-lead">Open the existing lead</a>' in page


def test_a_campaign_name_with_a_percent_sign_does_not_break_the_duplicate_message(signed_in, sales):
    campaign = make_campaign("50% off", sales)
    make_lead(campaign, phone="+14155550181")
    response = signed_in.post("/leads/new/", form_data("+14155550181", campaign))
    assert response.status_code == 200
    assert "is already a lead in campaign &#x27;50% off&#x27;." in response.content.decode()


# --- Status buttons ----------------------------------------------------------------------------------


def test_each_status_button_says_what_it_does_and_asks_before_leaving_the_queue(signed_in, spring):
    lead = make_lead(spring, status=Status.RESCHEDULED, attempts=1)
    response = signed_in.get(f"/leads/{lead.pk}/")
    actions = {a["value"]: a for a in response.context["status_actions"]}
    assert list(actions) == ["created", "scheduled", "rescheduled", "completed", "max_retries"]
    assert "back in the queue" in actions["created"]["explained"]
    assert "retry limits still hold" in actions["created"]["explained"]
    assert "the campaign will not call this lead again" in actions["completed"]["explained"]
    assert [v for v, a in actions.items() if a["confirm"]] == ["completed", "max_retries"]
    page = response.content.decode()
    assert actions["created"]["explained"] in page
    question = lifecycle.CONFIRM_LEAVING_QUEUE.format(phone=lead.phone, label="Completed")
    assert f'data-confirm="{question}"' in page


@pytest.mark.parametrize("target", ["created", "rescheduled", "completed", "max_retries"])
def test_every_quick_status_change_keeps_its_reason_in_the_history(signed_in, spring, operator, target):
    lead = make_lead(spring, status=Status.SCHEDULED, next_attempt_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    signed_in.post(f"/leads/{lead.pk}/status/", {"target": target, "reason": "Asked by the customer"})
    change = lead.history.get()
    assert (change.from_status, change.to_status, change.user, change.reason) == (
        "scheduled",
        target,
        operator,
        "Asked by the customer",
    )


def test_the_bulk_status_form_starts_with_no_status_chosen(signed_in, spring):
    lead = make_lead(spring)
    response = signed_in.get(f"/leads/status/?pk={lead.pk}")
    page = response.content.decode()
    assert '<option value="" selected>Choose a status…</option>' in page
    assert f'data-confirm="{E_BULK_LEAVING_QUEUE.format(label="Completed")}"' in page
    assert signed_in.post(f"/leads/status/?pk={lead.pk}", {"reason": "x"}).status_code == 200
    assert Lead.objects.get(pk=lead.pk).status == Status.CREATED


# --- The table -----------------------------------------------------------------------------------------


def test_an_inverted_created_range_is_an_error_on_the_filter(signed_in, spring):
    make_lead(spring)
    response = signed_in.get("/leads/?created_from=2026-02-01&created_to=2026-01-01")
    assert response.status_code == 200
    message = E_DATES_INVERTED.format(start=dt.date(2026, 2, 1), to=dt.date(2026, 1, 1))
    assert f'<div class="text-danger small" data-filter-error="created_to">{message}</div>' in (
        response.content.decode()
    )
    assert rows(response) == []


@pytest.mark.parametrize("sort", ["next_attempt_at", "-next_attempt_at"])
def test_sorting_by_next_attempt_puts_leads_without_one_last(signed_in, spring, sort):
    at = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    none = make_lead(spring)
    early = make_lead(spring, status=Status.SCHEDULED, next_attempt_at=at)
    late = make_lead(spring, status=Status.SCHEDULED, next_attempt_at=at + dt.timedelta(hours=1))
    expected = [early.pk, late.pk] if sort == "next_attempt_at" else [late.pk, early.pk]
    assert rows(signed_in.get(f"/leads/?sort={sort}")) == [*expected, none.pk]


def test_the_page_size_is_chosen_on_the_page(signed_in, spring):
    for _ in range(3):
        make_lead(spring)
    page = signed_in.get(f"/leads/?campaign={spring.pk}&per_page=50").content.decode()
    form = page[page.index('<form method="get" id="page-size"') :].split("</form>")[0]
    assert f'<input type="hidden" name="campaign" value="{spring.pk}">' in form
    assert re.findall(r'<option value="(\d+)"( selected)?>', form) == [
        ("25", ""),
        ("50", " selected"),
        ("100", ""),
        ("200", ""),
    ]


def test_key_variables_show_their_whole_value_on_hover(signed_in, spring):
    long = "A company name far too long to fit in the table's column at 1366 pixels"
    make_lead(spring, variables={"customer_name": "Ann", "company": long})
    page = signed_in.get("/leads/").content.decode()
    assert f'title="company: {long}"' in page.replace("&#x27;", "'")


# --- Export: checked rows, the filter in words, the count, the column labels -------------------------


def test_export_of_checked_rows_writes_those_only(staff_in, spring):
    a, b, c = (make_lead(spring, variables={"customer_name": n}) for n in "ABC")
    Lead.objects.filter(pk=c.pk).update(status=Status.COMPLETED)
    _, exported = download(staff_in, f"all=0&pk={a.pk}&pk={c.pk}")
    assert sorted(r["phone"] for r in exported) == sorted([a.phone, c.phone])
    # Checked rows are taken among the rows matching the filter, as the bulk actions take them.
    _, exported = download(staff_in, f"status=created&all=0&pk={a.pk}&pk={c.pk}")
    assert [r["phone"] for r in exported] == [a.phone]
    # All matching: the checked boxes do not narrow it.
    _, exported = download(staff_in, f"status=created&all=1&pk={a.pk}")
    assert sorted(r["phone"] for r in exported) == sorted([a.phone, b.phone])


def test_export_of_checked_rows_with_none_checked_says_so(staff_in, spring):
    response = staff_in.get("/leads/export/?all=0")
    assert response.status_code == 400
    assert E_NOTHING_SELECTED in response.content.decode()


def test_the_export_page_describes_the_filter_counts_the_leads_and_labels_columns(
    staff_in, spring, django_assert_num_queries
):
    make_lead(spring, status=Status.COMPLETED)
    make_lead(spring, status=Status.RESCHEDULED)
    make_lead(spring, status=Status.CREATED)
    url = f"/leads/export/?campaign={spring.pk}&status=completed&status=rescheduled"
    # session, user, permissions (user's, groups'), campaign choices, the campaign with its
    # assistant, the assistant's variables, the capped count
    with django_assert_num_queries(8):
        response = staff_in.get(url)
    page = " ".join(response.content.decode().split())
    assert (
        '<span id="export-filter">Campaign: Spring demo follow-up; Status: Completed or Rescheduled</span>'
        in page
    )
    assert '<strong id="export-count">2 leads</strong> will be exported.' in page
    assert 'Phone number <small class="font-monospace text-body-secondary">phone</small>' in page
    assert 'Customer name <small class="font-monospace text-body-secondary">customer_name</small>' in page


def test_the_export_page_says_when_the_count_is_capped_and_names_checked_rows(staff_in, spring, monkeypatch):
    from leads import csv_views

    leads = [make_lead(spring) for _ in range(3)]
    monkeypatch.setattr(csv_views, "EXPORT_COUNT_CAP", 2)
    page = " ".join(staff_in.get("/leads/export/").content.decode().split())
    assert "no filter: every lead." in page and '<strong id="export-count">more than 2 leads</strong>' in page
    page = " ".join(staff_in.get(f"/leads/export/?all=0&pk={leads[0].pk}").content.decode().split())
    assert "The 1 lead checked in the table" in page
    assert f'<input type="hidden" name="pk" value="{leads[0].pk}">' in page


def test_page_one_sorted_by_an_expression_sorts_ids_not_whole_rows(signed_in, spring):
    # SQLite ascending (empty last) under a campaign and status filter: no index walks that order,
    # so the page picks its ids first (a deferred join), not a sort of rows with their subqueries.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    lead = make_lead(spring, status=Status.SCHEDULED, next_attempt_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    with CaptureQueriesContext(connection) as ctx:
        assert rows(signed_in.get(f"/leads/?campaign={spring.pk}&status=scheduled&sort=next_attempt_at")) == [
            lead.pk
        ]
    [table] = [q["sql"] for q in ctx.captured_queries if "n_contacts" in q["sql"]]
    # The ids from a subquery: a deferred join, or the sort index's first rows (storage.pages)
    # with a deferred join behind them. (PostgreSQL takes every page so.)
    assert "IN (SELECT" in table or "IN (WITH page_walk AS (SELECT" in table, table
