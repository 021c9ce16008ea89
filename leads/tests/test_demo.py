"""Demo data that makes sense: each demo campaign's leads agree with its state, and the running demo
campaign has leads the runner would dial at every hour of the day, enough of them to keep it moving
for half an hour at `make run`'s simulated speed."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from campaigns import preview
from campaigns.models import Campaign
from campaigns.providers.simulated import DURATIONS, parse_mix
from campaigns.windows import WindowState, zones_for
from compliance.hours import calling_hours
from leads import demo, selectors
from leads.models import CallAttempt, Lead, Status, StatusChange

State = Campaign.State
ROOT = Path(__file__).resolve().parents[2]
WAITING = {Status.CREATED, Status.SCHEDULED, Status.RESCHEDULED, Status.PROCESSING}


@pytest.fixture
def seeded(db):
    demo.seed_demo(demo.DEFAULT_LEADS)
    return {c.state: c for c in Campaign.objects.all()}


def statuses(campaign) -> Counter:
    return Counter(Lead.objects.filter(campaign=campaign).values_list("status", flat=True))


def callable_now(campaign, now: dt.datetime) -> int:
    """Due leads whose number is inside its calling hours now (the campaign's window, the legal
    floor, its region's hours), counted by (hours, zones) as the runner's preview does."""
    hours = calling_hours(campaign)
    phones = selectors.due_leads(campaign, now).values_list("phone", flat=True)
    pairs = Counter((hours.window_for(p), zones_for(p)) for p in phones)
    return sum(n for (window, zones), n in pairs.items() if window.state(zones, now) is WindowState.OPEN)


def test_each_demo_campaign_holds_leads_its_state_agrees_with(seeded):
    draft, finished, paused = seeded[State.DRAFT], seeded[State.FINISHED], seeded[State.PAUSED]
    # A draft was never called: no attempt, no call, no status but Created.
    assert set(statuses(draft)) == {Status.CREATED}
    assert not Lead.objects.filter(campaign=draft, attempts__gt=0).exists()
    assert not CallAttempt.objects.filter(lead__campaign=draft).exists()
    assert not StatusChange.objects.filter(lead__campaign=draft).exists()
    # A finished campaign has nothing waiting: nothing queued, nothing scheduled, nothing due ever.
    assert set(statuses(finished)) <= {Status.COMPLETED, Status.MAX_RETRIES} and statuses(finished)
    assert not selectors.due_leads(finished, timezone.now() + dt.timedelta(days=365)).exists()
    # A paused campaign has no call under way (no runner holds one for it).
    assert Status.PROCESSING not in statuses(paused)
    # Every status is still somewhere, and the calls the history speaks of are there for the chart.
    running = seeded[State.RUNNING]
    assert statuses(running)[Status.PROCESSING] == 1
    assert set(Lead.objects.values_list("status", flat=True)) == set(Status.values)
    assert CallAttempt.objects.filter(lead__campaign=running, outcome="completed").exists()


def test_the_running_demo_campaign_is_open_all_day_every_day(seeded):
    running = seeded[State.RUNNING]
    assert running.calling_days == [0, 1, 2, 3, 4, 5, 6]
    assert (running.window_start, running.window_end) == (dt.time(0), dt.time.max)
    zones = {
        zones_for(phone) for phone in Lead.objects.filter(campaign=running).values_list("phone", flat=True)
    }
    assert len(zones) == len(demo.WORLD) and all(len(z) == 1 for z in zones)


@pytest.mark.parametrize("days_later", [0, 182], ids=["today", "half-a-year-later"])
def test_at_every_hour_the_running_demo_campaign_has_leads_the_runner_would_dial(seeded, days_later):
    running = seeded[State.RUNNING]
    start = timezone.now().replace(minute=30, second=0, microsecond=0) + dt.timedelta(days=days_later)
    for hour in range(24):
        now = start + dt.timedelta(hours=hour)
        assert callable_now(running, now) > 0, f"no lead callable at {now:%H:%M} UTC"
        if days_later == 0:
            # What a pass would really take (the concurrency limit, the one call under way included).
            assert preview.preview_start(running, now).would_call >= 1, f"nothing dialled at {now:%H:%M} UTC"


def test_the_running_demo_campaign_keeps_moving_for_half_an_hour_at_make_runs_speed(seeded):
    """At its worst hour, the leads callable at once outnumber the dials half an hour allows at
    `make run`'s speed (each lead counted once, as if every first call completed; retries
    and secondary numbers only add to it)."""
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^DEMO_SPEEDUP \?= .*,(\d+)\)$", makefile, re.M).group(1) == str(demo.DEMO_SPEEDUP)
    assert "LEADMGR_SIMULATED_SPEEDUP=$(DEMO_SPEEDUP)" in makefile
    mix = parse_mix(settings.LEADMGR_SIMULATED_MIX)
    mean = sum(w * sum(DURATIONS[o]) / 2 for o, w in mix.items()) / sum(mix.values())
    per_dial = mean / demo.DEMO_SPEEDUP + settings.LEADMGR_RUNNER_TICK
    running = seeded[State.RUNNING]
    dials_in_half_an_hour = running.concurrency_limit * 30 * 60 / per_dial
    start = timezone.now()
    worst = min(callable_now(running, start + dt.timedelta(hours=h)) for h in range(24))
    assert worst > dials_in_half_an_hour
