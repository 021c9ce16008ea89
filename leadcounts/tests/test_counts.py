"""The maintained counts equal a real COUNT after every kind of change: lead created (form service),
CSV import (raw inserts), manual and bulk status changes, the runner's claims and results, a move
to another campaign, the fast delete and the ORM delete; on SQLite and PostgreSQL alike. The import
and the fast delete count per statement with the row triggers suspended (``bulk_inserted``,
``delete_leads``): also inside an outer transaction, and rolled back with it."""

from __future__ import annotations

import contextlib
import datetime as dt
import io

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import Campaign
from campaigns.runner import Runner
from campaigns.tests.helpers import simulated
from leadcounts import selectors, services
from leadcounts.models import StatusCount, StatusCountDelta
from leadmgr.storage import counts as storage_counts
from leadmgr.testing import make_assistant, make_campaign
from leads import attempts, lifecycle
from leads import services as lead_services
from leads.csv import importer
from leads.models import Lead, Status

MANUAL = [Status.CREATED, Status.SCHEDULED, Status.RESCHEDULED, Status.COMPLETED, Status.MAX_RETRIES]


def real_counts() -> dict[int, dict[str, int]]:
    rows = Lead.objects.order_by().values_list("campaign_id", "status").annotate(n=Count("id"))
    counts: dict[int, dict[str, int]] = {}
    for campaign_id, status, n in rows:
        counts.setdefault(campaign_id, {})[status] = n
    return counts


def maintained() -> dict[int, dict[str, int]]:
    return {
        pk: {s: n for s, n in by_status.items() if n}
        for pk, by_status in selectors.status_counts_by_campaign().items()
        if any(by_status.values())
    }


def assert_counts_true(campaigns: list[Campaign]) -> None:
    real = real_counts()
    assert maintained() == real
    for campaign in campaigns:
        assert {s: n for s, n in selectors.status_counts(campaign.pk).items() if n} == real.get(
            campaign.pk, {}
        )


_phones = iter(range(10**6))


def phone() -> str:
    n = next(_phones)
    return f"+1415{300 + n // 10_000:03d}{n % 10_000:04d}"


def op_create(campaigns, data):
    campaign = data.draw(st.sampled_from(campaigns))
    lead_services.lead_create(campaign=campaign, phone=phone(), variables={"customer_name": "A"})


def op_import(campaigns, data):
    campaign = data.draw(st.sampled_from(campaigns))
    statuses = data.draw(
        st.lists(st.sampled_from(["", "scheduled", "completed", "max_retries"]), min_size=1, max_size=5)
    )
    rows = "".join(f"{phone()},{s},B\n" for s in statuses)
    importer.import_leads(
        io.BytesIO(f"phone,status,customer_name\n{rows}".encode()), importer.ImportOptions(campaign=campaign)
    )


def op_manual(campaigns, data):
    lead = Lead.objects.exclude(status=Status.PROCESSING).order_by("?").first()
    if lead is None:
        return
    target = data.draw(st.sampled_from(MANUAL))
    at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    with contextlib.suppress(lifecycle.TransitionError):
        lifecycle.set_status(
            lead, target, reason="test", scheduled_at=at if target == Status.SCHEDULED else None
        )


def op_bulk(campaigns, data):
    campaign = data.draw(st.sampled_from(campaigns))
    target = data.draw(st.sampled_from([Status.COMPLETED, Status.CREATED, Status.MAX_RETRIES]))
    lifecycle.bulk_set_status(Lead.objects.filter(campaign=campaign), target, reason="bulk")


def op_runner(campaigns, data):
    outcome = data.draw(st.sampled_from(["completed", "no_answer"]))
    for campaign in campaigns:
        Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.RUNNING)
    Runner(simulated(outcome)).tick()


def op_claim_only(campaigns, data):
    # Claims left under way (Processing) with no result yet.
    campaign = data.draw(st.sampled_from(campaigns))
    attempts.claim_due(campaign, 2, dt.datetime.now(dt.UTC), dt.timedelta(minutes=5))


def op_move(campaigns, data):
    lead = Lead.objects.exclude(status=Status.PROCESSING).order_by("?").first()
    if lead is None:
        return
    other = next(c for c in campaigns if c.pk != lead.campaign_id)
    lead_services.lead_update(
        lead=lead, campaign=other, phone=lead.phone, variables={"customer_name": "Moved"}, contacts=[]
    )


def op_delete(campaigns, data):
    campaign = data.draw(st.sampled_from(campaigns))
    status = data.draw(st.sampled_from([None, *MANUAL]))
    leads = Lead.objects.filter(campaign=campaign)
    lead_services.leads_delete(leads if status is None else leads.filter(status=status))


def op_orm_delete(campaigns, data):
    Lead.objects.filter(pk__in=Lead.objects.order_by("?").values("pk")[:2]).delete()


def op_delete_in_transaction(campaigns, data):
    # Inside a caller's transaction (SQLite: the cascading single DELETE instead of the raw path).
    with transaction.atomic():
        op_delete(campaigns, data)


class _Rollback(Exception):
    pass


def op_rolled_back(campaigns, data):
    # An import and a fast delete undone by their caller's rollback: their suspension goes with
    # them, and the next writer is counted by the triggers again.
    with contextlib.suppress(_Rollback), transaction.atomic():
        op_import(campaigns, data)
        op_delete(campaigns, data)
        raise _Rollback


OPS = {
    "create": op_create,
    "import": op_import,
    "manual": op_manual,
    "bulk": op_bulk,
    "runner": op_runner,
    "claim": op_claim_only,
    "move": op_move,
    "delete": op_delete,
    "orm_delete": op_orm_delete,
    "delete_in_transaction": op_delete_in_transaction,
    "rolled_back": op_rolled_back,
}


@pytest.fixture
def two_campaigns(transactional_db):
    assistant = make_assistant(variables=[("customer_name", "", False)])
    everyday = {
        "calling_days": [0, 1, 2, 3, 4, 5, 6],
        "window_start": dt.time(0),
        "window_end": dt.time(23, 59),
    }
    return [
        make_campaign("A", assistant=assistant, **everyday),
        make_campaign("B", assistant=assistant, **everyday),
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), ops=st.lists(st.sampled_from(sorted(OPS)), min_size=1, max_size=10))
def test_counts_equal_a_real_count_after_every_kind_of_change(two_campaigns, data, ops):
    # Outside a transaction, as in production: the fast delete takes its raw path on SQLite.
    Lead.objects.all().delete()
    assert_counts_true(two_campaigns)
    for name in ops:
        OPS[name](two_campaigns, data)
        assert_counts_true(two_campaigns)
        if data.draw(st.booleans(), label="fold"):
            services.fold_deltas()  # the runner's housekeeping: folding changes nothing visible
            assert_counts_true(two_campaigns)


def test_counts_survive_a_fold_while_another_change_is_pending(two_campaigns):
    for _ in range(3):
        op_create(two_campaigns, _Fixed(two_campaigns[0]))
    services.fold_deltas()
    assert StatusCountDelta.objects.count() == 0
    assert StatusCount.objects.get(campaign=two_campaigns[0], status=Status.CREATED).n == 3
    assert_counts_true(two_campaigns)


def test_recount_repairs_counts(two_campaigns):
    op_create(two_campaigns, _Fixed(two_campaigns[1]))
    StatusCount.objects.all().update(n=99)
    services.recount()
    assert_counts_true(two_campaigns)


def _suspensions(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if "DROP TRIGGER" in q["sql"] or "set_config('leadcounts.suspend', 'on'" in q["sql"]
    ]


def _import(campaign, statuses: list[str]) -> None:
    rows = "".join(f"{phone()},{s},B\n" for s in statuses)
    importer.import_leads(
        io.BytesIO(f"phone,status,customer_name\n{rows}".encode()), importer.ImportOptions(campaign=campaign)
    )


def test_the_import_counts_per_batch_not_per_lead(two_campaigns):
    campaign = two_campaigns[0]
    with CaptureQueriesContext(connection) as queries:
        _import(campaign, ["", "", "completed", "", "completed"])
    # Suspended once for the batch's INSERT: SQLite drops both row triggers, PostgreSQL sets its flag.
    assert len(_suspensions(queries)) == (1 if connection.vendor == "postgresql" else 2)
    if connection.vendor == "postgresql":
        # One delta per (campaign, status) of the batch, not one per lead.
        assert sorted(StatusCountDelta.objects.values_list("status", "n")) == [
            ("completed", 2),
            ("created", 3),
        ]
    assert selectors.status_counts(campaign.pk)[Status.CREATED] == 3
    assert_counts_true(two_campaigns)
    # The triggers count the next single writer again.
    op_create(two_campaigns, _Fixed(campaign))
    assert selectors.status_counts(campaign.pk)[Status.CREATED] == 4


@pytest.mark.parametrize("in_transaction", [False, True])
def test_the_fast_delete_counts_per_statement_not_per_lead(two_campaigns, in_transaction):
    a, b = two_campaigns
    _import(a, ["", "", "completed", "", "completed"])
    _import(b, ["", "scheduled"])
    services.fold_deltas()
    outer = transaction.atomic() if in_transaction else contextlib.nullcontext()
    with CaptureQueriesContext(connection) as queries, outer:
        deleted, _ = lead_services.leads_delete(Lead.objects.exclude(campaign=b, status=Status.CREATED))
    assert deleted == 6
    assert len(_suspensions(queries)) == (1 if connection.vendor == "postgresql" else 2)
    if connection.vendor == "postgresql":
        assert sorted(StatusCountDelta.objects.values_list("campaign_id", "status", "n")) == [
            (a.pk, "completed", -2),
            (a.pk, "created", -3),
            (b.pk, "scheduled", -1),
        ]
    assert {s: n for s, n in selectors.status_counts(b.pk).items() if n} == {Status.CREATED: 1}
    assert_counts_true(two_campaigns)
    op_create(two_campaigns, _Fixed(b))
    assert selectors.status_counts(b.pk)[Status.CREATED] == 2


def test_another_session_keeps_its_triggers_while_a_bulk_write_is_suspended(two_campaigns):
    # SQLite needs no such test: the bulk writer holds the one write lock until its COMMIT.
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: on SQLite no other connection writes during the block")
    a, b = two_campaigns
    insert = (
        "INSERT INTO leads_lead (campaign_id, phone, status, variables, attempts, next_attempt_at,"
        " created_at, updated_at) VALUES (%s, %s, 'created', '{}', 0, NULL, now(), now())"
    )
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with transaction.atomic(), services.bulk_inserted({(a.pk, "created"): 1}):
            with connection.cursor() as cursor:
                cursor.execute(insert, [a.pk, phone()])
            with other.cursor() as cursor:  # autocommit: committed while this block runs
                cursor.execute(insert, [b.pk, phone()])
                cursor.execute("DELETE FROM leads_lead WHERE campaign_id = %s", [b.pk])
                cursor.execute(insert, [b.pk, phone()])
    finally:
        other.close()
    assert selectors.status_counts(a.pk)[Status.CREATED] == 1
    assert selectors.status_counts(b.pk)[Status.CREATED] == 1
    assert_counts_true(two_campaigns)


class _Fixed:
    """A stand-in for hypothesis' data that always draws one value."""

    def __init__(self, value):
        self.value = value

    def draw(self, strategy, label=None):
        return self.value


def test_a_fold_skips_its_turn_while_another_session_folds(two_campaigns):
    # Two runners folding at once deadlocked on the deltas they both deleted (PostgreSQL, 4 workers).
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite's triggers count in place, there is nothing to fold")
    a, _ = two_campaigns
    Lead.objects.create(campaign=a, phone=phone())
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:  # another runner, folding now
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [storage_counts.FOLD_LOCK_KEY])
        with transaction.atomic():
            assert storage_counts.fold() is False
        assert StatusCountDelta.objects.exists()  # left for the next pass
        other.rollback()  # its fold is over
        with transaction.atomic():
            assert storage_counts.fold() is True
        assert not StatusCountDelta.objects.exists()
    finally:
        other.close()
    assert_counts_true(two_campaigns)
