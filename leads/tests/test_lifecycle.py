from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leadmgr.testing import make_lead
from leads import attempts, lifecycle
from leads.lifecycle import TransitionError
from leads.models import Lead, Status, StatusChange

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(minutes=10)


def history(lead) -> list[tuple[str, str, bool]]:
    return list(lead.history.order_by("at", "id").values_list("from_status", "to_status", "automatic"))


def in_status(campaign, status, **fields) -> Lead:
    return make_lead(campaign, status=status, **fields)


# --- Automatic transitions ------------------------------------------------------------------


def test_starting_an_attempt_moves_a_queued_lead_to_processing_and_counts_it(lead):
    assert attempts.start_attempt(lead, lease=LEASE, now=NOW) is True
    lead.refresh_from_db()
    assert (lead.status, lead.attempts, lead.last_attempt_at, lead.lease_expires_at) == (
        Status.PROCESSING,
        1,
        NOW,
        NOW + LEASE,
    )
    assert history(lead) == [("created", "processing", True)]


@pytest.mark.parametrize("status", [Status.SCHEDULED, Status.RESCHEDULED])
def test_scheduled_and_rescheduled_leads_can_start_an_attempt(campaign, status):
    lead = in_status(campaign, status, next_attempt_at=NOW)
    assert attempts.start_attempt(lead, lease=LEASE, now=NOW)
    assert Lead.objects.get(pk=lead.pk).status == Status.PROCESSING


def test_a_second_claim_of_the_same_lead_loses(lead):
    stale = Lead.objects.get(pk=lead.pk)
    assert attempts.start_attempt(lead, lease=LEASE, now=NOW) is True
    assert attempts.start_attempt(stale, lease=LEASE, now=NOW) is False
    assert Lead.objects.get(pk=lead.pk).attempts == 1
    assert StatusChange.objects.filter(lead=lead).count() == 1


@pytest.mark.parametrize("status", [Status.PROCESSING, Status.COMPLETED, Status.MAX_RETRIES])
def test_only_queued_leads_start_attempts(campaign, status):
    lead = in_status(campaign, status)
    with pytest.raises(TransitionError, match="Only a lead waiting in the queue"):
        attempts.start_attempt(lead, lease=LEASE, now=NOW)


def test_a_successful_call_completes_the_lead(lead):
    attempts.start_attempt(lead, lease=LEASE, now=NOW)
    assert attempts.finish_attempt(lead, succeeded=True, now=NOW) == Status.COMPLETED
    lead.refresh_from_db()
    assert (lead.status, lead.next_attempt_at, lead.lease_expires_at) == (Status.COMPLETED, None, None)
    assert history(lead)[-1] == ("processing", "completed", True)


def test_a_failed_attempt_reschedules_at_now_plus_the_retry_interval(campaign):
    campaign.retry_interval = dt.timedelta(minutes=45)
    campaign.save()
    lead = make_lead(campaign)
    attempts.start_attempt(lead, lease=LEASE, now=NOW)
    assert attempts.finish_attempt(lead, succeeded=False, outcome="no answer", now=NOW) == Status.RESCHEDULED
    lead.refresh_from_db()
    assert (lead.status, lead.next_attempt_at) == (Status.RESCHEDULED, NOW + dt.timedelta(minutes=45))
    assert history(lead)[-1] == ("processing", "rescheduled", True)


def test_the_retry_limit_moves_the_lead_to_max_retries_after_max_retries_plus_one_attempts(campaign):
    campaign.max_retries = 2
    campaign.save()
    lead = make_lead(campaign)
    outcomes = []
    for attempt in range(3):
        attempts.start_attempt(lead, lease=LEASE, now=NOW + dt.timedelta(hours=attempt))
        outcomes.append(attempts.finish_attempt(lead, succeeded=False, now=NOW + dt.timedelta(hours=attempt)))
    assert outcomes == [Status.RESCHEDULED, Status.RESCHEDULED, Status.MAX_RETRIES]
    lead.refresh_from_db()
    assert (lead.status, lead.attempts, lead.next_attempt_at) == (Status.MAX_RETRIES, 3, None)
    assert history(lead)[-2:] == [("processing", "rescheduled", True), ("rescheduled", "max_retries", True)]
    assert lead.history.last().reason == "Retry limit reached: 3 attempts made, the campaign allows 3."


def test_finishing_needs_an_attempt_under_way(lead):
    with pytest.raises(
        TransitionError, match="Only a lead in Processing can end an attempt; this one is Created."
    ):
        attempts.finish_attempt(lead, succeeded=True, now=NOW)


# --- Manual overrides -------------------------------------------------------------------------


def test_reset_to_created_puts_the_lead_back_in_the_queue_and_keeps_its_attempts(campaign, operator):
    lead = in_status(campaign, Status.MAX_RETRIES, attempts=4)
    lifecycle.set_status(lead, Status.CREATED, user=operator, reason="Asked us to try again", now=NOW)
    lead.refresh_from_db()
    assert (lead.status, lead.attempts, lead.next_attempt_at) == (Status.CREATED, 4, None)
    change = lead.history.get()
    assert (change.from_status, change.to_status, change.automatic, change.user, change.reason) == (
        "max_retries",
        "created",
        False,
        operator,
        "Asked us to try again",
    )


def test_a_reset_lead_that_fails_again_respects_the_retry_limit(campaign):
    lead = in_status(campaign, Status.MAX_RETRIES, attempts=4)
    lifecycle.set_status(lead, Status.CREATED, now=NOW)
    attempts.start_attempt(lead, lease=LEASE, now=NOW)
    assert attempts.finish_attempt(lead, succeeded=False, now=NOW) == Status.MAX_RETRIES


def test_completed_takes_the_lead_out_of_the_queue(campaign):
    lead = in_status(campaign, Status.RESCHEDULED, next_attempt_at=NOW)
    lifecycle.set_status(lead, Status.COMPLETED, reason="Signed by email", now=NOW)
    lead.refresh_from_db()
    assert (lead.status, lead.next_attempt_at) == (Status.COMPLETED, None)
    assert not lifecycle.is_queued(lead.status)


def test_an_override_refuses_an_unknown_keyword_as_a_call_would(campaign):
    lead = in_status(campaign, Status.CREATED)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        lifecycle.set_status(lead, Status.COMPLETED, resaon="typo", now=NOW)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        lifecycle.bulk_set_status(Lead.objects.all(), Status.COMPLETED, resaon="typo", now=NOW)
    assert Lead.objects.get(pk=lead.pk).status == Status.CREATED


def test_scheduled_needs_a_time_and_uses_it(lead):
    with pytest.raises(TransitionError, match="Scheduled needs a time"):
        lifecycle.set_status(lead, Status.SCHEDULED, now=NOW)
    callback = NOW + dt.timedelta(days=1, hours=3)
    lifecycle.set_status(lead, Status.SCHEDULED, scheduled_at=callback, now=NOW)
    lead.refresh_from_db()
    assert (lead.status, lead.next_attempt_at) == (Status.SCHEDULED, callback)


def test_rescheduled_restarts_the_retry_timer(campaign):
    lead = in_status(campaign, Status.RESCHEDULED, next_attempt_at=NOW - dt.timedelta(days=2))
    lifecycle.set_status(lead, Status.RESCHEDULED, now=NOW)
    lead.refresh_from_db()
    assert lead.next_attempt_at == NOW + campaign.retry_interval


def test_max_retries_can_be_set_by_hand(lead):
    lifecycle.set_status(lead, Status.MAX_RETRIES, now=NOW)
    assert Lead.objects.get(pk=lead.pk).status == Status.MAX_RETRIES


def test_processing_is_never_set_by_hand(lead):
    with pytest.raises(TransitionError) as exc:
        lifecycle.set_status(lead, Status.PROCESSING, now=NOW)
    assert str(exc.value) == "Processing is set only by the campaign runner when a call attempt starts."
    assert Lead.objects.get(pk=lead.pk).status == Status.CREATED
    assert not StatusChange.objects.exists()


def test_no_override_while_a_call_is_under_way(campaign):
    lead = in_status(campaign, Status.PROCESSING)
    with pytest.raises(TransitionError) as exc:
        lifecycle.set_status(lead, Status.COMPLETED, now=NOW)
    assert str(exc.value) == (
        "A call attempt is under way: Completed cannot be set until it ends (the runner sets the outcome)."
    )


def test_setting_the_current_status_again_is_refused_with_a_reason(campaign):
    lead = in_status(campaign, Status.COMPLETED)
    with pytest.raises(TransitionError, match="The lead is already Completed."):
        lifecycle.set_status(lead, Status.COMPLETED, now=NOW)


def test_allowed_manual_targets_follow_the_rules():
    assert lifecycle.allowed_manual_targets(Status.PROCESSING) == []
    assert lifecycle.allowed_manual_targets(Status.CREATED) == [
        "scheduled",
        "rescheduled",
        "completed",
        "max_retries",
    ]


def test_a_refused_change_writes_nothing(campaign):
    lead = in_status(campaign, Status.PROCESSING)
    with pytest.raises(TransitionError):
        lifecycle.set_status(lead, Status.CREATED, now=NOW)
    assert not StatusChange.objects.exists()


# --- Bulk overrides ---------------------------------------------------------------------------


def test_bulk_override_changes_what_it_may_and_counts_refusals_by_reason(campaign, operator):
    created = [in_status(campaign, Status.CREATED) for _ in range(3)]
    processing = [in_status(campaign, Status.PROCESSING) for _ in range(2)]
    done = in_status(campaign, Status.COMPLETED)
    result = lifecycle.bulk_set_status(
        Lead.objects.all(), Status.COMPLETED, user=operator, reason="Campaign closed", now=NOW
    )
    assert result.changed == 3
    assert dict(result.refused) == {
        "A call attempt is under way: Completed cannot be set until it ends (the runner sets the outcome).": 2,
        "The lead is already Completed.": 1,
    }
    assert set(Lead.objects.filter(status=Status.COMPLETED).values_list("pk", flat=True)) == {
        *(lead.pk for lead in created),
        done.pk,
    }
    assert Lead.objects.filter(pk__in=[p.pk for p in processing], status=Status.PROCESSING).count() == 2
    assert (
        StatusChange.objects.filter(user=operator, reason="Campaign closed", to_status="completed").count()
        == 3
    )


def test_bulk_override_costs_a_bounded_number_of_queries(campaign):
    for _ in range(30):
        in_status(campaign, Status.CREATED)
    # One read of the matching ids, one campaign lookup, one UPDATE, one history INSERT, one read
    # of the webhook subscriptions listening (none: no event rows) (+ savepoint).
    with CaptureQueriesContext(connection) as queries:
        result = lifecycle.bulk_set_status(Lead.objects.all(), Status.RESCHEDULED, now=NOW)
    assert result.changed == 30
    assert len(queries) <= 7
    assert set(Lead.objects.values_list("next_attempt_at", flat=True)) == {NOW + campaign.retry_interval}


def test_default_next_attempt_times_for_imported_statuses(campaign):
    now = timezone.now()
    assert (
        lifecycle.default_next_attempt_at(Status.RESCHEDULED, campaign, now) == now + campaign.retry_interval
    )
    assert lifecycle.default_next_attempt_at(Status.SCHEDULED, campaign, now) == now
    assert lifecycle.default_next_attempt_at(Status.CREATED, campaign, now) is None
