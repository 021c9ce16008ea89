"""Each user's time zone: the profile page, the session that carries it, every time shown with its
zone, and the typed Scheduled time read in it (a time in the past refused)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from accounts import zones
from accounts.models import Profile
from leadmgr.testing import PERSONAS, make_lead
from leads.models import Lead, Status

PAGE = "/accounts/time-zone/"
CREATED = dt.datetime(2030, 1, 15, 12, 0, tzinfo=dt.UTC)  # winter: Berlin is UTC+1 (CET)


@pytest.fixture
def signed_in(client, operator):
    client.force_login(operator)
    return client


def lead_at_noon_utc(campaign) -> Lead:
    lead = make_lead(campaign)
    Lead.objects.filter(pk=lead.pk).update(created_at=CREATED)
    return lead


def test_a_user_without_a_profile_sees_the_site_zone_in_the_header_and_on_the_lead(
    signed_in, campaign, settings
):
    assert settings.TIME_ZONE == "UTC"
    lead = lead_at_noon_utc(campaign)
    page = signed_in.get(f"/leads/{lead.pk}/").content.decode()
    assert 'id="time-zone-link"' in page and ">UTC</a>" in page
    assert "2030-01-15 12:00 UTC" in page


def test_choosing_a_zone_shows_every_time_in_it_with_its_name(signed_in, operator, campaign):
    lead = lead_at_noon_utc(campaign)
    response = signed_in.post(PAGE, {"time_zone": "Europe/Berlin"}, follow=True)
    assert "Your time zone is now Europe/Berlin" in response.content.decode()
    assert Profile.objects.get(user=operator).time_zone == "Europe/Berlin"
    page = signed_in.get(f"/leads/{lead.pk}/").content.decode()
    assert "2030-01-15 13:00 CET" in page and ">Europe/Berlin</a>" in page
    table = signed_in.get(f"/leads/?campaign={campaign.pk}").content.decode()
    assert "2030-01-15 13:00" in table and "Times in Europe/Berlin" in table


def test_the_zone_follows_the_user_to_a_new_sign_in(operator, campaign):
    Profile.objects.create(user=operator, time_zone="America/New_York")
    lead = lead_at_noon_utc(campaign)
    client = Client()
    client.force_login(operator)
    assert client.session[zones.SESSION_KEY] == "America/New_York"
    assert "2030-01-15 07:00 EST" in client.get(f"/leads/{lead.pk}/").content.decode()


def test_a_session_from_before_zones_were_kept_reads_the_profile_once(signed_in, operator, campaign):
    Profile.objects.create(user=operator, time_zone="Asia/Tokyo")
    session = signed_in.session
    del session[zones.SESSION_KEY]
    session.save()
    lead = lead_at_noon_utc(campaign)
    assert "2030-01-15 21:00 JST" in signed_in.get(f"/leads/{lead.pk}/").content.decode()
    assert signed_in.session[zones.SESSION_KEY] == "Asia/Tokyo"


def test_an_unknown_zone_is_refused(signed_in, operator):
    response = signed_in.post(PAGE, {"time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Profile.objects.exists()


def test_the_scheduled_input_is_labelled_with_and_read_in_the_users_zone(signed_in, campaign):
    signed_in.post(PAGE, {"time_zone": "Europe/Berlin"})
    lead = make_lead(campaign)
    form = signed_in.get(f"/leads/{lead.pk}/edit/").content.decode()
    assert "Scheduled at (Europe/Berlin)" in form
    assert "Scheduled at (Europe/Berlin)" in signed_in.get(f"/leads/{lead.pk}/").content.decode()
    response = signed_in.post(
        f"/leads/{lead.pk}/status/", {"target": "scheduled", "scheduled_at": "2030-07-01T10:00"}
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    # Berlin in summer is UTC+2.
    assert (lead.status, lead.next_attempt_at) == (
        Status.SCHEDULED,
        dt.datetime(2030, 7, 1, 8, 0, tzinfo=dt.UTC),
    )


def test_a_scheduled_time_in_the_past_is_refused_with_a_message(signed_in, campaign):
    lead = make_lead(campaign)
    past = "2020-03-01T09:00"
    quick = signed_in.post(
        f"/leads/{lead.pk}/status/", {"target": "scheduled", "scheduled_at": past}, follow=True
    )
    expected = zones.E_SCHEDULED_PAST.format(at="2020-03-01 09:00", zone="UTC")
    assert expected in quick.content.decode()
    bulk = signed_in.post(f"/leads/status/?pk={lead.pk}", {"target": "scheduled", "scheduled_at": past})
    assert bulk.status_code == 200 and expected in bulk.content.decode()
    lead.refresh_from_db()
    assert (lead.status, lead.next_attempt_at) == (Status.CREATED, None)


def test_the_lead_form_refuses_a_past_scheduled_time(signed_in, campaign):
    lead = make_lead(campaign)
    data = {
        "phone": lead.phone,
        "campaign": campaign.pk,
        "status": "scheduled",
        "scheduled_at": "2020-03-01T09:00",
        "reason": "",
        "vars-TOTAL_FORMS": "1",
        "vars-INITIAL_FORMS": "0",
        "vars-0-name": "customer_name",
        "vars-0-value": "Sarah Johnson",
        "contacts-TOTAL_FORMS": "0",
        "contacts-INITIAL_FORMS": "0",
    }
    response = signed_in.post(f"/leads/{lead.pk}/edit/", data)
    assert response.status_code == 200
    assert response.context["form"].errors["scheduled_at"] == [
        zones.E_SCHEDULED_PAST.format(at="2020-03-01 09:00", zone="UTC")
    ]
    lead.refresh_from_db()
    assert lead.status == Status.CREATED


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_signed_in_user_may_set_their_own_zone(as_persona, persona):
    client = as_persona(persona)
    response = client.get(PAGE)
    if persona == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
        assert client.post(PAGE, {"time_zone": "Europe/Berlin"}).status_code == 302
        assert not Profile.objects.exists()
        return
    assert response.status_code == 200
    assert client.post(PAGE, {"time_zone": "Europe/Berlin"}).status_code == 302
    user = as_persona.users[persona]
    assert Profile.objects.get(user=user).time_zone == "Europe/Berlin"
