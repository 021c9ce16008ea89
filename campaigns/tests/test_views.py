"""Campaign pages: leads per status, policy and window, links into the filtered leads table."""

from __future__ import annotations

import datetime as dt

from leadmgr.testing import make_campaign, make_lead
from leads.models import Status


def test_the_list_counts_leads_per_status_for_every_campaign(
    client, operator, campaign, django_assert_num_queries
):
    other = make_campaign("Autumn")
    for status in [Status.CREATED, Status.CREATED, Status.COMPLETED]:
        make_lead(campaign, status=status)
    make_lead(other, status=Status.MAX_RETRIES)
    client.force_login(operator)
    # session, user, permissions (user's, groups'), campaigns with assistants, counts grouped by campaign,
    # runner liveness (live workers, the last pass)
    with django_assert_num_queries(8):
        response = client.get("/campaigns/")
    charts = {c.name: chart for c, chart in response.context["rows"]}
    assert {b["status"]: b["n"] for b in charts["Spring"]["bars"]} == {
        "created": 2,
        "scheduled": 0,
        "processing": 0,
        "rescheduled": 0,
        "completed": 1,
        "max_retries": 0,
    }
    assert charts["Spring"]["total"] == 3 and charts["Autumn"]["total"] == 1
    page = response.content.decode()
    assert f"/leads/?campaign={campaign.pk}&amp;status=completed" in page
    assert f"/campaigns/{campaign.pk}/" in page


def test_the_detail_shows_counts_policy_window_and_links(client, operator, django_assert_num_queries):
    campaign = make_campaign(
        "Spring",
        max_retries=2,
        retry_interval=dt.timedelta(minutes=30),
        calling_days=[0, 2],
        window_start=dt.time(10),
    )
    make_lead(campaign, status=Status.RESCHEDULED)
    client.force_login(operator)
    # session, user, permissions (user's, groups'), campaign with assistant, its variables and the
    # legal hours floor (compliance's note when the campaign's window is wider) in one read, status
    # counts, the latest state changes with who made them, the results over time
    with django_assert_num_queries(8):
        response = client.get(f"/campaigns/{campaign.pk}/")
    page = response.content.decode()
    assert "2 (at most 3 attempts)" in page and "0:30:00" in page
    assert "Mon, Wed" in page and "10:00–17:00" in page
    assert f'<a href="/leads/?campaign={campaign.pk}&amp;status=rescheduled" data-count>1</a>' in page
    assert f'href="/leads/?campaign={campaign.pk}"' in page
    assert response.context["chart"]["total"] == 1


def test_the_detail_loads_the_start_preview(client, operator, campaign):
    client.force_login(operator)
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert f'hx-get="/campaigns/{campaign.pk}/start-preview/" hx-trigger="load"' in page
    preview = client.get(f"/campaigns/{campaign.pk}/start-preview/").content.decode()
    assert "If started now: <strong>0</strong> of <strong>0</strong>" in preview


def test_an_unknown_campaign_is_not_found(client, operator, db):
    client.force_login(operator)
    assert client.get("/campaigns/999/").status_code == 404
