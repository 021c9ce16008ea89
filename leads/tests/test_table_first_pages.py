"""A filtered first page of the leads table, sorted by a column an index walks over every lead.

``storage.pages.walked_ids`` tests the filter on the sort order's first rows and keeps the
matches, falling back to sorting every match when those rows do not hold the page; every lead
sorted by campaign reads campaign by campaign on PostgreSQL (``grouped_ids``). Either way the page
must hold exactly the rows, in exactly the order, that a plain sort of the matches gives. Small
walks here (``walked``) make both branches run on a few leads.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leadmgr.storage import pages
from leadmgr.testing import make_assistant, make_campaign, make_lead
from leads.models import Lead, Status
from leads.tables import LeadTable

ROW_RE = re.compile(r'href="/leads/(\d+)/"')
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def rows(response) -> list[int]:
    assert response.status_code == 200
    return [int(pk) for pk in ROW_RE.findall(response.content.decode())]


def expected(sort: str, **filters) -> list[int]:
    """Every matching lead in the table's order for ``sort``: a plain sort of the matches."""
    from leads import selectors

    table = LeadTable(selectors.lead_list(**filters), order_by=sort)
    return list(table.data.data.values_list("pk", flat=True))


@pytest.fixture
def signed_in(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def walked(monkeypatch):
    """Walk the sort order's first 4 rows (the first page needs 3 matches among them: 2 + one to
    tell there is a next page)."""
    monkeypatch.setattr(pages, "WALKED_ROWS", 4)
    monkeypatch.setattr(pages, "WALKED_PER_ROW", 1)


@pytest.fixture
def leads(db):
    """Two campaigns (the one named first created second), phones out of id order, attempts and
    next attempts spread, some without a next attempt; "Northwind" companies here and there."""
    zeta = make_campaign("Zeta")
    alpha = make_campaign("Alpha")
    made = []
    for i in range(12):
        company = "Northwind" if i % 3 else "Contoso"
        made.append(
            make_lead(
                alpha if i % 2 else zeta,
                phone=f"+1415555{(i * 7919) % 10000:04d}",
                variables={"customer_name": f"Lead {i}", "company": company},
                status=Status.RESCHEDULED if i % 4 else Status.CREATED,
                attempts=i % 5,
                next_attempt_at=None if i % 3 == 0 else T0 + dt.timedelta(hours=(i * 5) % 7),
            )
        )
    return made


SORTS = ["phone", "-phone", "attempts", "-attempts", "next_attempt_at", "-next_attempt_at"]
SORTS += ["created_at", "-created_at", "campaign", "-campaign"]


@pytest.mark.parametrize("sort", SORTS)
def test_a_variable_filters_first_pages_hold_the_rows_a_plain_sort_gives(signed_in, leads, walked, sort):
    want = expected(sort, variable_key="company", variable_value="Northwind")
    assert len(want) == 8
    got = [
        rows(signed_in.get(f"/leads/?var=company&value=Northwind&sort={sort}&per_page=2&page={p}"))
        for p in (1, 2, 3, 4)
    ]
    assert [pk for page in got for pk in page] == want


@pytest.mark.parametrize("sort", SORTS)
def test_a_filter_matching_only_late_in_the_sort_order_still_gets_its_first_rows(
    signed_in, leads, walked, sort
):
    # Three matches, wherever they sort: the walk's 4 rows rarely hold all three, and when they
    # do not, the page is the matches sorted.
    last = Lead.objects.order_by("-pk")[:3]
    Lead.objects.filter(pk__in=[lead.pk for lead in last]).update(variables={"company": "Zzyzx Ltd"})
    want = expected(sort, variable_key="company", variable_value="Zzyzx")
    assert len(want) == 3
    assert rows(signed_in.get(f"/leads/?var=company&value=Zzyzx&sort={sort}&per_page=2")) == want[:2]
    assert rows(signed_in.get(f"/leads/?var=company&value=Zzyzx&sort={sort}&per_page=2&page=2")) == want[2:]


@pytest.mark.parametrize("sort", ["next_attempt_at", "-next_attempt_at"])
def test_filtered_pages_by_next_attempt_still_put_leads_without_one_last(signed_in, leads, walked, sort):
    url = f"/leads/?status=rescheduled&sort={sort}&per_page=3"
    got = [pk for p in (1, 2, 3) for pk in rows(signed_in.get(f"{url}&page={p}"))]
    assert got == expected(sort, statuses=["rescheduled"])
    times = dict(Lead.objects.filter(pk__in=got).values_list("pk", "next_attempt_at"))
    known = [pk for pk in got if times[pk] is not None]
    assert got[: len(known)] == known and known != got  # every lead without one comes after them


def test_the_search_bar_and_free_text_pages_sorted_by_phone_hold_the_rows_a_plain_sort_gives(
    signed_in, leads, walked
):
    for url, filters in [
        ("q=Northwind", {"search": "Northwind"}),
        ("variables=Lead%201", {"variables_text": "Lead 1"}),
        ("status=rescheduled&q=Lead", {"statuses": ["rescheduled"], "search": "Lead"}),
    ]:
        want = expected("phone", **filters)
        got = [
            pk
            for p in range(1, -(-len(want) // 2) + 1)  # past the last page, the last page comes again
            for pk in rows(signed_in.get(f"/leads/?{url}&sort=phone&per_page=2&page={p}"))
        ]
        assert got == want, url


def test_a_variable_filter_sorted_by_phone_costs_seven_queries(
    client, operator, leads, django_assert_num_queries
):
    client.force_login(operator)
    # session, user, the user's permissions, the groups' permissions, campaign choices, the
    # campaigns whose leads use the name (variable_names.campaigns_using_q), the page's rows
    with django_assert_num_queries(7):
        assert rows(client.get("/leads/?var=company&value=Northwind&sort=phone"))


def test_the_walk_tests_the_filter_without_building_the_search_candidates(signed_in, leads):
    # Building the candidates of a common text costs more than testing the first rows one by one;
    # the page's own query is given the ids alone (its filter is not tested again).
    with CaptureQueriesContext(connection) as captured:
        signed_in.get("/leads/?var=company&value=Northwind&sort=phone")
    (page,) = [q["sql"] for q in captured.captured_queries if "n_contacts" in q["sql"]]
    walk, _, rest = page.partition("WITH page_walk AS (")[2].partition("SELECT * FROM page_walk WHERE")
    # The narrowing: SQLite's FTS5 table, PostgreSQL's stored upper-cased text of the variables.
    narrowing = "leads_lead_search" if connection.vendor == "sqlite" else '"search_text" LIKE'
    assert "LIMIT" in walk and "Northwind" in walk
    assert narrowing not in walk and narrowing in rest, page
    assert "Northwind" not in page.partition("WITH page_walk AS (")[0], page


def test_a_value_with_quotes_and_accents_is_found_by_a_variable_filter_sorted_or_not(signed_in, campaign):
    lead = make_lead(campaign, variables={"customer_name": 'Chloé "Coco" Müller'})
    make_lead(campaign, variables={"customer_name": "Chloe Muller"})
    for sort in ("", "&sort=phone"):
        assert rows(signed_in.get(f"/leads/?var=customer_name&value=%C3%A9%20%22Coco%22{sort}")) == [lead.pk]


def test_every_lead_sorted_by_campaign_comes_campaign_by_campaign_newest_first(signed_in, db):
    reminder = make_assistant("Reminder", [("customer_name", "", True)])
    campaigns = [make_campaign(name, reminder) for name in ("Mid", "Zed", "Ant")]
    made = [make_lead(campaigns[i % 3]) for i in range(9)]
    by_name = sorted(made, key=lambda lead: (lead.campaign.name, -lead.pk))
    for sort, want in [("campaign", by_name), ("-campaign", by_name[::-1])]:
        got = [
            pk for p in (1, 2, 3) for pk in rows(signed_in.get(f"/leads/?sort={sort}&per_page=4&page={p}"))
        ]
        assert got == [lead.pk for lead in want], sort
    with CaptureQueriesContext(connection) as captured:
        signed_in.get("/leads/?sort=campaign")
    (page,) = [q["sql"] for q in captured.captured_queries if "n_contacts" in q["sql"]]
    assert ("CROSS JOIN LATERAL" in page) == (connection.vendor == "postgresql"), page


def test_a_variable_filter_sorted_by_campaign_walks_only_the_campaigns_that_use_the_name(
    signed_in, db, walked
):
    # The first campaign by name has no "company" at all: a walk in campaign order read its leads
    # only to find none (at 1M, 250k of them), then sorted every match. Its leads are left out of
    # the walk, so the walk's first rows hold the page.
    reminder = make_assistant("Reminder", [("customer_name", "", False)])
    first = make_campaign("Aardvark", reminder)
    for _ in range(6):
        make_lead(first, variables={"customer_name": "Northwind fan"})
    users = [make_campaign(name, reminder) for name in ("Bee", "Cat")]
    for i in range(6):
        make_lead(users[i % 2], variables={"company": "Northwind Traders"})
    for sort in ("campaign", "-campaign"):
        url = f"/leads/?var=company&value=Northwind&sort={sort}&per_page=2"
        with CaptureQueriesContext(connection) as captured:
            got = rows(signed_in.get(url))
        assert got == expected(sort, variable_key="company", variable_value="Northwind")[:2]
        (page,) = [q["sql"] for q in captured.captured_queries if "n_contacts" in q["sql"]]
        walk = page.partition("WITH page_walk AS (")[2].partition("SELECT * FROM page_walk WHERE")[0]
        parent = "page_parent" if connection.vendor == "postgresql" else '"campaigns_campaign"'
        assert f'{parent}."id" IN (%s, %s)' in walk.replace(str(users[0].pk), "%s").replace(
            str(users[1].pk), "%s"
        ), walk


def test_a_variable_filter_counts_names_not_yet_in_the_names_table(signed_in, db):
    # The names of leads added since the last catch-up (a form's, the API's) are read from the
    # leads themselves: a filter on such a name finds them; a name no lead has finds nothing.
    campaign = make_campaign("Fresh")
    lead = make_lead(campaign, variables={"customer_name": "A", "brand_new": "Orbit"})
    for sort in ("", "&sort=campaign", "&sort=phone"):
        assert rows(signed_in.get(f"/leads/?var=brand_new&value=orb{sort}")) == [lead.pk]
        assert rows(signed_in.get(f"/leads/?var=no_such_name{sort}")) == []


@pytest.fixture
def near(monkeypatch, walked):
    """The second walk (PostgreSQL, id order) tests the first 8 ids, after the first walk's 4."""
    monkeypatch.setattr(pages, "NEAR_ROWS", 8)


@pytest.mark.parametrize("sort", ["created_at", "-created_at"])
@pytest.mark.parametrize("where", ["near", "far"])
def test_matches_past_the_first_walk_near_the_start_or_far_give_the_rows_a_plain_sort_gives(
    signed_in, leads, near, sort, where
):
    # Three matches within the first 8 ids of the order but past its first 4 (the second walk holds
    # the page), or only past its first 8 (the matches are sorted).
    in_order = list(Lead.objects.order_by(sort.replace("created_at", "pk")).values_list("pk", flat=True))
    chosen = in_order[4:7] if where == "near" else in_order[8:11]
    Lead.objects.filter(pk__in=chosen).update(variables={"company": "Zzyzx Ltd"})
    want = expected(sort, variable_key="company", variable_value="Zzyzx")
    assert sorted(want) == sorted(chosen)
    got = [
        rows(signed_in.get(f"/leads/?var=company&value=Zzyzx&sort={sort}&per_page=2&page={p}"))
        for p in (1, 2)
    ]
    assert got == [want[:2], want[2:]]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the second walk is PostgreSQL's")
def test_a_common_value_absent_from_the_newest_leads_is_found_by_the_second_walk_without_a_sort(leads, near):
    from leads import selectors

    newest_first = list(Lead.objects.order_by("-pk").values_list("pk", flat=True))
    Lead.objects.filter(pk__in=newest_first[4:]).update(variables={"company": "Orbit Fitness"})
    Lead.objects.filter(pk__in=newest_first[:4]).update(variables={"company": "Acme"})
    table = LeadTable(
        selectors.lead_list(variable_key="company", variable_value="Orbit"), order_by="-created_at"
    )
    ids = pages.walked_ids(table.data.data, 3)
    query = Lead.objects.filter(pk__in=ids).order_by("-pk")
    assert list(query.values_list("pk", flat=True)) == newest_first[4:7]
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()[0]

    def nodes(node):
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    (union,) = [node for node in nodes(plan["Plan"]) if node["Node Type"] == "Append"]
    # The UNION's three branches, each under its one-time filter: the first walk's rows, the second
    # walk's, every match sorted. The first walk falls short (its 4 rows hold no match), the second
    # holds the page, and the branch that sorts every match never runs.
    branches = [node for node in union["Plans"] if node["Parent Relationship"] == "Member"]
    walk, second, rest = ([c for c in b["Plans"] if c["Parent Relationship"] == "Outer"] for b in branches)
    assert [walk[0]["Actual Loops"], second[0]["Actual Loops"], rest[0]["Actual Loops"]] == [0, 1, 0], plan
