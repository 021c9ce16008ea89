"""The leads table: columns, filters in the URL, sort, lazy pagination, bulk actions."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leadmgr.testing import make_assistant, make_campaign, make_lead
from leads import attempts, lifecycle
from leads.models import Lead, SecondaryContact, Status, StatusChange
from leads.views import E_BAD_FILTER, E_NOTHING_SELECTED

ROW_RE = re.compile(r'href="/leads/(\d+)/"')


def rows(response) -> list[int]:
    return [int(pk) for pk in ROW_RE.findall(response.content.decode())]


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def signed_in(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def two_campaigns(db):
    spring = make_campaign("Spring")
    autumn = make_campaign("Autumn", make_assistant("Reminder", [("customer_name", "", True)]))
    return spring, autumn


def test_the_table_shows_the_columns_an_operator_needs(signed_in, campaign):
    lead = make_lead(
        campaign,
        variables={"customer_name": "Sarah Johnson", "company": "TechStart"},
        contacts=["+14155550901", "+14155550902"],
        attempts=2,
    )
    page = signed_in.get("/leads/").content.decode()
    for header in [
        "Phone number",
        "Campaign",
        "Status",
        "Key variables",
        "Secondary contacts",
        "Attempts",
        "Next attempt",
        "Created",
    ]:
        assert header in page
    row = page[page.index(f'href="/leads/{lead.pk}/"') :].split("</tr>")[0]
    assert lead.phone in row and "Spring" in row and "Created" in row and "Sarah Johnson" in row
    assert re.search(r">\s*2\s*<", row)  # two secondary contacts (and two attempts)


def test_the_tables_own_template_draws_the_rows_as_django_tables2s_does(signed_in, campaign, monkeypatch):
    # leads/_lead_table.html works the cells' attributes out once per column instead of per cell;
    # the rows must be the library's own.
    from leads.tables import LeadTable

    make_lead(campaign, variables={"customer_name": "Ada"}, contacts=["+14155550901"], attempts=1)
    make_lead(campaign, phone="+14155550111")

    def rows_drawn_with(template_name: str) -> str:
        monkeypatch.setattr(LeadTable._meta, "template_name", template_name)
        page = signed_in.get("/leads/?sort=-attempts").content.decode()
        rows = page[page.index("<tbody") : page.index("</tbody>")]
        return " ".join(rows.split()).replace("> <", "><")  # the templates' own indentation aside

    ours = rows_drawn_with("leads/_lead_table.html")
    assert ours.count("<td ") == 2 * 9 and '<td class="text-end">1</td>' in ours
    assert ours == rows_drawn_with("django_tables2/bootstrap5.html")


def test_the_cells_attributes_are_worked_out_once_per_column_not_per_cell(signed_in, campaign, monkeypatch):
    from django_tables2.columns.base import BoundColumn

    for n in range(5):
        make_lead(campaign, phone=f"+1415555012{n}")
    worked_out = []
    library_attrs = BoundColumn.attrs.fget

    def counted(column):
        worked_out.append(column.name)
        return library_attrs(column)

    monkeypatch.setattr(BoundColumn, "attrs", property(counted))
    assert signed_in.get("/leads/").status_code == 200
    columns = 9
    assert len(worked_out) <= 2 * columns  # the headers' and the cells', whatever the rows


def test_render_signatures_are_read_once_per_function_not_per_cell(signed_in, campaign, monkeypatch):
    import inspect

    from django_tables2 import utils as tables2_utils

    # The library still looks the helper up where leadmgr.adaptations.remember_render_signatures put it.
    assert tables2_utils.signature.remembers
    assert "signature" in tables2_utils.call_with_appropriate.__code__.co_names
    for n in range(5):
        make_lead(campaign, phone=f"+1415555013{n}")
    read = []
    real = inspect.signature
    monkeypatch.setattr(inspect, "signature", lambda fn, **kw: read.append(fn) or real(fn, **kw))
    assert signed_in.get("/leads/").status_code == 200
    assert len(read) <= 9  # at most once per column's function (none if an earlier page read them)


def test_a_remembered_signature_is_the_librarys_own():
    from functools import partial

    from django_tables2 import utils as tables2_utils

    from leads.tables import LeadTable

    original = tables2_utils.signature.__wrapped__  # the library's own
    table = LeadTable([])

    def plain(value, record=None, **extra):
        return value

    for fn in (table.render_status, LeadTable.render_status, plain, partial(plain, record=1)):
        assert tables2_utils.signature(fn) == original(fn)
        assert tables2_utils.signature(fn) == original(fn)  # and again, from memory
    assert tables2_utils.signature(table.render_status) == (("value", "record"), None)


def test_every_column_but_the_computed_ones_sorts(signed_in, campaign):
    page = signed_in.get("/leads/").content.decode()
    for key in ["phone", "campaign", "status", "attempts", "next_attempt_at", "created_at"]:
        assert f"sort={key}" in page or f"sort=-{key}" in page
    assert "sort=key_variables" not in page and "sort=contacts" not in page


def test_sorting_by_phone(signed_in, campaign):
    b = make_lead(campaign, phone="+14155550202")
    a = make_lead(campaign, phone="+14155550101")
    assert rows(signed_in.get("/leads/?sort=phone")) == [a.pk, b.pk]
    assert rows(signed_in.get("/leads/?sort=-phone")) == [b.pk, a.pk]


def test_newest_first_by_default(signed_in, campaign):
    old = make_lead(campaign)
    new = make_lead(campaign)
    Lead.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=1))
    assert rows(signed_in.get("/leads/")) == [new.pk, old.pk]


def test_filters_by_campaign_and_several_statuses(signed_in, two_campaigns):
    spring, autumn = two_campaigns
    created = make_lead(spring)
    done = make_lead(spring, status=Status.COMPLETED)
    make_lead(spring, status=Status.MAX_RETRIES)
    make_lead(autumn)
    response = signed_in.get(f"/leads/?campaign={spring.pk}&status=created&status=completed")
    assert sorted(rows(response)) == sorted([created.pk, done.pk])


def test_filters_by_created_date_range(signed_in, campaign):
    inside = make_lead(campaign)
    before = make_lead(campaign)
    Lead.objects.filter(pk=inside.pk).update(created_at=dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC))
    Lead.objects.filter(pk=before.pk).update(created_at=dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC))
    assert rows(signed_in.get("/leads/?created_from=2026-03-05&created_to=2026-03-10")) == [inside.pk]


def test_filters_by_variable_key_and_value_and_free_text(signed_in, campaign):
    a = make_lead(campaign, variables={"customer_name": "Ann", "company": "Northwind"})
    b = make_lead(campaign, variables={"customer_name": "Northwind Bob"})
    assert rows(signed_in.get("/leads/?var=company&value=north")) == [a.pk]
    assert sorted(rows(signed_in.get("/leads/?variables=northwind"))) == sorted([a.pk, b.pk])
    assert rows(signed_in.get("/leads/?var=company")) == [a.pk]


def test_the_search_bar_looks_at_phones_and_variables(signed_in, campaign):
    a = make_lead(campaign, phone="+14155557777", variables={"customer_name": "Ann"})
    b = make_lead(campaign, variables={"customer_name": "Zed 7777"})
    make_lead(campaign, variables={"customer_name": "Other"})
    assert sorted(rows(signed_in.get("/leads/?q=7777"))) == sorted([a.pk, b.pk])
    assert rows(signed_in.get("/leads/?q=ann")) == [a.pk]


def test_an_invalid_filter_shows_no_rows_and_says_why(signed_in, campaign):
    make_lead(campaign)
    response = signed_in.get("/leads/?created_from=yesterday")
    assert rows(response) == []
    assert "Enter a valid date." in response.content.decode()


def test_filters_sort_and_page_stay_in_the_links(signed_in, campaign):
    for _ in range(26):
        make_lead(campaign)
    page = signed_in.get(f"/leads/?campaign={campaign.pk}&status=created&sort=phone").content.decode()
    assert f"?campaign={campaign.pk}&amp;status=created&amp;sort=phone&amp;page=2" in page


def test_pages_without_counting(signed_in, campaign, django_assert_num_queries):
    for _ in range(30):
        make_lead(campaign)
    first = signed_in.get("/leads/")
    assert len(rows(first)) == 25
    second = signed_in.get("/leads/?page=2")
    assert len(rows(second)) == 5
    assert not set(rows(first)) & set(rows(second))


def test_deep_pages_match_plain_offsets(signed_in, campaign):
    """Past the deferred-join threshold a page holds exactly the rows a plain OFFSET gives."""
    from leadmgr.pagination import DeferredJoinLazyPaginator

    for _ in range(12):
        make_lead(campaign)
    queryset = Lead.objects.order_by("phone")
    paginator = DeferredJoinLazyPaginator(queryset, 5)
    paginator.object_list.deep_offset = 0
    assert [lead.pk for lead in paginator.page(2).object_list] == [lead.pk for lead in queryset[5:10]]
    assert paginator.num_pages == 3


def test_the_tables_deep_pages_skip_rows_on_the_index_alone(signed_in, campaign, monkeypatch):
    # django-tables2 hands the paginator its rows, not the queryset: the page query itself must
    # skip with a subquery of ids, or PostgreSQL computes every skipped row (its contact count
    # included: 300 ms at offset 100k of 1M).
    from leadmgr.pagination import DeferredJoinLazyPaginator

    monkeypatch.setattr(DeferredJoinLazyPaginator, "deep_offset", 5)
    for _ in range(12):
        make_lead(campaign)
    with CaptureQueriesContext(connection) as captured:
        page = signed_in.get("/leads/?sort=phone&per_page=5&page=2")
    (query,) = [q["sql"] for q in captured.captured_queries if "leads_lead" in q["sql"]]
    outer, _, inner = query.partition("IN (SELECT")
    assert "OFFSET" in inner and "OFFSET" not in outer, query
    expected = Lead.objects.order_by("phone").values_list("pk", flat=True)[5:10]
    assert rows(page) == list(expected)
    assert "page=3" in page.content.decode()  # a next page: the look-ahead row came through


def test_page_one_reads_its_ids_first_on_postgresql_only(signed_in, campaign):
    # PostgreSQL sorts rows with their whole select list, so ids first pays on every page there;
    # on SQLite a search's candidate filter plans worse inside the subquery.
    for _ in range(3):
        make_lead(campaign)
    with CaptureQueriesContext(connection) as captured:
        page = signed_in.get("/leads/?sort=-attempts")
    (query,) = [q["sql"] for q in captured.captured_queries if "leads_lead" in q["sql"]]
    assert ("IN (SELECT" in query) == (connection.vendor == "postgresql"), query
    assert sorted(rows(page)) == sorted(Lead.objects.values_list("pk", flat=True))


def test_the_table_page_costs_six_queries_and_no_count(client, operator, campaign, django_assert_num_queries):
    for _ in range(3):
        make_lead(campaign)
    client.force_login(operator)
    # session, user, the user's permissions, the groups' permissions, campaign choices, the page's rows
    with django_assert_num_queries(6) as captured:
        response = client.get(f"/leads/?campaign={campaign.pk}&status=created&q=Sarah&sort=-attempts")
    assert response.status_code == 200
    assert not any("COUNT(*)" in q["sql"] for q in captured.captured_queries)


def test_the_match_count_is_loaded_separately_and_capped(
    signed_in, campaign, django_assert_num_queries, monkeypatch
):
    for _ in range(3):
        make_lead(campaign)
    # session, user, permissions (user's, groups'), campaign choices, the capped count
    with django_assert_num_queries(6):
        response = signed_in.get(f"/leads/count/?campaign={campaign.pk}")
    assert 'data-count="3"' in response.content.decode()
    monkeypatch.setattr("leads.views.MATCH_COUNT_CAP", 2)
    assert "more than 2" in signed_in.get("/leads/count/").content.decode()


@pytest.mark.parametrize(
    "query", ["q=Sarah", "variables=Sarah", "var=customer_name&value=Sarah", "created_from=2000-01-01"]
)
def test_the_bulk_bars_count_reads_at_most_a_thousand_and_one_matches(signed_in, campaign, query):
    """Any filter but campaign and status: the count stops after 1,001 rows, and says "more than"."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from leads import views

    assert views.MATCH_COUNT_CAP == 1_000
    make_lead(campaign)
    with CaptureQueriesContext(connection) as ctx:
        response = signed_in.get(f"/leads/count/?{query}")
    assert 'data-count="1"' in response.content.decode()
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1 and "LIMIT 1001" in counts[0], counts


def test_a_campaign_and_status_count_comes_from_the_status_counts_not_the_leads(client, staff):
    client.force_login(staff)
    spring = make_campaign("Spring")
    autumn = make_campaign("Autumn", spring.assistant)
    for status, n in ((Status.CREATED, 3), (Status.COMPLETED, 2), (Status.RESCHEDULED, 1)):
        for _ in range(n):
            make_lead(spring, status=status)
    make_lead(autumn)
    Lead.objects.filter(pk=make_lead(spring).pk).delete()  # a delete is counted too
    lifecycle.set_status(
        Lead.objects.filter(status=Status.CREATED, campaign=spring).first(), Status.COMPLETED
    )
    expected = {
        f"campaign={spring.pk}&status=created": 2,
        f"campaign={spring.pk}&status=created&status=completed": 5,
        f"campaign={spring.pk}": 6,
        "status=created": 3,
        "": 7,
    }
    for query, n in expected.items():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/leads/count/?{query}")
        assert f'data-count="{n}"' in response.content.decode(), query
        assert not any("leads_lead" in q["sql"] for q in captured.captured_queries), query
        assert (
            Lead.objects.filter(
                **({"campaign": spring} if "campaign" in query else {}),
                **({"status__in": re.findall(r"status=(\w+)", query)} if "status" in query else {}),
            ).count()
            == n
        )


def test_any_other_filter_counts_the_matching_leads(signed_in, campaign):
    make_lead(campaign, variables={"company": "Northwind"})
    make_lead(campaign, variables={"company": "Contoso"})
    with CaptureQueriesContext(connection) as captured:
        response = signed_in.get(f"/leads/count/?campaign={campaign.pk}&var=company&value=North")
    assert 'data-count="1"' in response.content.decode()
    assert any("leads_lead" in q["sql"] for q in captured.captured_queries)


# --- Bulk delete ----------------------------------------------------------------------------


def test_bulk_delete_confirms_with_counts_then_deletes_the_filtered_set(
    signed_in, two_campaigns, django_assert_num_queries
):
    spring, autumn = two_campaigns
    doomed = [make_lead(spring, contacts=["+14155550901", "+14155550902"]) for _ in range(3)]
    kept = [make_lead(spring, status=Status.COMPLETED), make_lead(autumn)]
    url = f"/leads/delete/?all=1&campaign={spring.pk}&status=created&next=/leads/%3Fcampaign%3D{spring.pk}"
    # session, user, permissions (user's, groups'), campaign choices, count leads, count contacts
    with django_assert_num_queries(7):
        confirm = signed_in.get(url)
    assert confirm.context["n_leads"] == 3 and confirm.context["n_contacts"] == 6
    assert "3</strong> leads" in confirm.content.decode()
    response = signed_in.post(url)
    assert response.status_code == 302 and response["Location"] == f"/leads/?campaign={spring.pk}"
    assert texts(response) == ["Deleted 3 lead(s) and 6 secondary contact(s)."]
    assert not Lead.objects.filter(pk__in=[d.pk for d in doomed]).exists()
    assert SecondaryContact.objects.count() == 0
    assert Lead.objects.filter(pk__in=[k.pk for k in kept]).count() == 2


def test_bulk_delete_of_checked_rows_only_deletes_those(signed_in, campaign):
    a, b, c = make_lead(campaign), make_lead(campaign), make_lead(campaign)
    response = signed_in.post(f"/leads/delete/?pk={a.pk}&pk={b.pk}&all=0")
    assert response.status_code == 302
    assert list(Lead.objects.values_list("pk", flat=True)) == [c.pk]


def test_checked_rows_outside_the_filter_are_not_deleted(signed_in, two_campaigns):
    spring, autumn = two_campaigns
    other = make_lead(autumn)
    signed_in.post(f"/leads/delete/?pk={other.pk}&campaign={spring.pk}")
    assert Lead.objects.filter(pk=other.pk).exists()


def test_bulk_delete_with_nothing_selected_says_so(signed_in, campaign):
    make_lead(campaign)
    response = signed_in.post("/leads/delete/?campaign=")
    assert response.status_code == 302 and texts(response) == [E_NOTHING_SELECTED]
    assert Lead.objects.count() == 1


def test_bulk_delete_refuses_an_invalid_filter(signed_in, campaign):
    make_lead(campaign)
    response = signed_in.post("/leads/delete/?all=1&created_from=not-a-date")
    assert texts(response) == [E_BAD_FILTER]
    assert Lead.objects.count() == 1


def test_the_return_address_must_be_on_this_site(signed_in, campaign):
    lead = make_lead(campaign)
    response = signed_in.post(f"/leads/delete/?pk={lead.pk}&next=https://evil.example/")
    assert response["Location"] == "/leads/"


# --- Bulk status ----------------------------------------------------------------------------


def test_bulk_status_reports_changed_and_refused(signed_in, campaign, django_assert_num_queries):
    created = [make_lead(campaign) for _ in range(2)]
    busy = make_lead(campaign)
    attempts.start_attempt(busy, lease=dt.timedelta(minutes=5))
    done = make_lead(campaign, status=Status.COMPLETED)
    url = f"/leads/status/?all=1&campaign={campaign.pk}"
    # session, user, permissions (user's, groups'), campaign choices, count
    with django_assert_num_queries(6):
        page = signed_in.get(url)
    assert page.context["n_leads"] == 4
    response = signed_in.post(url, {"target": "completed", "reason": "Closed by email"})
    assert response.status_code == 302
    reported = texts(response)
    assert reported[0] == "2 lead(s) set to Completed."
    assert sorted(reported[1:]) == sorted(
        [
            "1 lead(s) left unchanged: " + lifecycle.E_CALL_UNDER_WAY.format(label="Completed"),
            "1 lead(s) left unchanged: " + lifecycle.E_ALREADY.format(label="Completed"),
        ]
    )
    assert set(Lead.objects.filter(status=Status.COMPLETED).values_list("pk", flat=True)) == {
        created[0].pk,
        created[1].pk,
        done.pk,
    }
    change = StatusChange.objects.get(lead=created[0], to_status=Status.COMPLETED)
    assert (change.user.username, change.reason, change.automatic) == ("sam", "Closed by email", False)


def test_bulk_scheduled_needs_a_time(signed_in, campaign):
    lead = make_lead(campaign)
    response = signed_in.post(f"/leads/status/?pk={lead.pk}", {"target": "scheduled"})
    assert response.status_code == 200
    assert lifecycle.E_SCHEDULED_NEEDS_TIME in response.content.decode()
    response = signed_in.post(
        f"/leads/status/?pk={lead.pk}", {"target": "scheduled", "scheduled_at": "2030-12-01T10:30"}
    )
    lead.refresh_from_db()
    assert (lead.status, lead.next_attempt_at) == (
        Status.SCHEDULED,
        dt.datetime(2030, 12, 1, 10, 30, tzinfo=dt.UTC),
    )


def test_page_size_comes_from_the_url_within_bounds(signed_in, campaign, monkeypatch):
    from leadmgr.pagination import DeferredJoinLazyPaginator

    monkeypatch.setattr(DeferredJoinLazyPaginator, "max_per_page", 4)
    for _ in range(6):
        make_lead(campaign)
    assert len(rows(signed_in.get("/leads/?per_page=2"))) == 2
    assert len(rows(signed_in.get("/leads/?per_page=100000"))) == 4
    assert len(rows(signed_in.get("/leads/?per_page=0"))) == 4  # 0 means the default, capped


@pytest.mark.parametrize("url", ["/leads/?q={}", "/leads/?variables={}", "/leads/?value={}"])
def test_searching_finds_accented_and_quoted_text(signed_in, campaign, url):
    lead = make_lead(campaign, variables={"customer_name": 'Chloé "Coco" Müller'})
    make_lead(campaign, variables={"customer_name": "Chloe Muller"})
    assert rows(signed_in.get(url.format("Chloé"))) == [lead.pk]
    assert rows(signed_in.get(url.format('"Coco"'))) == [lead.pk]


def test_times_show_in_the_site_zone_and_a_dash_when_unset(signed_in, campaign):
    lead = make_lead(
        campaign, status=Status.RESCHEDULED, next_attempt_at=dt.datetime(2026, 12, 1, 9, 5, tzinfo=dt.UTC)
    )
    Lead.objects.filter(pk=lead.pk).update(created_at=dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC))
    other = make_lead(campaign)
    page = signed_in.get("/leads/").content.decode()
    row = page[page.index(f'href="/leads/{lead.pk}/"') :].split("</tr>")[0]
    assert "2026-12-01 09:05" in row and "2026-11-02 08:00" in row
    row = page[page.index(f'href="/leads/{other.pk}/"') :].split("</tr>")[0]
    assert '<td class="text-nowrap">—</td>' in row
