"""The live part of a campaign page: what it shows, its query budget, the runner warning, and that
the page loads it by htmx polling."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.models import Campaign, RunnerDecision, RunnerHeartbeat
from leadmgr.testing import make_campaign, make_lead
from leads.models import CallAttempt, Status

State = Campaign.State
NO_RUNNER = "No campaign runner is running: start one with <code>python manage.py run_campaigns</code>."


def beat(worker="host:1", *, ago: float = 0, passed_ago: float | None = 0):
    now = timezone.now()
    RunnerHeartbeat.objects.update_or_create(
        worker_id=worker,
        defaults={
            "started_at": now - dt.timedelta(hours=1),
            "last_seen": now - dt.timedelta(seconds=ago),
            "last_pass_at": None if passed_ago is None else now - dt.timedelta(seconds=passed_ago),
        },
    )


def test_the_page_polls_the_fragment(client, operator, campaign):
    client.force_login(operator)
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert f'hx-get="/campaigns/{campaign.pk}/live/" hx-trigger="load"' in page
    fragment = client.get(f"/campaigns/{campaign.pk}/live/").content.decode()
    assert f'hx-get="/campaigns/{campaign.pk}/live/" hx-trigger="every 3s" hx-swap="outerHTML"' in fragment


def test_the_fragment_shows_calls_under_way_latest_attempts_and_counts(
    client, operator, django_assert_num_queries
):
    campaign = make_campaign(state=State.RUNNING)
    other = make_campaign("Other", state=State.RUNNING)
    now = timezone.now()
    busy = make_lead(campaign, phone="+14155550111", status=Status.PROCESSING, attempts=1)
    CallAttempt.objects.create(
        lead=busy, attempt_number=1, phone=busy.phone, started_at=now - dt.timedelta(seconds=42)
    )
    done = make_lead(campaign, phone="+14155550122", status=Status.COMPLETED, attempts=1)
    CallAttempt.objects.create(
        lead=done, attempt_number=1, phone=done.phone, started_at=now, ended_at=now, outcome="completed"
    )
    stranger = make_lead(other, phone="+14155550133", status=Status.PROCESSING, attempts=1)
    CallAttempt.objects.create(lead=stranger, attempt_number=1, phone=stranger.phone, started_at=now)
    beat()
    client.force_login(operator)
    # session, user, permissions (user's, groups'), the campaign with its next-due leads and runner
    # liveness (subqueries), status counts, calls (under way and latest), the runner's latest skips
    with django_assert_num_queries(8):
        response = client.get(f"/campaigns/{campaign.pk}/live/")
    page = response.content.decode()
    assert [c.phone for c, _ in response.context["in_progress"]] == ["+14155550111"]
    assert 42 <= response.context["in_progress"][0][1].total_seconds() < 60
    assert [c.phone for c in response.context["latest"]] == ["+14155550122"]
    assert "+14155550133" not in page
    assert "<td>Completed</td>" in page
    assert f'<a href="/leads/?campaign={campaign.pk}&amp;status=processing" data-count>1</a>' in page
    assert "Runners alive: <strong>1</strong>" in page
    assert NO_RUNNER not in page


@pytest.mark.parametrize(
    ("state", "beats", "warned"),
    [
        (State.RUNNING, [], True),
        (State.RUNNING, [7], True),  # seen 7 s ago: more than 3 ticks of 2 s
        (State.RUNNING, [5], False),
        (State.PAUSED, [], False),
        (State.DRAFT, [], False),
    ],
)
def test_a_running_campaign_without_a_live_runner_is_warned_in_red(client, operator, state, beats, warned):
    campaign = make_campaign(state=state)
    for i, ago in enumerate(beats):
        beat(f"host:{i}", ago=ago)
    client.force_login(operator)
    assert (NO_RUNNER in client.get(f"/campaigns/{campaign.pk}/live/").content.decode()) == warned
    assert (NO_RUNNER in client.get("/campaigns/").content.decode()) == warned


def test_the_list_shows_how_many_runners_are_alive_and_the_last_pass(client, operator, campaign):
    beat("a:1")
    beat("b:2", ago=60, passed_ago=None)
    client.force_login(operator)
    page = client.get("/campaigns/").content.decode()
    assert "Runners alive: <strong>1</strong>" in page
    assert "last pass never" not in page


def test_next_due_says_when_and_why(client, operator):
    campaign = make_campaign(state=State.RUNNING, calling_days=[0, 1, 2, 3, 4, 5, 6])
    # A new lead deferred to 09:00 New York time (its window) tomorrow.
    now = timezone.now()
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    opening = dt.datetime.combine(now.astimezone(ny).date() + dt.timedelta(days=1), dt.time(9), tzinfo=ny)
    make_lead(campaign, phone="+12125550100", next_attempt_at=opening.astimezone(dt.UTC))
    make_lead(
        campaign,
        phone="+14155550100",
        status=Status.RESCHEDULED,
        attempts=1,
        next_attempt_at=opening + dt.timedelta(hours=5),
    )
    client.force_login(operator)
    page = client.get(f"/campaigns/{campaign.pk}/live/").content.decode()
    expected = opening.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
    assert f"Next lead due {expected} UTC, when the window opens in America/New_York (+12125550100)." in page


def test_next_due_of_a_retry(client, operator):
    campaign = make_campaign(state=State.RUNNING)
    at = timezone.now() + dt.timedelta(minutes=30)
    make_lead(campaign, phone="+14155550100", status=Status.RESCHEDULED, attempts=1, next_attempt_at=at)
    client.force_login(operator)
    page = client.get(f"/campaigns/{campaign.pk}/live/").content.decode()
    assert f"Next lead due {at:%Y-%m-%d %H:%M} UTC, its retry time (+14155550100)." in page


def test_a_running_campaign_shows_what_waited_and_why_not_the_start_preview(client, operator):
    campaign = make_campaign(state=State.RUNNING)
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    RunnerDecision.objects.create(
        campaign=campaign, reason="outside_window", hour=hour, ticks=3, leads=900, last_leads=310, last_at=now
    )
    RunnerDecision.objects.create(
        campaign=campaign, reason="missing_variable", hour=hour, ticks=1, leads=4, last_leads=4, last_at=now
    )
    client.force_login(operator)
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "start-preview" not in page
    fragment = client.get(f"/campaigns/{campaign.pk}/live/").content.decode()
    assert "<li>Outside the calling window: 310 (at" in fragment
    assert "<li>Required variable missing: 4 (at" in fragment


@pytest.mark.parametrize("state", [State.DRAFT, State.PAUSED])
def test_draft_and_paused_campaigns_show_the_start_preview(client, operator, state):
    campaign = make_campaign(state=state)
    client.force_login(operator)
    assert 'id="start-preview"' in client.get(f"/campaigns/{campaign.pk}/").content.decode()


@pytest.mark.parametrize(("persona", "status"), [("outsider", 404), ("operator", 200)])
def test_the_fragment_is_for_those_who_see_campaigns(client, request, persona, status, campaign):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(f"/campaigns/{campaign.pk}/live/").status_code == status


def test_the_fragment_needs_sign_in(client, campaign):
    response = client.get(f"/campaigns/{campaign.pk}/live/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
