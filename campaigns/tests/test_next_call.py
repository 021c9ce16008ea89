"""The lead page says when and why the lead will (not) be called next, by the runner's rules."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.live import next_call
from campaigns.models import Campaign
from leadmgr.testing import ALL_DAY, make_assistant, make_campaign, make_lead
from leads.models import Status

# Wednesday 25 November 2026, 18:00 UTC: 13:00 in New York, 10:00 in San Francisco.
NOW = dt.datetime(2026, 11, 25, 18, 0, tzinfo=dt.UTC)
State = Campaign.State


@pytest.mark.parametrize(
    ("state", "status", "expected"),
    [
        (State.DRAFT, Status.CREATED, "Campaign draft: this lead is not called until the campaign starts."),
        (State.PAUSED, Status.CREATED, "Campaign paused: this lead is not called until it resumes."),
        (State.FINISHED, Status.CREATED, "Campaign finished: this lead is never called again."),
        (State.RUNNING, Status.PROCESSING, "A call attempt is under way."),
        (
            State.RUNNING,
            Status.COMPLETED,
            "Completed: this lead is not called again unless someone changes its status.",
        ),
        (
            State.RUNNING,
            Status.CREATED,
            "Due now: called at the runner's next pass, as a slot in the campaign frees up.",
        ),
    ],
)
def test_the_campaign_state_and_the_status_decide(db, state, status, expected):
    lead = make_lead(make_campaign(state=state), phone="+14155550100", status=status)
    assert next_call(lead, NOW) == expected


def test_outside_its_window_it_says_when_it_opens_in_the_callee_zone(db):
    campaign = make_campaign(state=State.RUNNING, window_start=dt.time(14), window_end=dt.time(17))
    lead = make_lead(campaign, phone="+12125550100")  # New York: 13:00 now
    assert next_call(lead, NOW) == (
        "Next call from 14:00 in America/New_York (its calling window), 2026-11-25 19:00 UTC."
    )


def test_the_legal_floor_and_region_rules_hold_as_the_runner_applies_them(db):
    from compliance.models import CallingRules, RegionRule

    campaign = make_campaign(state=State.RUNNING, **ALL_DAY)
    lead = make_lead(campaign, phone="+14155550100")  # San Francisco: 10:00 now
    CallingRules.objects.update_or_create(
        pk=1, defaults={"floor_start": dt.time(11), "floor_end": dt.time(21)}
    )
    assert next_call(lead, NOW) == (
        "Next call from 11:00 in America/Los_Angeles (its calling window), 2026-11-25 19:00 UTC."
    )
    CallingRules.objects.filter(pk=1).update(floor_start=dt.time(8))
    assert next_call(lead, NOW).startswith("Due now")
    RegionRule.objects.create(
        name="Afternoons", country="US", prefixes="+1415", start=dt.time(12), end=dt.time(17)
    )
    assert next_call(lead, NOW) == (
        "Next call from 12:00 in America/Los_Angeles (its calling window), 2026-11-25 20:00 UTC."
    )


def test_a_retry_says_its_time(db):
    lead = make_lead(
        make_campaign(state=State.RUNNING),
        phone="+14155550100",
        status=Status.RESCHEDULED,
        attempts=1,
        next_attempt_at=NOW + dt.timedelta(minutes=30),
    )
    assert next_call(lead, NOW) == "Next call at 2026-11-25 18:30 UTC (its retry time)."


def test_the_times_are_in_the_viewers_zone(db):
    campaign = make_campaign(state=State.RUNNING, window_start=dt.time(14), window_end=dt.time(17))
    waiting = make_lead(campaign, phone="+12125550100")
    retry = make_lead(
        make_campaign(name="Retries", state=State.RUNNING),
        phone="+14155550100",
        status=Status.RESCHEDULED,
        attempts=1,
        next_attempt_at=NOW + dt.timedelta(minutes=30),
    )
    with timezone.override("Europe/Berlin"):  # what the profile's middleware activates
        assert next_call(waiting, NOW) == (
            "Next call from 14:00 in America/New_York (its calling window), 2026-11-25 20:00 Europe/Berlin."
        )
        assert next_call(retry, NOW) == "Next call at 2026-11-25 19:30 Europe/Berlin (its retry time)."


def test_a_missing_required_variable_is_named(db):
    assistant = make_assistant("Strict", variables=[("customer_name", "", True)])
    lead = make_lead(make_campaign(state=State.RUNNING, assistant=assistant), variables={})
    assert next_call(lead, NOW) == "Not called while required variables are not set: customer_name."


def test_the_lead_page_shows_it(client, operator, lead):
    client.force_login(operator)
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert (
        '<p class="mb-0 mt-2 small" id="next-call">Campaign draft: this lead is not called until the campaign starts.</p>'
        in page
    )
