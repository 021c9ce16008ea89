from __future__ import annotations

import datetime as dt

import pytest

from campaigns.models import Campaign, RunnerDecision
from campaigns.preview import preview_start
from campaigns.windows import Verdict, Window, WindowState, zones_for
from compliance.hours import WeekWindow
from leadmgr.testing import ALL_DAY, make_campaign, make_lead, next_phone
from leads.models import Lead, Status

from .helpers import Clock, calls, runner

NEW_YORK = "+12125550123"
HONOLULU = "+18085550123"
# Area code 208 (Idaho) spans two zones: phonenumbers answers America/Boise and America/Los_Angeles.
IDAHO = "+12085550123"
WEEKDAYS_9_TO_5 = Window(frozenset({0, 1, 2, 3, 4}), dt.time(9), dt.time(17))


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_the_idaho_number_really_has_two_time_zones():
    assert [z.key for z in zones_for(IDAHO)] == ["America/Boise", "America/Los_Angeles"]


def test_the_window_applies_in_the_callees_local_time():
    at = utc(2026, 11, 25, 23, 0)  # Wednesday: 18:00 in New York, 15:00 in San Francisco
    assert WEEKDAYS_9_TO_5.verdict("+14155550123", at) == Verdict(WindowState.OPEN)
    assert WEEKDAYS_9_TO_5.verdict(NEW_YORK, at) == Verdict(WindowState.OUTSIDE, utc(2026, 11, 26, 14, 0))


def test_the_next_opening_follows_daylight_saving_time():
    friday_evening = utc(2026, 3, 6, 23, 0)  # 18:00 EST; clocks go forward on Sunday 8 March
    verdict = WEEKDAYS_9_TO_5.verdict(NEW_YORK, friday_evening)
    # Monday 09:00 EDT is 13:00 UTC (it would be 14:00 UTC in winter time).
    assert verdict == Verdict(WindowState.OUTSIDE, utc(2026, 3, 9, 13, 0))
    assert WEEKDAYS_9_TO_5.verdict(NEW_YORK, utc(2026, 3, 9, 13, 30)).open
    assert not WEEKDAYS_9_TO_5.verdict(NEW_YORK, utc(2026, 3, 2, 13, 30)).open  # 08:30 EST the week before


def test_the_window_closes_across_the_autumn_change_too():
    # Sunday 1 November 2026 the US falls back: Monday 16:30 UTC is 11:30 EST, open; Friday before
    # at 21:30 UTC it was 17:30 EDT, closed.
    assert WEEKDAYS_9_TO_5.verdict(NEW_YORK, utc(2026, 11, 2, 16, 30)).open
    assert not WEEKDAYS_9_TO_5.verdict(NEW_YORK, utc(2026, 10, 30, 21, 30)).open
    assert WEEKDAYS_9_TO_5.verdict(NEW_YORK, utc(2026, 10, 30, 21, 30)).next_open == utc(2026, 11, 2, 14, 0)


def test_a_number_whose_zones_disagree_is_not_called_until_all_are_open():
    at = utc(2026, 11, 25, 16, 30)  # 09:30 in Boise, 08:30 in Los Angeles
    # The next moment both are open is 09:00 in Los Angeles (10:00 in Boise).
    assert WEEKDAYS_9_TO_5.verdict(IDAHO, at) == Verdict(WindowState.AMBIGUOUS, utc(2026, 11, 25, 17, 0))
    evening = utc(2026, 11, 26, 0, 30)  # 17:30 in Boise (closed), 16:30 in Los Angeles (open)
    assert WEEKDAYS_9_TO_5.verdict(IDAHO, evening) == Verdict(WindowState.AMBIGUOUS, utc(2026, 11, 26, 17, 0))
    assert WEEKDAYS_9_TO_5.verdict(IDAHO, utc(2026, 11, 25, 18, 0)).open


def test_calling_days_are_the_callees_days():
    # Saturday 03:00 UTC is still Friday 19:00 in San Francisco: a Friday-only window from 18:00.
    friday_evening = Window(frozenset({4}), dt.time(18), dt.time(21))
    assert friday_evening.verdict("+14155550123", utc(2026, 11, 28, 3, 0)).open
    assert not friday_evening.verdict(NEW_YORK, utc(2026, 11, 28, 3, 0)).open


# --- the runner defers and records -----------------------------------------------------------------


@pytest.mark.django_db
def test_the_runner_defers_a_closed_window_to_its_opening_and_calls_then():
    campaign = make_campaign(state=Campaign.State.RUNNING)
    open_lead = make_lead(campaign)
    closed = make_lead(campaign, phone=NEW_YORK)
    clock = Clock(utc(2026, 11, 25, 23, 0))
    worker = runner("completed", clock=clock)
    assert worker.tick().claimed == 1
    closed.refresh_from_db()
    # Deferred, not changed: same status, no history row, the next attempt at 09:00 New York time.
    assert (closed.status, closed.next_attempt_at, closed.history.count()) == (
        Status.CREATED,
        utc(2026, 11, 26, 14, 0),
        0,
    )
    decision = RunnerDecision.objects.get(campaign=campaign)
    assert (decision.reason, decision.leads, decision.hour) == ("outside_window", 1, utc(2026, 11, 25, 23, 0))
    assert worker.tick().claimed == 0  # not due again until it opens: no second decision
    assert RunnerDecision.objects.get(campaign=campaign).leads == 1
    clock.now = utc(2026, 11, 26, 14, 0)
    assert worker.tick().claimed == 1
    assert calls(closed) == [(NEW_YORK, "completed", 1)]
    assert Lead.objects.get(pk=open_lead.pk).status == Status.COMPLETED


@pytest.mark.django_db
def test_the_runner_does_not_call_an_ambiguous_number_and_says_why():
    campaign = make_campaign(state=Campaign.State.RUNNING)
    lead = make_lead(campaign, phone=IDAHO)
    worker = runner("completed", clock=Clock(utc(2026, 11, 25, 16, 30)))
    assert worker.tick().claimed == 0
    lead.refresh_from_db()
    assert (lead.status, lead.next_attempt_at) == (Status.CREATED, utc(2026, 11, 25, 17, 0))
    assert list(RunnerDecision.objects.values_list("reason", "leads")) == [("tz_ambiguous", 1)]


@pytest.mark.django_db
def test_a_deferred_lead_across_the_spring_change_is_called_at_nine_local():
    campaign = make_campaign(state=Campaign.State.RUNNING)
    lead = make_lead(campaign, phone=NEW_YORK)
    clock = Clock(utc(2026, 3, 6, 23, 0))
    worker = runner("completed", clock=clock)
    worker.tick()
    assert Lead.objects.get(pk=lead.pk).next_attempt_at == utc(2026, 3, 9, 13, 0)
    clock.now = utc(2026, 3, 9, 12, 59)
    assert worker.tick().claimed == 0
    clock.now = utc(2026, 3, 9, 13, 0)
    assert worker.tick().claimed == 1


# --- the start preview ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_start_preview_counts_who_would_be_called_and_why_not():
    campaign = make_campaign(concurrency_limit=3)  # a draft: "if started now"
    at = utc(2026, 11, 26, 0, 30)  # Wednesday 16:30 in San Francisco, 19:30 in New York
    for _ in range(4):
        make_lead(campaign)
    make_lead(campaign, phone=NEW_YORK)
    make_lead(campaign, phone=IDAHO)
    make_lead(campaign, status=Status.SCHEDULED, next_attempt_at=at + dt.timedelta(hours=1))  # not due
    make_lead(campaign, status=Status.PROCESSING)  # one slot taken
    make_lead(campaign, status=Status.COMPLETED)
    preview = preview_start(campaign, at)
    assert (preview.due, preview.would_call, preview.skipped_total, preview.estimated) == (6, 2, 4, False)
    assert preview.skipped == {
        "Outside the calling window": 1,
        "Time zone ambiguous": 1,
        "Concurrency full": 2,
    }
    assert not RunnerDecision.objects.exists()  # a preview decides nothing
    assert Lead.objects.filter(status=Status.CREATED, next_attempt_at__isnull=True).count() == 6


@pytest.fixture
def all_hours_campaign(any_hour) -> Campaign:
    campaign = make_campaign(concurrency_limit=2, **ALL_DAY)
    for _ in range(3):
        make_lead(campaign, phone=next_phone())
    return campaign


def test_the_start_preview_partial_renders_for_a_campaign_viewer(client, operator, all_hours_campaign):
    client.force_login(operator)
    response = client.get(f"/campaigns/{all_hours_campaign.pk}/start-preview/")
    assert response.status_code == 200
    html = " ".join(response.content.decode().split())
    assert (
        "If started now: <strong>2</strong> of <strong>3</strong> due leads would be called, "
        "<strong>1</strong> skipped, by reason:" in html
    )
    assert "<li>Concurrency full: 1</li>" in html
    assert "Outside the calling window" not in html


def test_the_start_preview_needs_the_view_campaign_permission(client, outsider, all_hours_campaign):
    client.force_login(outsider)
    assert client.get(f"/campaigns/{all_hours_campaign.pk}/start-preview/").status_code == 403


def test_the_start_preview_needs_a_sign_in(client, all_hours_campaign):
    response = client.get(f"/campaigns/{all_hours_campaign.pk}/start-preview/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


@pytest.mark.django_db
def test_a_large_queue_is_previewed_from_a_sample_and_scaled(monkeypatch):
    monkeypatch.setattr("campaigns.preview.PREVIEW_SAMPLE", 4)
    campaign = make_campaign(concurrency_limit=1)
    at = utc(2026, 11, 26, 0, 30)
    # The sample is the first four in queue order: these retries, half of them outside the window.
    for phone in [next_phone(), NEW_YORK, next_phone(), "+12125550124"]:
        make_lead(campaign, phone=phone, status=Status.RESCHEDULED, next_attempt_at=at)
    for _ in range(4):
        make_lead(campaign)
    preview = preview_start(campaign, at)
    assert (preview.due, preview.would_call, preview.estimated) == (8, 1, True)
    assert preview.skipped == {
        "Outside the calling window": 4,
        "Time zone ambiguous": 0,
        "Concurrency full": 3,
    }


@pytest.mark.django_db
def test_the_start_preview_judges_each_time_zone_set_once_and_looks_for_no_next_opening(monkeypatch):
    # At a million leads the fragment took seconds when it found every sampled number's next opening.
    campaign = make_campaign(concurrency_limit=10)
    at = utc(2026, 11, 26, 0, 30)  # 16:30 in San Francisco (open), 19:30 in New York (closed)
    for phone in [NEW_YORK, "+12125550124", "+12125550125", next_phone(), next_phone()]:
        make_lead(campaign, phone=phone)
    judged = []
    # The runner judges a number by its calling hours (the campaign's window within the legal floor,
    # compliance.hours.WeekWindow), which share Window's rules.
    state = WeekWindow.state
    monkeypatch.setattr(
        WeekWindow, "state", lambda self, zones, now: judged.append(zones) or state(self, zones, now)
    )
    monkeypatch.setattr(
        WeekWindow, "next_open", lambda *args: pytest.fail("the preview needs no next opening")
    )
    preview = preview_start(campaign, at)
    assert (preview.due, preview.would_call, preview.estimated) == (5, 2, False)
    assert preview.skipped == {
        "Outside the calling window": 3,
        "Time zone ambiguous": 0,
        "Concurrency full": 0,
    }
    assert sorted(str(zone) for zones in judged for zone in zones) == [
        "America/Los_Angeles",
        "America/New_York",
    ]


def test_the_start_preview_costs_a_fixed_number_of_queries(
    client, operator, all_hours_campaign, django_assert_num_queries
):
    client.force_login(operator)
    url = f"/campaigns/{all_hours_campaign.pk}/start-preview/"
    # Session, user, the user's own permissions, their groups' permissions, the campaign, COUNT of
    # due leads, the legal hours floor and the region rules (compliance.hours), their phones from the four queue ranges (selectors.due_branches: Scheduled,
    # Rescheduled, deferred Created, Created; up to PREVIEW_SAMPLE), the do-not-call probe of those
    # phones (compliance.selectors.blocked_numbers, per 5,000), COUNT of leads in Processing.
    with django_assert_num_queries(14):
        assert client.get(url).status_code == 200


def test_a_number_without_a_known_time_zone_is_not_called_now():
    freephone = "+80012345678"  # international freephone: phonenumbers answers Etc/Unknown
    at = utc(2026, 11, 25, 18, 0)
    assert zones_for(freephone) == ()
    assert WEEKDAYS_9_TO_5.verdict(freephone, at) == Verdict(WindowState.AMBIGUOUS, at + dt.timedelta(days=1))


def test_the_partial_included_with_only_a_campaign_loads_itself(all_hours_campaign):
    from django.template.loader import render_to_string

    html = render_to_string("campaigns/_start_preview.html", {"campaign": all_hours_campaign})
    assert f'hx-get="/campaigns/{all_hours_campaign.pk}/start-preview/"' in html
    assert 'hx-trigger="load"' in html
