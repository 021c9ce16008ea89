from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection

from campaigns.models import Campaign, RunnerDecision
from campaigns.runner import DETAIL_NOT_RUNNING, Runner
from leadmgr.testing import ALL_DAY, make_campaign, make_lead, next_phone
from leads import attempts, lifecycle
from leads.models import CallAttempt, Lead, Status

from .helpers import NOW, Clock, ManualTime, calls, history, runner, simulated

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(db) -> Campaign:
    return make_campaign(state=Campaign.State.RUNNING, max_retries=2, retry_interval=dt.timedelta(minutes=45))


def decisions(campaign) -> dict[str, tuple[int, int]]:
    return {d.reason: (d.ticks, d.leads) for d in RunnerDecision.objects.filter(campaign=campaign)}


# --- automatic transitions ---------------------------------------------------------------------


def test_a_created_lead_is_claimed_called_and_completed_on_success(running):
    lead = make_lead(running)
    report = runner("completed").tick()
    lead.refresh_from_db()
    assert (report.claimed, report.dials, report.results) == (1, 1, 1)
    assert (lead.status, lead.attempts, lead.next_attempt_at, lead.lease_expires_at) == (
        Status.COMPLETED,
        1,
        None,
        None,
    )
    assert history(lead) == [("created", "processing"), ("processing", "completed")]
    call = lead.calls.get()
    assert (call.phone, call.contact, call.outcome, call.provider, call.attempt_number) == (
        lead.phone,
        None,
        "completed",
        "simulated",
        1,
    )
    assert call.provider_ref == f"sim-7-{call.pk}"
    assert call.started_at == call.ended_at == NOW


def test_a_claim_is_stamped_once_it_holds_the_lock(running):
    # A worker that waited for SQLite's write lock (or the campaign row) while an operator reset
    # the lead must not record its claim at a time before that reset: the lead's history would
    # read out of order (seen in the concurrency test as two claims in a row).
    from django.db import connection

    lead = make_lead(running)
    readings: list[tuple[dt.datetime, int]] = []
    base = Clock()

    def clock() -> dt.datetime:  # a new second at every reading, with the transaction depth then
        readings.append((base.advance(seconds=1), len(connection.atomic_blocks)))
        return readings[-1][0]

    outside = len(connection.atomic_blocks)
    runner("completed", clock=clock).tick()
    claim = lead.history.get(to_status=Status.PROCESSING)
    assert dict(readings)[claim.at] > outside, (claim.at, readings)


@pytest.mark.parametrize("outcome", ["no_answer", "busy", "voicemail", "failed"])
def test_a_failed_attempt_is_rescheduled_at_now_plus_the_retry_interval(running, outcome):
    lead = make_lead(running)
    runner(outcome).tick()
    lead.refresh_from_db()
    assert (lead.status, lead.attempts, lead.next_attempt_at) == (
        Status.RESCHEDULED,
        1,
        NOW + dt.timedelta(minutes=45),
    )
    assert history(lead) == [("created", "processing"), ("processing", "rescheduled")]
    assert calls(lead) == [(lead.phone, outcome, 1)]


def test_a_rescheduled_lead_waits_for_its_retry_time_then_reaches_max_retries_at_the_limit(running):
    lead = make_lead(running)
    clock = Clock()
    worker = runner("no_answer", clock=clock)
    worker.tick()  # attempt 1
    clock.advance(minutes=44)
    assert worker.tick().claimed == 0  # not due yet
    clock.advance(minutes=1)
    worker.tick()  # attempt 2
    clock.advance(minutes=45)
    worker.tick()  # attempt 3: max_retries=2 allows three attempts
    lead.refresh_from_db()
    assert (lead.status, lead.attempts, lead.next_attempt_at) == (Status.MAX_RETRIES, 3, None)
    assert history(lead)[-2:] == [("processing", "rescheduled"), ("rescheduled", "max_retries")]
    assert lead.history.last().reason == "Retry limit reached: 3 attempts made, the campaign allows 3."
    clock.advance(days=1)
    assert worker.tick().claimed == 0
    assert lead.calls.count() == 3


@pytest.mark.parametrize("status", [Status.SCHEDULED, Status.RESCHEDULED])
def test_scheduled_and_rescheduled_leads_are_called_when_their_time_comes(running, status):
    lead = make_lead(running, status=status, next_attempt_at=NOW + dt.timedelta(minutes=30))
    clock = Clock()
    worker = runner("completed", clock=clock)
    assert worker.tick().claimed == 0
    clock.advance(minutes=30)
    assert worker.tick().claimed == 1
    lead.refresh_from_db()
    assert history(lead) == [(status, "processing"), ("processing", "completed")]


def test_a_lead_reset_to_created_keeps_its_attempt_count_and_the_limit(running, operator):
    lead = make_lead(running, status=Status.MAX_RETRIES, attempts=3)
    lifecycle.set_status(lead, Status.CREATED, user=operator, reason="Asked for one more try", now=NOW)
    runner("busy").tick()
    lead.refresh_from_db()
    assert (lead.status, lead.attempts) == (Status.MAX_RETRIES, 4)


def test_completed_and_max_retries_leads_are_never_called(running):
    make_lead(running, status=Status.COMPLETED)
    make_lead(running, status=Status.MAX_RETRIES)
    assert runner().tick().claimed == 0
    assert not CallAttempt.objects.exists()


# --- secondary contacts ---------------------------------------------------------------------------


def test_an_attempt_dials_the_primary_then_each_contact_by_position(running):
    first, second = next_phone(), next_phone()
    lead = make_lead(running)
    # Positions, not insertion order, decide: add the second one first.
    lead.contacts.create(phone=second, position=2, variables={"contact_name": "Jane"})
    lead.contacts.create(phone=first, position=1)
    runner("no_answer").tick()
    lead.refresh_from_db()
    assert calls(lead) == [(lead.phone, "no_answer", 1), (first, "no_answer", 1), (second, "no_answer", 1)]
    assert [c.contact and c.contact.phone for c in lead.calls.order_by("id")] == [None, first, second]
    assert lead.status == Status.RESCHEDULED
    assert history(lead) == [("created", "processing"), ("processing", "rescheduled")]


def test_an_attempt_stops_at_the_first_successful_call(running):
    lead = make_lead(running, contacts=[next_phone(), next_phone()])
    runner("completed").tick()
    assert calls(lead) == [(lead.phone, "completed", 1)]
    assert Lead.objects.get(pk=lead.pk).status == Status.COMPLETED


def test_a_contact_whose_window_is_closed_is_skipped(running):
    hawaii = "+18085550123"  # 08:00 in Honolulu while San Francisco is at 10:00
    open_contact = next_phone()
    lead = make_lead(running, contacts=[hawaii, open_contact])
    runner("no_answer").tick()
    assert [phone for phone, *_ in calls(lead)] == [lead.phone, open_contact]


# --- concurrency limit, pause, finish -------------------------------------------------------------


def test_the_concurrency_limit_counts_calls_under_way_and_records_the_rest(running):
    running.concurrency_limit = 2
    running.save()
    leads = [make_lead(running) for _ in range(5)]
    time = ManualTime()
    worker = runner(provider=simulated("completed", speedup=1, clock=time))
    assert worker.tick().claimed == 2
    assert Lead.objects.filter(status=Status.PROCESSING).count() == 2
    assert decisions(running) == {"concurrency_full": (1, 3)}
    assert worker.tick().claimed == 0  # both slots still busy
    assert decisions(running) == {"concurrency_full": (2, 6)}
    time.t = 10_000  # the two calls end: their results come in at the end of the pass
    assert worker.tick().claimed == 0
    assert Lead.objects.filter(status=Status.COMPLETED).count() == 2
    assert worker.tick().claimed == 2  # the next pass fills the freed slots
    assert Lead.objects.filter(pk__in=[lead.pk for lead in leads], status=Status.CREATED).count() == 1


def test_a_long_queue_left_waiting_is_counted_again_only_after_the_recount_interval(running, monkeypatch):
    from campaigns import runner as runner_module

    monkeypatch.setattr(runner_module, "DUE_RECOUNT_FROM", 3)  # a "long" queue: 3 leads or more
    running.concurrency_limit = 1
    running.save()
    for _ in range(4):
        make_lead(running)
    clock = Clock()
    worker = runner(clock=clock, provider=simulated("completed", speedup=1, clock=ManualTime()))
    assert worker.tick().claimed == 1
    assert decisions(running) == {"concurrency_full": (1, 3)}
    make_lead(running)
    make_lead(running)
    clock.advance(seconds=14)
    worker.tick()  # the count of 3 is reused: no new count of the queue
    assert decisions(running) == {"concurrency_full": (2, 6)}
    clock.advance(seconds=1)  # DUE_RECOUNT (15 s) after the count
    worker.tick()
    assert decisions(running) == {"concurrency_full": (3, 11)}


def test_a_short_queue_left_waiting_is_counted_on_every_pass(running):
    running.concurrency_limit = 1
    running.save()
    make_lead(running)
    make_lead(running)
    clock = Clock()
    worker = runner(clock=clock, provider=simulated("completed", speedup=1, clock=ManualTime()))
    worker.tick()
    make_lead(running)
    worker.tick()
    assert decisions(running) == {"concurrency_full": (2, 3)}  # 1, then 2


def test_a_paused_campaign_places_no_new_calls_and_records_why(running):
    lead = make_lead(running)
    running.state = Campaign.State.PAUSED
    running.save()
    assert runner().tick().claimed == 0
    assert Lead.objects.get(pk=lead.pk).status == Status.CREATED
    assert decisions(running) == {"paused": (1, 1)}


def test_pausing_mid_attempt_dials_no_further_number(running):
    lead = make_lead(running, contacts=[next_phone()])
    time = ManualTime()
    worker = runner(provider=simulated("no_answer", speedup=1, clock=time))
    worker.tick()
    Campaign.objects.filter(pk=running.pk).update(state=Campaign.State.PAUSED)
    time.t = 10_000
    worker.tick()
    lead.refresh_from_db()
    assert calls(lead) == [(lead.phone, "no_answer", 1)]
    assert lead.status == Status.RESCHEDULED
    assert f"no_answer; {DETAIL_NOT_RUNNING}" in lead.history.last().reason


@pytest.mark.parametrize("state", [Campaign.State.FINISHED, Campaign.State.DRAFT])
def test_finished_and_draft_campaigns_are_not_called(running, state):
    make_lead(running)
    running.state = state
    running.save()
    assert runner().tick().claimed == 0
    assert not CallAttempt.objects.exists()
    assert not RunnerDecision.objects.exists()


# --- lease recovery ------------------------------------------------------------------------------


def test_a_worker_that_dies_mid_attempt_loses_nothing(running, settings):
    settings.LEADMGR_RUNNER_LEASE = 600
    lead = make_lead(running)
    clock = Clock()
    stopped = ManualTime()
    dying = runner(provider=simulated("completed", speedup=1, clock=stopped), clock=clock)
    dying.tick()  # claims and dials; the result never comes (the process "dies")
    call = lead.calls.get()
    assert (Lead.objects.get(pk=lead.pk).status, call.outcome) == (Status.PROCESSING, "")
    clock.advance(seconds=599)
    assert runner("completed", clock=clock).tick().recovered == 0
    clock.advance(seconds=2)
    report = runner("completed", clock=clock).tick()
    assert report.recovered == 1
    lead.refresh_from_db()
    call.refresh_from_db()
    assert (call.outcome, call.ended_at) == ("lost", clock.now)
    assert lead.status == Status.RESCHEDULED
    assert (
        lead.history.last().reason == "The worker stopped during attempt 1; the attempt is counted as failed."
    )
    # The late result of the lost call cannot touch the lead any more.
    stopped.t = 10_000
    assert dying.handle_results(dying.provider.due_results()) == {call.pk: "conflict"}
    assert Lead.objects.get(pk=lead.pk).status == Status.RESCHEDULED


def test_a_lead_claimed_but_never_dialled_is_recovered_with_a_lost_call(running):
    lead = make_lead(running)
    attempts.claim_due(running, 1, NOW, dt.timedelta(minutes=1))
    finals = attempts.recover_lost(NOW + dt.timedelta(minutes=2))
    assert finals == {lead.pk: Status.RESCHEDULED}
    assert calls(lead) == [(lead.phone, "lost", 1)]


def test_recovery_at_the_retry_limit_ends_in_max_retries(running):
    lead = make_lead(running, attempts=2)
    attempts.claim_due(running, 1, NOW, dt.timedelta(minutes=1))
    assert attempts.recover_lost(NOW + dt.timedelta(minutes=2)) == {lead.pk: Status.MAX_RETRIES}


# --- the command ---------------------------------------------------------------------------------


def test_run_campaigns_once_calls_what_is_due_and_reports(running, settings, capsys, any_hour):
    settings.LEADMGR_SIMULATED_SPEEDUP = 0
    settings.LEADMGR_SIMULATED_MIX = "completed:1"
    Campaign.objects.filter(pk=running.pk).update(**ALL_DAY)
    make_lead(running)
    make_lead(running)
    call_command("run_campaigns", "--once")
    assert capsys.readouterr().out.strip() == (
        "Claimed 2 lead(s), placed 2 call(s), 2 result(s); recovered 0; ended: completed 2; not called now: none."
    )
    assert Lead.objects.filter(status=Status.COMPLETED).count() == 2


def test_run_once_waits_for_its_calls_to_end(running):
    make_lead(running)
    time = ManualTime()
    worker = Runner(simulated("completed", speedup=1, clock=time), clock=Clock())

    def sleep(seconds):
        time.t += seconds

    report = worker.run_once(sleep=sleep)
    assert (report.claimed, report.results) == (1, 1)
    assert Lead.objects.get().status == Status.COMPLETED
    assert 45 <= time.t <= 240  # a completed simulated call lasts 45–240 s


def test_each_dial_renews_the_lease_so_a_long_attempt_is_not_recovered(running, settings):
    settings.LEADMGR_RUNNER_LEASE = 600
    lead = make_lead(running, contacts=[next_phone()])
    clock, time = Clock(), ManualTime()
    worker = runner(provider=simulated("no_answer", speedup=1, clock=time), clock=clock)
    worker.tick()
    assert Lead.objects.get(pk=lead.pk).lease_expires_at == NOW + dt.timedelta(seconds=600)
    clock.advance(seconds=500)
    time.t = 500  # the primary's no-answer arrives; the secondary is dialled
    worker.collect(worker.tick().__class__())
    assert Lead.objects.get(pk=lead.pk).lease_expires_at == NOW + dt.timedelta(seconds=1100)
    clock.advance(seconds=200)  # past the first lease, within the renewed one
    assert worker.tick().recovered == 0
    assert [c.outcome for c in lead.calls.order_by("id")] == ["no_answer", ""]


def test_a_large_closed_queue_is_deferred_over_several_short_claims(running, monkeypatch):
    monkeypatch.setattr("campaigns.runner.WINDOW_CHECKS_PER_CLAIM", 500)
    for i in range(600):
        make_lead(running, phone=f"+1212555{i:04d}")  # New York: closed at 23:00 UTC
    worker = runner(clock=Clock(dt.datetime(2026, 11, 25, 23, 0, tzinfo=dt.UTC)))
    assert worker.tick().skipped[running.pk, "outside_window"] == 500
    assert worker.tick().skipped[running.pk, "outside_window"] == 100
    assert not Lead.objects.filter(next_attempt_at__isnull=True).exists()


def test_each_pass_stores_the_variable_names_of_leads_added_by_the_form_or_the_api(running):
    # A filter on a variable reads the names of leads past the names table's mark from the leads
    # themselves; the runner's housekeeping keeps that tail short, as it does the search index's.
    from leads import variable_names

    lead = make_lead(running, variables={"customer_name": "A", "loyalty_tier": "gold"})
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT leads_through FROM {variable_names.STATE}")
        assert cursor.fetchone()[0] < lead.pk
    runner().tick()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT leads_through FROM {variable_names.STATE}")
        assert cursor.fetchone()[0] >= lead.pk
        cursor.execute(
            f"SELECT campaign_id FROM {variable_names.TABLE} WHERE name = %s AND contact = 0",
            ["loyalty_tier"],
        )
        assert cursor.fetchall() == [(running.pk,)]
