"""Steering from the campaign pages: the buttons each role sees, the confirmation in numbers, the
POST-only changes, the state history, and Pause all. The role matrix of every new URL."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from campaigns.models import Campaign, CampaignStateChange
from leadmgr.testing import ALL_DAY, PERSONAS, make_campaign, make_lead, make_user
from leads.models import Status

State = Campaign.State


# Personas: leadmgr.testing (PERSONAS, as_persona).


# (url, state the campaign starts in, state after a POST that is allowed) → status for outsider,
# operator, staff, admin. 404: an outsider may not know the campaign exists.
CONTROLS = [
    ("/campaigns/{pk}/start/", State.DRAFT, State.RUNNING, (404, 302, 302, 302)),
    ("/campaigns/{pk}/pause/", State.RUNNING, State.PAUSED, (404, 302, 302, 302)),
    ("/campaigns/{pk}/resume/", State.PAUSED, State.RUNNING, (404, 302, 302, 302)),
    ("/campaigns/{pk}/finish/", State.RUNNING, State.FINISHED, (404, 403, 302, 302)),
]
CONFIRMS = [
    ("/campaigns/{pk}/start/confirm/", State.DRAFT, (404, 200, 200, 200)),
    ("/campaigns/{pk}/pause/confirm/", State.RUNNING, (404, 200, 200, 200)),
    ("/campaigns/{pk}/resume/confirm/", State.PAUSED, (404, 200, 200, 200)),
    ("/campaigns/{pk}/finish/confirm/", State.RUNNING, (404, 403, 200, 200)),
    ("/campaigns/pause-all/confirm/", State.RUNNING, (403, 403, 200, 200)),
    # The test-call panel of a campaign page (campaigns/testcall_views.py): Staff and admins.
    ("/campaigns/{pk}/test-call/", State.RUNNING, (404, 403, 200, 200)),
]


def _expect_anonymous(response) -> None:
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("url", "source", "target", "expected"), CONTROLS)
def test_role_matrix_of_the_controls(as_persona, persona, url, source, target, expected):
    campaign = make_campaign(state=source)
    response = as_persona(persona).post(url.format(pk=campaign.pk), {"reason": "matrix"})
    campaign.refresh_from_db()
    if persona == "anonymous":
        _expect_anonymous(response)
    else:
        assert response.status_code == expected[PERSONAS.index(persona) - 1]
    assert campaign.state == (target if response.status_code == 302 and persona != "anonymous" else source)
    assert CampaignStateChange.objects.count() == (1 if campaign.state == target else 0)


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("url", "source", "expected"), CONFIRMS)
def test_role_matrix_of_the_confirmations(as_persona, persona, url, source, expected):
    campaign = make_campaign(state=source)
    response = as_persona(persona).get(url.format(pk=campaign.pk))
    if persona == "anonymous":
        _expect_anonymous(response)
    else:
        assert response.status_code == expected[PERSONAS.index(persona) - 1]
    campaign.refresh_from_db()
    assert campaign.state == source  # a confirmation page changes nothing


@pytest.mark.parametrize("persona", PERSONAS)
def test_role_matrix_of_pause_all(as_persona, persona):
    campaign = make_campaign(state=State.RUNNING)
    response = as_persona(persona).post("/campaigns/pause-all/", {"reason": "outage"})
    campaign.refresh_from_db()
    if persona == "anonymous":
        _expect_anonymous(response)
    else:
        expected = {"outsider": 403, "operator": 403, "staff": 302, "admin": 302}[persona]
        assert response.status_code == expected
    assert campaign.state == (State.PAUSED if persona in ("staff", "admin") else State.RUNNING)


@pytest.mark.parametrize("url", ["/campaigns/{pk}/start/", "/campaigns/pause-all/"])
def test_the_controls_are_post_only(client, staff, url):
    campaign = make_campaign(state=State.DRAFT)
    client.force_login(staff)
    assert client.get(url.format(pk=campaign.pk)).status_code == 405
    campaign.refresh_from_db()
    assert campaign.state == State.DRAFT


@pytest.mark.parametrize(
    ("persona", "state", "buttons"),
    [
        ("operator", State.DRAFT, ["start"]),
        ("operator", State.RUNNING, ["pause"]),
        ("operator", State.PAUSED, ["resume"]),
        ("operator", State.FINISHED, []),
        ("staff", State.DRAFT, ["start", "finish"]),
        ("staff", State.RUNNING, ["pause", "finish"]),
        ("admin", State.PAUSED, ["resume", "finish"]),
        ("admin", State.FINISHED, []),
    ],
)
def test_the_page_shows_the_buttons_the_state_and_role_allow(as_persona, persona, state, buttons):
    campaign = make_campaign(state=state)
    page = as_persona(persona).get(f"/campaigns/{campaign.pk}/").content.decode()
    shown = [a for a in ("start", "pause", "resume", "finish") if f'data-control="{a}"' in page]
    assert shown == buttons
    for action in buttons:
        assert f'href="/campaigns/{campaign.pk}/{action}/confirm/"' in page


def test_pause_all_is_shown_to_staff_when_a_campaign_runs(as_persona):
    make_campaign("Draft only", state=State.DRAFT)
    assert 'id="pause-all"' not in as_persona("staff").get("/campaigns/").content.decode()
    make_campaign("Live", state=State.RUNNING)
    assert 'href="/campaigns/pause-all/confirm/"' in as_persona("staff").get("/campaigns/").content.decode()
    assert 'id="pause-all"' not in as_persona("operator").get("/campaigns/").content.decode()


def test_the_start_confirmation_says_how_many_are_called_now_and_how_many_wait(client, operator, any_hour):
    campaign = make_campaign(state=State.DRAFT, concurrency_limit=5, **ALL_DAY)
    for _ in range(3):
        make_lead(campaign)
    client.force_login(operator)
    page = client.get(f"/campaigns/{campaign.pk}/start/confirm/").content.decode()
    assert "Starting calls 3 due leads now, 5 at a time; 0 wait for their calling window." in page
    assert f'action="/campaigns/{campaign.pk}/start/"' in page
    assert "Yes, start Spring" in page


def test_the_start_confirmation_counts_leads_outside_their_window(client, operator):
    # The numbers are +1 415 (Los Angeles): a half-hour window two hours from now there is closed.
    hour = (dt.datetime.now(ZoneInfo("America/Los_Angeles")).hour + 2) % 24
    campaign = make_campaign(
        state=State.PAUSED,
        calling_days=[0, 1, 2, 3, 4, 5, 6],
        window_start=dt.time(hour, 0),
        window_end=dt.time(hour, 30),
    )
    for _ in range(4):
        make_lead(campaign)
    client.force_login(operator)
    page = client.get(f"/campaigns/{campaign.pk}/resume/confirm/").content.decode()
    assert "Resuming calls 0 due leads now, 5 at a time; 4 wait for their calling window." in page


def test_the_pause_confirmation_counts_calls_under_way_and_due_leads(client, operator):
    campaign = make_campaign(state=State.RUNNING)
    make_lead(campaign, status=Status.PROCESSING, attempts=1)
    make_lead(campaign)
    make_lead(campaign)
    client.force_login(operator)
    page = client.get(f"/campaigns/{campaign.pk}/pause/confirm/").content.decode()
    assert (
        "Pausing stops new calls at once: 1 call under way end without dialling a further number; "
        "2 due leads wait until the campaign resumes."
    ) in page


def test_the_finish_confirmation_says_how_many_leads_will_never_be_called(client, staff):
    campaign = make_campaign(state=State.PAUSED)
    for status in [
        Status.CREATED,
        Status.RESCHEDULED,
        Status.PROCESSING,
        Status.COMPLETED,
        Status.MAX_RETRIES,
    ]:
        make_lead(campaign, status=status, attempts=1)
    client.force_login(staff)
    page = client.get(f"/campaigns/{campaign.pk}/finish/confirm/").content.decode()
    assert "Finish: 3 leads will never be called again." in page


def test_a_confirmation_for_a_state_that_does_not_allow_it_says_why(client, staff):
    campaign = make_campaign(name="Spring demo", state=State.FINISHED)
    client.force_login(staff)
    page = client.get(f"/campaigns/{campaign.pk}/pause/confirm/").content.decode()
    assert "Spring demo is finished: only a running campaign can be paused." in page
    assert "Yes, pause" not in page


def test_a_control_records_who_and_why_and_the_page_shows_the_history(client, staff):
    campaign = make_campaign(state=State.DRAFT)
    client.force_login(staff)
    response = client.post(f"/campaigns/{campaign.pk}/start/", {"reason": "  launch day "}, follow=True)
    assert response.redirect_chain == [(f"/campaigns/{campaign.pk}/", 302)]
    page = response.content.decode()
    assert "Spring was started." in page
    change = CampaignStateChange.objects.get()
    assert (change.campaign, change.from_state, change.to_state, change.changed_by, change.reason) == (
        campaign,
        State.DRAFT,
        State.RUNNING,
        staff,
        "launch day",
    )
    assert "<td>sam</td><td>Draft</td><td>Running</td><td>launch day</td>" in page
    assert change.changed_at.strftime("%Y-%m-%d %H:%M") in page


def test_a_control_the_state_no_longer_allows_is_refused_with_a_message(client, operator):
    campaign = make_campaign(name="Spring demo", state=State.PAUSED)
    client.force_login(operator)
    response = client.post(f"/campaigns/{campaign.pk}/pause/", follow=True)
    assert "Spring demo is paused: only a running campaign can be paused." in response.content.decode()
    assert not CampaignStateChange.objects.exists()


def test_a_hostile_reason_is_escaped_and_cut_to_the_column(client, staff):
    campaign = make_campaign(state=State.RUNNING)
    client.force_login(staff)
    page = client.post(
        f"/campaigns/{campaign.pk}/pause/", {"reason": "<script>x</script>" + "y" * 900}, follow=True
    ).content.decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x</script>" not in page
    assert len(CampaignStateChange.objects.get().reason) == 500


def test_pause_all_pauses_the_running_campaigns_and_says_which(client, staff):
    a = make_campaign("Alpha", state=State.RUNNING)
    b = make_campaign("Beta", state=State.RUNNING)
    make_lead(b, status=Status.PROCESSING, attempts=1)
    draft = make_campaign("Gamma", state=State.DRAFT)
    client.force_login(staff)
    confirm = client.get("/campaigns/pause-all/confirm/").content.decode()
    assert (
        "Pause all: 2 running campaigns pause at once (Alpha, Beta); 1 call under way end without "
        "dialling a further number."
    ) in confirm
    page = client.post("/campaigns/pause-all/", {"reason": "provider outage"}, follow=True).content.decode()
    assert "Paused 2 running campaign(s): Alpha, Beta." in page
    states = dict(Campaign.objects.values_list("name", "state"))
    assert states == {"Alpha": State.PAUSED, "Beta": State.PAUSED, "Gamma": State.DRAFT}
    assert set(CampaignStateChange.objects.values_list("campaign", "reason")) == {
        (a.pk, "provider outage"),
        (b.pk, "provider outage"),
    }
    assert draft.pk
    again = client.post("/campaigns/pause-all/", follow=True).content.decode()
    assert "No campaign was running: nothing was paused." in again


def test_the_detail_page_query_budget_with_history(client, operator, django_assert_num_queries):
    campaign = make_campaign(state=State.DRAFT)
    client.force_login(make_user("ada", superuser=True))
    client.post(reverse("campaigns:start", args=[campaign.pk]), {"reason": "go"})
    client.force_login(operator)
    # session, user, permissions (user's, groups'), campaign with assistant, its variables and the
    # legal hours floor (compliance) in one read, status counts, state history with who, the results
    # over time
    with django_assert_num_queries(8):
        response = client.get(f"/campaigns/{campaign.pk}/")
    assert len(response.context["state_changes"]) == 1
