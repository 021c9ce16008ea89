"""The runner asks compliance before every dial (in-process runner, fixed clock): listed numbers are
skipped and recorded, a lead with every number listed leaves the queue, capped numbers wait."""

from __future__ import annotations

import datetime as dt

import pytest

from campaigns.models import Campaign, RunnerDecision
from campaigns.preview import preview_start
from campaigns.tests.helpers import NOW, Clock, calls, history, runner
from compliance import services
from compliance.models import CallingRules, CampaignCaps
from leadmgr.testing import make_campaign, make_lead
from leads.models import Status

pytestmark = pytest.mark.django_db

P, S1, S2 = "+14155550101", "+14155550102", "+14155550103"


@pytest.fixture
def running(db) -> Campaign:
    return make_campaign(
        state=Campaign.State.RUNNING,
        max_retries=2,
        retry_interval=dt.timedelta(minutes=45),
        calling_days=[0, 1, 2, 3, 4, 5, 6],
    )


def set_rules(**fields) -> None:
    CallingRules.objects.update_or_create(pk=1, defaults=fields)


def decisions(campaign) -> dict[str, int]:
    return {d.reason: d.leads for d in RunnerDecision.objects.filter(campaign=campaign)}


def test_a_listed_primary_is_skipped_and_the_next_number_dialled(running):
    lead = make_lead(running, phone=P, contacts=[S1])
    services.dnc_add(number=P)
    report = runner("completed").tick()
    lead.refresh_from_db()
    assert (report.dials, lead.status) == (1, Status.COMPLETED)
    assert calls(lead) == [(P, "do_not_call", 1), (S1, "completed", 1)]
    assert lead.calls.first().detail == "Not dialled: the number is on the do-not-call list."
    assert decisions(running) == {"do_not_call": 1}


def test_a_listed_secondary_is_never_dialled(running):
    lead = make_lead(running, phone=P, contacts=[S1, S2])
    services.dnc_add(number=S1, campaign=running)
    runner("no_answer").tick()
    lead.refresh_from_db()
    assert calls(lead) == [(P, "no_answer", 1), (S1, "do_not_call", 1), (S2, "no_answer", 1)]
    assert lead.status == Status.RESCHEDULED


def test_a_lead_with_every_number_listed_leaves_the_queue_completed_without_a_dial(running):
    lead = make_lead(running, phone=P, contacts=[S1])
    services.dnc_add(number=P)
    services.dnc_add(number=S1, campaign=running)
    report = runner("completed").tick()
    lead.refresh_from_db()
    assert (report.claimed, report.dials, lead.status, lead.attempts) == (0, 0, Status.COMPLETED, 0)
    assert list(lead.history.values_list("from_status", "to_status", "reason", "automatic")) == [
        ("created", "completed", "all numbers on the do-not-call list", True)
    ]
    assert calls(lead) == []
    assert decisions(running) == {"do_not_call": 1}


def test_another_campaigns_list_does_not_block(running):
    other = make_campaign("Other")
    lead = make_lead(running, phone=P)
    services.dnc_add(number=P, campaign=other)
    runner("completed").tick()
    assert calls(lead) == [(P, "completed", 1)]


def test_a_number_listed_during_the_attempt_is_not_dialled_and_ends_it_completed(running):
    clock = Clock()
    lead = make_lead(running, phone=P, contacts=[S1])
    from campaigns.tests.helpers import ManualTime, simulated

    time = ManualTime()
    r = runner(provider=simulated("no_answer", speedup=1, clock=time), clock=clock)
    r.tick()
    assert calls(lead) == [(P, "", 1)]  # the primary's call is under way
    services.dnc_add(number=P, source="opt_out")  # opted out on that call
    services.dnc_add(number=S1)
    time.t += 3600
    r.tick()
    lead.refresh_from_db()
    assert calls(lead) == [(P, "no_answer", 1), (S1, "do_not_call", 1)]
    assert lead.status == Status.COMPLETED
    assert history(lead)[-1] == ("processing", "completed")
    assert lead.history.last().reason == "all numbers on the do-not-call list"


def test_the_start_preview_counts_leads_whose_primary_is_listed(running):
    for i in range(4):
        make_lead(running, phone=f"+1415555020{i}")
    services.dnc_add(number="+14155550200")
    services.dnc_add(number="+14155550201", campaign=running)
    preview = preview_start(running, NOW)
    assert (preview.due, preview.would_call) == (4, 2)
    assert preview.skipped["On the do-not-call list"] == 2


# --- frequency caps ---------------------------------------------------------------------------


def test_a_number_dialled_in_another_campaign_waits_for_the_daily_cap(running):
    set_rules(max_dials_per_day=1)
    other = make_campaign("Other", state=Campaign.State.RUNNING, calling_days=[0, 1, 2, 3, 4, 5, 6])
    first = make_lead(other, phone=P)
    clock = Clock()
    runner("no_answer", clock=clock).tick()
    assert calls(first) == [(P, "no_answer", 1)]
    second = make_lead(running, phone=P)
    clock.advance(hours=2)
    report = runner("completed", clock=clock).tick()
    second.refresh_from_db()
    assert report.dials == 0
    assert (second.status, second.attempts) == (Status.CREATED, 0)
    assert second.next_attempt_at == NOW + dt.timedelta(days=1)  # when the first dial drops out
    assert decisions(running) == {"frequency_cap": 1}
    clock.now = NOW + dt.timedelta(days=1, seconds=1)
    runner("completed", clock=clock).tick()
    assert calls(second) == [(P, "completed", 1)]


def test_a_capped_secondary_is_skipped_and_the_retry_waits_for_the_cap(running):
    set_rules(min_gap=dt.timedelta(hours=3))
    other = make_campaign("Other", state=Campaign.State.RUNNING, calling_days=[0, 1, 2, 3, 4, 5, 6])
    make_lead(other, phone=S1)
    clock = Clock()
    runner("no_answer", clock=clock).tick()  # S1 dialled at NOW in the other campaign
    lead = make_lead(running, phone=P, contacts=[S1])
    clock.advance(minutes=10)
    runner("no_answer", clock=clock).tick()
    lead.refresh_from_db()
    assert calls(lead) == [(P, "no_answer", 1), (S1, "frequency_cap", 1)]
    # Rescheduled no earlier than S1's cap allows (NOW + 3 h), later than the 45-minute retry.
    assert (lead.status, lead.next_attempt_at) == (Status.RESCHEDULED, NOW + dt.timedelta(hours=3))


def test_a_campaigns_own_cap_is_stricter_than_the_sites(running):
    set_rules(max_dials_per_week=5)
    CampaignCaps.objects.create(campaign=running, max_dials_per_week=1, max_dials_per_day=9)
    lead = make_lead(running, phone=P)
    clock = Clock()
    runner("no_answer", clock=clock).tick()
    clock.advance(hours=1)
    runner("no_answer", clock=clock).tick()
    lead.refresh_from_db()
    assert calls(lead) == [(P, "no_answer", 1)]
    assert lead.next_attempt_at == NOW + dt.timedelta(days=7)
