"""The legal calling-hours floor and the region rules clip every campaign window, DST included."""

from __future__ import annotations

import datetime as dt

import pytest

from campaigns.models import Campaign
from campaigns.preview import preview_start
from campaigns.tests.helpers import Clock, calls, runner
from campaigns.windows import Verdict, WindowState
from compliance.hours import WeekWindow, calling_hours, campaign_exceeds_floor
from compliance.models import CallingRules, RegionRule
from leadmgr.testing import make_campaign, make_lead
from leads.models import Status

pytestmark = pytest.mark.django_db

NY = "+12125550123"  # New York: no stricter state rule
SF = "+14155550123"
MIAMI = "+13055550123"  # Florida: 08:00-20:00
AUSTIN = "+15125550123"  # Texas: Mon-Sat 09:00-21:00, Sun 12:00-21:00
BOISE_LA = "+12085550123"  # two zones (America/Boise, America/Los_Angeles): fail closed
ALL_DAYS = [0, 1, 2, 3, 4, 5, 6]


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture
def all_hours(db) -> Campaign:
    return make_campaign(
        "All hours",
        state=Campaign.State.RUNNING,
        calling_days=ALL_DAYS,
        window_start=dt.time(0, 0),
        window_end=dt.time(23, 59, 59, 999999),
    )


def test_the_floor_clips_an_all_day_window_to_8_to_21_local(all_hours):
    hours = calling_hours(all_hours)
    # Wednesday 2026-11-25: New York is UTC-5.
    assert hours.verdict(NY, utc(2026, 11, 25, 12, 59)) == Verdict(
        WindowState.OUTSIDE, utc(2026, 11, 25, 13, 0)
    )
    assert hours.verdict(NY, utc(2026, 11, 25, 13, 0)).open  # 08:00
    assert hours.verdict(NY, utc(2026, 11, 26, 1, 59)).open  # 20:59
    assert hours.verdict(NY, utc(2026, 11, 26, 2, 0)) == Verdict(
        WindowState.OUTSIDE, utc(2026, 11, 26, 13, 0)
    )


def test_the_floor_follows_daylight_saving_both_ways(all_hours):
    hours = calling_hours(all_hours)
    # Spring forward, Sunday 2026-03-08 02:00 → 03:00 in New York: 08:00 is 12:00 UTC that day,
    # 13:00 UTC the day before.
    assert hours.verdict(NY, utc(2026, 3, 7, 23, 0)).open  # Saturday 18:00 EST
    assert hours.verdict(NY, utc(2026, 3, 8, 2, 30)) == Verdict(WindowState.OUTSIDE, utc(2026, 3, 8, 12, 0))
    assert hours.verdict(NY, utc(2026, 3, 8, 12, 0)).open
    assert hours.verdict(NY, utc(2026, 3, 9, 0, 59)).open  # 20:59 EDT
    assert not hours.verdict(NY, utc(2026, 3, 9, 1, 0)).open  # 21:00 EDT
    # Fall back, Sunday 2026-11-01 02:00 → 01:00: 08:00 EST is 13:00 UTC; 21:00 EST is 02:00 UTC.
    assert hours.verdict(NY, utc(2026, 11, 1, 5, 30)) == Verdict(WindowState.OUTSIDE, utc(2026, 11, 1, 13, 0))
    assert not hours.verdict(NY, utc(2026, 11, 1, 12, 30)).open  # 07:30 EST
    assert hours.verdict(NY, utc(2026, 11, 2, 1, 59)).open  # 20:59 EST
    assert not hours.verdict(NY, utc(2026, 11, 2, 2, 0)).open


def test_a_narrower_campaign_window_is_kept_and_the_floor_never_widens_it(db):
    campaign = make_campaign(calling_days=[0, 1, 2, 3, 4], window_start=dt.time(9), window_end=dt.time(17))
    hours = calling_hours(campaign)
    assert not hours.verdict(NY, utc(2026, 11, 25, 13, 30)).open  # 08:30: the floor allows, the campaign not
    assert hours.verdict(NY, utc(2026, 11, 25, 14, 0)).open
    assert not hours.verdict(NY, utc(2026, 11, 28, 15, 0)).open  # Saturday
    assert campaign_exceeds_floor(campaign) is False


def test_state_rules_are_stricter_florida_ends_at_20_texas_sunday_starts_at_noon(all_hours):
    hours = calling_hours(all_hours)
    # Wednesday 20:30 in Miami (UTC-5): the floor allows, Florida does not.
    assert hours.verdict(MIAMI, utc(2026, 11, 26, 1, 30)) == Verdict(
        WindowState.OUTSIDE, utc(2026, 11, 26, 13, 0)
    )
    assert hours.verdict(NY, utc(2026, 11, 26, 1, 30)).open
    # Sunday 2026-11-29 10:00 in Austin (UTC-6): closed until noon; Saturday 10:00 is open.
    assert hours.verdict(AUSTIN, utc(2026, 11, 29, 16, 0)) == Verdict(
        WindowState.OUTSIDE, utc(2026, 11, 29, 18, 0)
    )
    assert hours.verdict(AUSTIN, utc(2026, 11, 28, 16, 0)).open


def test_region_rules_are_editable_data(all_hours):
    RegionRule.objects.create(
        name="Testland",
        country="GB",
        prefixes="+44",
        days=[0, 1, 2, 3, 4],
        start=dt.time(10),
        end=dt.time(12),
    )
    hours = calling_hours(all_hours)
    london = "+442079460958"
    assert hours.verdict(london, utc(2026, 11, 25, 10, 30)).open  # Wednesday 10:30 GMT
    assert not hours.verdict(london, utc(2026, 11, 25, 12, 30)).open
    assert not hours.verdict(london, utc(2026, 11, 28, 10, 30)).open  # Saturday: no rule names it


def test_an_ambiguous_zone_still_fails_closed(all_hours):
    # 20:30 in Los Angeles is 21:30 in Boise: the floor is closed in one of the number's zones.
    verdict = calling_hours(all_hours).verdict(BOISE_LA, utc(2026, 11, 26, 4, 30))
    assert verdict.state == WindowState.AMBIGUOUS


def test_the_site_floor_is_editable(all_hours):
    CallingRules.objects.update_or_create(
        pk=1, defaults={"floor_days": [0, 1, 2, 3, 4], "floor_start": dt.time(9), "floor_end": dt.time(20)}
    )
    hours = calling_hours(all_hours)
    assert not hours.verdict(NY, utc(2026, 11, 25, 13, 30)).open  # 08:30
    assert not hours.verdict(NY, utc(2026, 11, 28, 15, 0)).open  # Saturday


def test_the_runner_defers_a_lead_outside_the_floor_to_its_opening(all_hours):
    lead = make_lead(all_hours, phone=NY)
    clock = Clock(utc(2026, 11, 25, 12, 0))  # 07:00 in New York
    assert preview_start(all_hours, clock.now).skipped["Outside the calling window"] == 1
    report = runner("completed", clock=clock).tick()
    lead.refresh_from_db()
    assert (report.dials, lead.status, lead.next_attempt_at) == (0, Status.CREATED, utc(2026, 11, 25, 13, 0))
    clock.now = utc(2026, 11, 25, 13, 0)
    runner("completed", clock=clock).tick()
    assert calls(lead) == [(NY, "completed", 1)]


def test_a_secondary_outside_its_states_hours_is_not_dialled(all_hours):
    lead = make_lead(all_hours, phone=NY, contacts=[MIAMI])
    clock = Clock(utc(2026, 11, 26, 1, 30))  # 20:30 in New York and Miami
    runner("no_answer", clock=clock).tick()
    assert calls(lead) == [(NY, "no_answer", 1)]


def test_the_campaign_page_says_when_its_window_is_wider_than_the_floor(client, operator, all_hours):
    narrow = make_campaign("Narrow", calling_days=[0], window_start=dt.time(9), window_end=dt.time(17))
    client.force_login(operator)
    assert 'id="floor-note"' in client.get(f"/campaigns/{all_hours.pk}/").content.decode()
    assert 'id="floor-note"' not in client.get(f"/campaigns/{narrow.pk}/").content.decode()


def test_week_windows_intersect_per_day():
    a = WeekWindow.of([0, 1], dt.time(8), dt.time(21))
    b = WeekWindow.of([1, 2], dt.time(9), dt.time(22))
    assert (a & b).hours == (None, (dt.time(9), dt.time(21)), None, None, None, None, None)
    assert a.wider_than(b) and not (a & b).wider_than(a)
