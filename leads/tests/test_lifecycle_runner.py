"""The lifecycle's batch transitions for the campaign runner."""

from __future__ import annotations

import datetime as dt

import pytest

from leadmgr.testing import make_campaign, make_lead
from leads import attempts
from leads.models import CallAttempt, Lead, Status, StatusChange

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(minutes=10)


def test_claim_due_takes_due_leads_oldest_first_up_to_the_limit(campaign):
    later = make_lead(campaign, status=Status.RESCHEDULED, next_attempt_at=NOW - dt.timedelta(minutes=1))
    oldest = make_lead(campaign, status=Status.SCHEDULED, next_attempt_at=NOW - dt.timedelta(hours=1))
    make_lead(campaign, status=Status.RESCHEDULED, next_attempt_at=NOW + dt.timedelta(minutes=1))  # not yet
    make_lead(campaign, status=Status.COMPLETED)
    claims = attempts.claim_due(campaign, 2, NOW, LEASE)
    assert claims == [
        attempts.Claim(oldest.pk, 1, Status.SCHEDULED),
        attempts.Claim(later.pk, 1, Status.RESCHEDULED),
    ]
    oldest.refresh_from_db()
    assert (oldest.status, oldest.attempts, oldest.last_attempt_at, oldest.lease_expires_at) == (
        Status.PROCESSING,
        1,
        NOW,
        NOW + LEASE,
    )
    assert list(
        StatusChange.objects.order_by("lead_id").values_list("lead_id", "from_status", "reason")
    ) == sorted(
        [
            (oldest.pk, "scheduled", "Call attempt 1 started."),
            (later.pk, "rescheduled", "Call attempt 1 started."),
        ]
    )


def test_claim_due_never_claims_a_lead_twice(campaign):
    leads = [make_lead(campaign) for _ in range(5)]
    first = attempts.claim_due(campaign, 3, NOW, LEASE)
    second = attempts.claim_due(campaign, 3, NOW, LEASE)
    assert len(first) == 3 and len(second) == 2
    assert {c.lead_id for c in first} | {c.lead_id for c in second} == {lead.pk for lead in leads}
    assert attempts.claim_due(campaign, 3, NOW, LEASE) == []
    assert StatusChange.objects.count() == 5


def test_claim_due_can_be_narrowed_to_checked_leads(campaign):
    a, b = make_lead(campaign), make_lead(campaign)
    assert [c.lead_id for c in attempts.claim_due(campaign, 5, NOW, LEASE, among=[b.pk])] == [b.pk]
    assert Lead.objects.get(pk=a.pk).status == Status.CREATED


def test_claim_due_costs_a_fixed_number_of_queries_for_any_batch(campaign, django_assert_num_queries):
    for _ in range(20):
        make_lead(campaign)
    # SAVEPOINT (the test's transaction is open); SELECT the due ids from each of the four queue
    # ranges until the batch is full (FOR UPDATE SKIP LOCKED on PostgreSQL; here the first three
    # are empty); UPDATE … RETURNING; INSERT the history rows; SELECT the webhook subscriptions
    # listening (none: no event rows); RELEASE SAVEPOINT.
    with django_assert_num_queries(9):
        assert len(attempts.claim_due(campaign, 20, NOW, LEASE)) == 20


def test_finish_attempts_decides_each_lead_by_its_campaigns_policy(campaign):
    campaign.max_retries = 1
    campaign.save()
    winner, retry, last = (make_lead(campaign, attempts=n) for n in (0, 0, 1))
    claims = {c.lead_id: c.attempt for c in attempts.claim_due(campaign, 3, NOW, LEASE)}
    finals = attempts.finish_attempts(
        [
            attempts.AttemptEnd(winner.pk, claims[winner.pk], True, "completed"),
            attempts.AttemptEnd(retry.pk, claims[retry.pk], False, "busy"),
            attempts.AttemptEnd(last.pk, claims[last.pk], False, "no_answer"),
        ],
        now=NOW,
    )
    assert finals == {winner.pk: "completed", retry.pk: "rescheduled", last.pk: "max_retries"}
    assert Lead.objects.get(pk=retry.pk).next_attempt_at == NOW + campaign.retry_interval
    assert (
        StatusChange.objects.get(lead=retry, to_status="rescheduled").reason
        == "Attempt 1 failed (busy); next attempt at 2026-11-27 13:00 UTC."
    )


def test_finish_attempts_ignores_a_stale_attempt_number(campaign):
    lead = make_lead(campaign, attempts=1)
    attempts.claim_due(campaign, 1, NOW, LEASE)  # attempt 2
    assert attempts.finish_attempts([attempts.AttemptEnd(lead.pk, 1, True)], now=NOW) == {}
    assert Lead.objects.get(pk=lead.pk).status == Status.PROCESSING


def test_defer_for_window_moves_the_next_attempt_and_keeps_the_status(campaign):
    created, rescheduled = (
        make_lead(campaign),
        make_lead(campaign, status=Status.RESCHEDULED, next_attempt_at=NOW),
    )
    done = make_lead(campaign, status=Status.COMPLETED)
    opening = NOW + dt.timedelta(hours=9)
    assert attempts.defer_for_window({opening: [created.pk, rescheduled.pk, done.pk]}, now=NOW) == 2
    assert list(Lead.objects.order_by("pk").values_list("status", "next_attempt_at")) == [
        ("created", opening),
        ("rescheduled", opening),
        ("completed", None),
    ]
    assert not StatusChange.objects.exists()


def test_recover_lost_leaves_leases_that_have_not_run_out(campaign):
    make_lead(campaign)
    attempts.claim_due(campaign, 1, NOW, LEASE)
    assert attempts.recover_lost(NOW + LEASE) == {}
    assert not CallAttempt.objects.exists()


def test_recover_lost_closes_the_open_call_as_lost(campaign):
    lead = make_lead(campaign)
    attempts.claim_due(campaign, 1, NOW, LEASE)
    call = CallAttempt.objects.create(lead=lead, attempt_number=1, phone=lead.phone, started_at=NOW)
    assert attempts.recover_lost(NOW + LEASE + dt.timedelta(seconds=1)) == {lead.pk: "rescheduled"}
    call.refresh_from_db()
    assert (call.outcome, call.detail) == ("lost", attempts.DETAIL_LOST)
    assert CallAttempt.objects.count() == 1


@pytest.mark.parametrize("lease", [None])
def test_a_processing_lead_without_a_lease_is_recovered(campaign, lease):
    lead = make_lead(campaign, status=Status.PROCESSING, attempts=1, lease_expires_at=lease)
    assert attempts.recover_lost(NOW) == {lead.pk: "rescheduled"}


def test_the_queue_ranges_are_exactly_the_due_leads_in_priority_order(campaign):
    from leads import selectors

    new = make_lead(campaign)
    deferred = make_lead(campaign, next_attempt_at=NOW - dt.timedelta(minutes=5))
    retry = make_lead(campaign, status=Status.RESCHEDULED, next_attempt_at=NOW - dt.timedelta(minutes=1))
    callback = make_lead(campaign, status=Status.SCHEDULED, next_attempt_at=NOW)
    make_lead(campaign, next_attempt_at=NOW + dt.timedelta(minutes=1))  # deferred, not yet open
    make_lead(campaign, status=Status.SCHEDULED, next_attempt_at=NOW + dt.timedelta(minutes=1))
    make_lead(campaign, status=Status.PROCESSING)
    taken = [pk for (pk,) in selectors.take_due(campaign, NOW, 10, ("pk",))]
    assert taken == [callback.pk, retry.pk, deferred.pk, new.pk]
    assert set(taken) == set(selectors.due_leads(campaign, NOW).values_list("pk", flat=True))
    assert selectors.due_count(campaign, NOW) == 4
    assert selectors.due_count(campaign, NOW, cap=None) == 4
    assert selectors.due_count(campaign, NOW, cap=3) == 3
    assert selectors.due_count(campaign, NOW, cap=1) == 1  # each range is capped, then the sum
    assert selectors.due_count(make_campaign(name="Empty"), NOW) == 0
    assert [pk for (pk,) in selectors.take_due(campaign, NOW, 2, ("pk",), exclude=[callback.pk])] == [
        retry.pk,
        deferred.pk,
    ]
