"""Results over time on a campaign page: dials per day by outcome (the last 14 days, days in the
viewer's time zone) in one grouped query, drawn as SVG on the server with a text alternative, and
the answer rate, average call duration and completed per attempt; the page within 8 queries."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Profile
from campaigns import results
from campaigns.models import Campaign
from compliance.models import CallingRules
from leadmgr.testing import make_assistant, make_campaign, make_lead
from leads.models import CallAttempt

NOW = dt.datetime(2030, 3, 20, 12, 0, tzinfo=dt.UTC)


def dial(lead, started: dt.datetime, outcome: str, seconds: int | None = 60, *, contact=None, attempt=1):
    return CallAttempt.objects.create(
        lead=lead,
        contact=contact,
        attempt_number=attempt,
        phone=lead.phone,
        started_at=started,
        ended_at=None if seconds is None else started + dt.timedelta(seconds=seconds),
        outcome=outcome,
    )


@pytest.fixture
def calls(campaign):
    a, b = make_lead(campaign), make_lead(campaign)
    other = make_lead(make_campaign("Other"))
    dial(a, NOW - dt.timedelta(hours=1), "completed", 120)
    dial(b, NOW - dt.timedelta(hours=2), "no_answer", 30)
    dial(b, NOW - dt.timedelta(hours=2), "voicemail", 30, contact=None, attempt=2)
    # 23:30 UTC the day before: the 19th in UTC, the 20th in Berlin.
    dial(a, dt.datetime(2030, 3, 19, 23, 30, tzinfo=dt.UTC), "busy", 5)
    dial(a, NOW - dt.timedelta(days=20), "completed", 100)  # older than 14 days: not shown
    dial(a, NOW - dt.timedelta(minutes=1), "", None)  # under way: no result yet
    dial(a, NOW - dt.timedelta(minutes=5), "do_not_call", None)  # a skip, never dialled
    dial(other, NOW - dt.timedelta(hours=1), "completed", 50)  # another campaign
    return campaign


def counts(res) -> dict[str, dict[str, int]]:
    return {f"{d.date:%m-%d}": d.counts for d in res.days if d.counts}


def test_one_grouped_query_gives_dials_per_day_and_outcome(calls, django_assert_num_queries):
    with django_assert_num_queries(1):
        res = results.results_over_time(calls.pk, NOW)
    assert len(res.days) == 14 and res.days[-1].date == dt.date(2030, 3, 20)
    assert counts(res) == {"03-19": {"busy": 1}, "03-20": {"completed": 1, "no_answer": 1, "voicemail": 1}}
    assert (res.dials, res.answered, res.completed, res.attempts) == (4, 2, 1, 4)
    assert res.answer_rate == 0.5
    assert res.average_seconds == pytest.approx((120 + 30 + 30 + 5) / 4)
    assert res.completed_per_attempt == 0.25


def test_days_are_cut_in_the_viewers_time_zone(calls):
    timezone.activate(zoneinfo.ZoneInfo("Europe/Berlin"))
    try:
        res = results.results_over_time(calls.pk, NOW)
    finally:
        timezone.deactivate()
    assert res.zone == "Europe/Berlin"
    assert counts(res) == {"03-20": {"busy": 1, "completed": 1, "no_answer": 1, "voicemail": 1}}


def test_completed_per_attempt_counts_attempts_not_dials(campaign):
    lead = make_lead(campaign)
    dial(lead, NOW - dt.timedelta(hours=1), "no_answer", 30)
    contact = lead.contacts.create(phone="+14155550101", position=0)
    dial(lead, NOW - dt.timedelta(hours=1), "completed", 90, contact=contact)
    res = results.results_over_time(campaign.pk, NOW)
    assert (res.dials, res.attempts, res.completed) == (2, 1, 1)
    assert res.completed_per_attempt == 1.0


class FrozenTimezone:
    """django.utils.timezone for the results module alone, its clock at NOW (sessions keep theirs)."""

    def __getattr__(self, name):
        return getattr(timezone, name)

    @staticmethod
    def now():
        return NOW


def test_the_page_draws_the_chart_with_its_text_alternative_and_figures(client, operator, calls, monkeypatch):
    monkeypatch.setattr(results, "timezone", FrozenTimezone())
    client.force_login(operator)
    page = client.get(f"/campaigns/{calls.pk}/").content.decode()
    assert (
        '<svg class="results-chart"' in page
        and 'role="img" aria-labelledby="results-title results-desc"' in page
    )
    assert '<title id="results-title">Dials per day by outcome, last 14 days</title>' in page
    assert "4 dials in the last 14 days, 1 completed; the busiest day was 2030-03-20 with 3." in page
    assert 'data-outcome="completed" data-n="1"' in page
    assert '<tr data-day="2030-03-20"><th scope="row">2030-03-20</th><td class="text-end">1</td>' in page
    assert 'data-figure="answer-rate">50% (2 of 4 dials answered' in page
    assert 'data-figure="average-duration">46 s' in page
    assert 'data-figure="completed-per-attempt">0.25 (1 completed, 4 attempts)' in page
    assert "days in UTC" in page
    assert "cdn" not in page.lower() and "<script>" not in page


def test_an_empty_chart_says_so(client, operator, campaign):
    client.force_login(operator)
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "No call was dialled in the last 14 days." in page
    assert 'data-figure="answer-rate">—' in page


def test_the_page_stays_within_8_queries_with_calls_history_and_a_zone(
    client, staff, calls, django_assert_num_queries
):
    Profile.objects.create(user=staff, time_zone="America/New_York")
    client.force_login(staff)
    Campaign.objects.filter(pk=calls.pk).update(state=Campaign.State.RUNNING)
    # session, user, permissions (user's, groups'), campaign with assistant, variables and the legal
    # floor, status counts, state history, results over time
    with django_assert_num_queries(8):
        response = client.get(f"/campaigns/{calls.pk}/")
    assert response.status_code == 200
    assert [v.name for v in response.context["variables"]] == ["customer_name", "company"]


def test_one_read_gives_the_campaign_its_variables_in_order_and_the_floor(db):
    from campaigns.page import campaign_for_page

    assistant = make_assistant(variables=[("b_second", "", False), ("a_first", "x", True)])
    campaign = make_campaign(assistant=assistant)
    bare = make_campaign("Bare", assistant=make_assistant("No variables", variables=[]))
    CallingRules.objects.update_or_create(
        pk=1, defaults={"floor_start": dt.time(9), "floor_end": dt.time(20), "floor_days": [0, 1, 2, 3, 4]}
    )
    with CaptureQueriesContext(connection) as queries:
        read = campaign_for_page(campaign.pk, Campaign.objects.all())
        empty = campaign_for_page(bare.pk, Campaign.objects.all())
        missing = campaign_for_page(999_999, Campaign.objects.all())
    assert len(queries) == 3
    assert [(v.name, v.default, v.required) for v in read.variables] == [
        ("b_second", "", False),
        ("a_first", "x", True),
    ]
    assert read.campaign.assistant.name == "Sales Qualifier"
    assert (read.floor.floor_start, read.floor.floor_end, read.floor.floor_days) == (
        dt.time(9),
        dt.time(20),
        [0, 1, 2, 3, 4],
    )
    assert empty.campaign == bare and empty.variables == []
    assert missing is None
    CallingRules.objects.all().delete()
    defaults = campaign_for_page(campaign.pk, Campaign.objects.all()).floor
    assert (defaults.floor_start, defaults.floor_end) == (dt.time(8), dt.time(21))


def test_the_floor_note_reads_the_rules_the_page_read(client, operator, campaign):
    CallingRules.objects.update_or_create(
        pk=1, defaults={"floor_start": dt.time(10), "floor_end": dt.time(16)}
    )
    client.force_login(operator)
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'id="floor-note"' in page and "(10:00–16:00 callee's local time" in page


@pytest.mark.parametrize(("peak", "top"), [(0, 10), (3, 10), (11, 20), (23, 40), (95, 100), (4_001, 6_000)])
def test_the_y_axis_ends_on_an_even_number_of_round_steps(peak, top):
    res = results.Results(days=[results.Day(dt.date(2030, 3, 1), {"completed": peak})], zone="UTC")
    results._lay_out(res)
    assert res.top == top
    assert [g["value"] for g in results.gridlines(res)] == [0, top // 2, top]
    (bar,) = res.days[0].bars or [{"h": 0.0}]
    assert bar["h"] == pytest.approx(results.PLOT_H * peak / top, abs=0.1)
