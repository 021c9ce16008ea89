"""The worker's heartbeat, its row, the live-runners selector, releases and per-pass logging."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from campaigns import selectors, services
from campaigns.heartbeat import Heartbeat
from campaigns.models import Campaign, RunnerHeartbeat
from leadmgr.testing import make_campaign, make_lead
from leads import attempts
from leads.models import CallAttempt, Lead, Status

from .helpers import NOW, Clock, ManualTime, runner, simulated

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(db) -> Campaign:
    return make_campaign(state=Campaign.State.RUNNING, max_retries=2, retry_interval=dt.timedelta(minutes=45))


def test_live_runners_counts_workers_seen_within_three_ticks_and_the_last_pass(db, settings):
    settings.LEADMGR_RUNNER_TICK = 2
    assert selectors.live_runners(NOW) == selectors.LiveRunners(count=0, last_pass_at=None, calls_held=0)
    services.heartbeat_beat(worker_id="a:1", now=NOW, calls_held=3, started_at=NOW, passed=True)
    services.heartbeat_beat(worker_id="b:2", now=NOW - dt.timedelta(seconds=6), calls_held=2, started_at=NOW)
    services.heartbeat_beat(worker_id="c:3", now=NOW - dt.timedelta(seconds=7), calls_held=9, started_at=NOW)
    assert selectors.live_runners(NOW) == selectors.LiveRunners(count=2, last_pass_at=NOW, calls_held=5)
    services.heartbeat_remove(worker_id="a:1")
    assert selectors.live_runners(NOW) == selectors.LiveRunners(count=1, last_pass_at=None, calls_held=2)


def test_a_beat_renews_the_held_leases_and_lets_go_of_ended_attempts(running, settings):
    settings.LEADMGR_RUNNER_LEASE = 60
    first, second = make_lead(running), make_lead(running)
    worker = runner(provider=simulated("completed", speedup=1, clock=ManualTime()))
    worker.tick()
    assert worker.held() == {first.pk: 1, second.pk: 1}
    attempts.finish_attempts([attempts.AttemptEnd(second.pk, 1, True)], now=NOW)
    heartbeat = Heartbeat(worker, worker="test:1")
    heartbeat.beat(passed=True)
    assert worker.held() == {first.pk: 1}
    lead = Lead.objects.get(pk=first.pk)
    assert lead.lease_expires_at > NOW + dt.timedelta(seconds=60)  # renewed from the real time
    row = RunnerHeartbeat.objects.get()
    assert (row.worker_id, row.calls_held, row.last_pass_at is not None) == ("test:1", 1, True)
    heartbeat.stop()
    assert not RunnerHeartbeat.objects.exists()


def test_a_worker_never_recovers_its_own_calls(running, settings):
    settings.LEADMGR_RUNNER_LEASE = 60
    lead = make_lead(running)
    clock = Clock()
    worker = runner(provider=simulated("completed", speedup=1, clock=ManualTime()), clock=clock)
    worker.tick()
    clock.advance(seconds=120)  # past the lease: its heartbeat would have renewed it
    assert worker.tick().recovered == 0
    assert runner("completed", clock=clock).tick().recovered == 1  # another worker: the lease ran out
    assert Lead.objects.get(pk=lead.pk).status == Status.RESCHEDULED


def test_a_late_result_for_a_lost_call_is_recorded_and_changes_nothing(running, settings):
    settings.LEADMGR_RUNNER_LEASE = 60
    lead = make_lead(running)
    clock = Clock()
    stopped = ManualTime()
    dying = runner(provider=simulated("completed", speedup=1, clock=stopped), clock=clock)
    dying.tick()
    clock.advance(seconds=120)
    runner("completed", clock=clock).tick()
    stopped.t = 10_000
    call = lead.calls.get()
    assert dying.handle_results(dying.provider.due_results()) == {call.pk: "conflict"}
    call.refresh_from_db()
    assert call.outcome == "lost"
    assert "Late result 'completed' after the call ended as 'lost'." in call.detail
    assert Lead.objects.get(pk=lead.pk).status == Status.RESCHEDULED


def test_a_release_puts_held_leads_back_in_the_queue_without_counting_the_attempt(running):
    lead = make_lead(running)
    worker = runner(provider=simulated("completed", speedup=1, clock=ManualTime()))
    worker.tick()
    assert worker.release_held() == [lead.pk]
    lead.refresh_from_db()
    assert (lead.status, lead.attempts, lead.next_attempt_at, lead.lease_expires_at) == (
        Status.RESCHEDULED,
        0,
        NOW,
        None,
    )
    assert lead.history.last().reason == attempts.REASON_RELEASED.format(n=1)
    assert list(lead.calls.values_list("outcome", "detail")) == [("lost", attempts.DETAIL_RELEASED)]
    assert worker.held() == {}


def test_a_claimed_lead_deleted_before_its_dial_is_skipped_and_recorded(running, caplog):
    lead = make_lead(running)
    worker = runner()
    claims = attempts.claim_due(running, 1, NOW, dt.timedelta(minutes=5))
    worker.hold((c.lead_id, c.attempt) for c in claims)
    Lead.objects.filter(pk=lead.pk).delete()
    from campaigns.dialplan import Step
    from campaigns.runner import TickReport

    report = TickReport()
    with caplog.at_level(logging.INFO, logger="campaigns.runner"):
        worker._dial([Step(lead.pk, 1, campaign_id=running.pk)], report)
    assert report.dials == 0
    assert report.skipped[running.pk, "lead_gone"] == 1
    assert worker.held() == {}
    assert not CallAttempt.objects.exists()
    assert f"lead {lead.pk} attempt 1 gone before its dial; skipped" in caplog.text


def test_each_pass_logs_one_line_with_its_figures(running, caplog):
    make_lead(running)
    with caplog.at_level(logging.INFO, logger="campaigns.runner"):
        runner().tick()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("runner pass:")]
    assert len(lines) == 1
    assert lines[0].startswith("runner pass: claimed=1 dials=1 results=1 recovered=0 held=0 duration=")
