"""The queries that run at a million leads read the index meant for them (SQLite's EXPLAIN QUERY PLAN).

Each lead index in leads/models.py names its query; these tests hold the two together, so dropping
or reshaping an index shows here rather than as a slow page at a million leads.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.utils import timezone

from leadmgr.testing import make_campaign, make_lead, set_sqlite_statistics
from leads import selectors
from leads.models import Lead, Status

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's query plans")


def plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(row[-1] for row in cursor.fetchall())


# sqlite_stat1 of bench/generate.py's million leads (4 campaigns, 5 statuses, a contact or two each),
# as an import or migrate leaves it (leads.services.refresh_statistics): the plans are those the
# planner makes at that size, whatever statistics an earlier test left on the connection.
MILLION_LEADS = {
    "leads_lead": {
        "lead_queue": "1000000 250000 50000 50000",
        "lead_created": "1000000 1",
        "lead_status": "1000000 200000 1",
        "lead_campaign": "1000000 250000 1",
        "lead_campaign_status": "1000000 250000 50000 1",
        "sqlite_autoindex_leads_lead_1": "1000000 250000 1",
        "lead_attempts": "1000000 200000 1",
        "lead_status_attempts": "1000000 200000 40000 1",
        "lead_phone": "1000000 1",
        "lead_next_attempt": "1000000 4 1",
        "lead_next_attempt_missing": "1000000 500000 4 1",
    },
    "campaigns_campaign": {"sqlite_autoindex_campaigns_campaign_1": "4 1"},
    "leads_secondarycontact": {"sqlite_autoindex_leads_secondarycontact_1": "999702 2 1"},
}


@pytest.fixture
def campaign(db):
    campaign = make_campaign()
    make_lead(campaign)
    set_sqlite_statistics(MILLION_LEADS)
    return campaign


def test_the_table_newest_first_walks_the_primary_key_without_sorting(campaign):
    steps = plan(selectors.lead_list()[:25])
    assert "SCAN leads_lead" in steps and "TEMP B-TREE" not in steps, steps


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({"campaign": "CAMPAIGN"}, "lead_campaign"),
        ({"campaign": "CAMPAIGN", "statuses": ["created"]}, "lead_campaign_status"),
    ],
)
def test_filters_read_their_index_in_the_tables_order(campaign, filters, index):
    filters = {k: campaign.pk if v == "CAMPAIGN" else v for k, v in filters.items()}
    steps = plan(selectors.lead_list(**filters)[:25])
    assert f"USING INDEX {index} " in steps or f"USING COVERING INDEX {index} " in steps, steps
    assert "TEMP B-TREE" not in steps, steps


def test_a_status_filter_needs_no_sort(campaign):
    # lead_status, or the primary key walked newest first (SQLite picks by its statistics).
    steps = plan(selectors.lead_list(statuses=["rescheduled"])[:25])
    assert ("lead_status" in steps or "SCAN leads_lead" in steps) and "TEMP B-TREE" not in steps, steps


def test_a_created_date_range_reads_lead_created(campaign):
    today = timezone.localdate()
    steps = plan(selectors.lead_list(created_from=today - dt.timedelta(days=7), created_to=today).order_by())
    assert "lead_created" in steps, steps


def test_campaign_and_statuses_sorted_by_next_attempt_sort_the_index_not_the_table(campaign):
    # The page's ids (the paginator's deferred join): the sort keys come from lead_queue, covering,
    # so at a million leads the sort reads index entries, never 100k table rows.
    ids = selectors.lead_list(campaign=campaign.pk, statuses=["created", "rescheduled"]).order_by(
        "-next_attempt_at", "-id"
    )
    steps = plan(ids.values("pk")[:25])
    assert "USING COVERING INDEX lead_queue " in steps, steps


def test_page_one_of_campaign_and_statuses_by_next_attempt_reads_lead_queue(campaign):
    # On SQLite page 1 is one plain query (no deferred join): it must still take its rows through
    # lead_queue, not through lead_campaign_status and a sort of 150k table rows (20 vs 411 ms at
    # 1M). Widening lead_queue with an explicit id was enough to tip SQLite the wrong way.
    page = selectors.lead_list(campaign=campaign.pk, statuses=["created", "rescheduled"]).order_by(
        "-next_attempt_at", "-id"
    )
    steps = plan(page.select_related("campaign")[:26])
    assert "USING INDEX lead_queue " in steps or "USING COVERING INDEX lead_queue " in steps, steps


def test_the_runners_queue_reads_lead_queue_and_new_leads_come_oldest_first(campaign):
    branches = selectors.due_branches(campaign, timezone.now())
    for timed in branches[:3]:
        assert "USING INDEX lead_queue " in plan(timed[:10]), plan(timed[:10])
    new = plan(branches[3][:10])
    assert ("lead_campaign_status" in new or "lead_queue" in new) and "TEMP B-TREE" not in new, new


def test_lease_recovery_reads_the_few_processing_leads_by_status(campaign):
    from django.db.models import Q

    stale = Lead.objects.filter(
        Q(lease_expires_at__lt=timezone.now()) | Q(lease_expires_at__isnull=True), status=Status.PROCESSING
    ).order_by("lease_expires_at")
    # lead_status or lead_status_attempts: either searches the status's few entries alone.
    steps = plan(stale[:10])
    assert re.search(r"USING INDEX lead_status(_attempts)? \(status=\?\)", steps), steps


@pytest.mark.parametrize("statistics", ["none", "million"])
def test_an_imports_duplicate_check_probes_the_unique_phone_index(campaign, statistics):
    # One lookup per batch of 1,000 rows. Ordered newest first (the model's default), SQLite walked
    # the campaign's whole lead_campaign index instead when the leads table had no statistics, as
    # in the first import into a new database: each batch cost more as the campaign grew.
    if statistics == "none":
        set_sqlite_statistics({"leads_lead": {}})
    steps = plan(selectors.leads_by_phone(campaign.pk, ["+14155550100", "+14155550101"]))
    assert "(campaign_id=? AND phone=?)" in steps, steps
    assert "TEMP B-TREE" not in steps, steps


def table_page(sort: str, **filters) -> str:
    """The plan of the leads table's first page (as LeadListView reads it) sorted by ``sort``."""
    from leads.tables import LeadTable

    table = LeadTable(selectors.lead_list(**filters).select_related("campaign"), order_by=sort)
    return plan(table.data.data[:26])


@pytest.mark.parametrize(
    ("sort", "index"),
    [
        ("attempts", "lead_attempts"),
        ("-attempts", "lead_attempts"),
        ("phone", "lead_phone"),
        ("-phone", "lead_phone"),
        ("next_attempt_at", "lead_next_attempt_missing"),  # SQLite: NULL first ascending
        ("-next_attempt_at", "lead_next_attempt"),  # and last descending, as the table wants
    ],
)
def test_every_sort_over_all_leads_walks_an_index_without_sorting(campaign, sort, index):
    steps = table_page(sort)
    assert f"USING INDEX {index}" in steps and "TEMP B-TREE" not in steps, steps


@pytest.mark.parametrize("sort", ["attempts", "-attempts"])
@pytest.mark.parametrize("in_a_campaign", [False, True], ids=["any-campaign", "one-campaign"])
def test_a_status_filter_sorted_by_attempts_reads_lead_status_attempts(campaign, sort, in_a_campaign):
    # The matches' sort behind the walk (storage.pages.walked_ids), which meets no Created lead
    # among the most attempted: the status's own entries, in attempts order, without a sort.
    filters = {"statuses": ["created"]} | ({"campaign": campaign.pk} if in_a_campaign else {})
    steps = table_page(sort, **filters)
    assert "INDEX lead_status_attempts " in steps and "TEMP B-TREE" not in steps, steps


def test_campaign_and_statuses_by_next_attempt_descending_still_read_lead_queue(campaign):
    # The bench's "filtered + sorted" page: descending is SQLite's own NULLS LAST, so the plain
    # order stays, and lead_queue serves it.
    steps = table_page("-next_attempt_at", campaign=campaign.pk, statuses=["created", "rescheduled"])
    assert "USING INDEX lead_queue " in steps or "USING COVERING INDEX lead_queue " in steps, steps


@pytest.mark.parametrize(("sort", "index"), [("phone", "lead_phone"), ("-attempts", "lead_attempts")])
def test_a_variable_filters_first_page_walks_the_sort_index_before_sorting_matches(campaign, sort, index):
    # storage.pages.walked_ids: the first rows of the sort index, the filter tested on each, as
    # one query with the full sort of the matches behind it (which reads the search index).
    from leadmgr.storage import pages
    from leads.tables import LeadTable

    make_lead(campaign, variables={"company": "Northwind Traders"})  # a campaign that uses the name
    filters = {"variable_key": "company", "variable_value": "Northwind"}
    table = LeadTable(selectors.lead_list(**filters), order_by=sort)
    steps = plan(Lead.objects.filter(pk__in=pages.walked_ids(table.data.data, 26)))
    walk, _, rest = steps.partition("UNION ALL")
    assert f"INDEX {index}" in walk and "leads_lead_search" not in walk, steps
    assert "leads_lead_search VIRTUAL TABLE" in rest, steps
