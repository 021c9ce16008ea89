"""/api/v1/campaigns/: list and retrieve with status counts; Start, Pause, Resume through the
campaign controls service, with its permissions and refusals."""

from __future__ import annotations

import pytest

from api.tests.helpers import api_client
from campaigns import controls
from campaigns.models import Campaign, CampaignStateChange
from leadmgr.testing import make_campaign, make_lead
from leads.models import Status

pytestmark = pytest.mark.django_db
State = Campaign.State


def test_list_has_every_campaign_with_its_status_counts(operator, campaign, django_assert_num_queries):
    make_lead(campaign)
    make_lead(campaign, status=Status.COMPLETED)
    other = make_campaign("Autumn")
    client = api_client(operator)
    client.get("/api/v1/campaigns/")
    # token + user, the user's permissions (own, groups'), the campaigns, the grouped counts.
    with django_assert_num_queries(5):
        data = client.get("/api/v1/campaigns/").json()
    assert [c["name"] for c in data] == ["Autumn", "Spring"]
    assert data[1]["status_counts"] == {
        "created": 1,
        "scheduled": 0,
        "processing": 0,
        "rescheduled": 0,
        "completed": 1,
        "max_retries": 0,
    }
    assert data[0]["status_counts"]["created"] == 0 and data[0]["id"] == other.pk
    assert data[1]["state"] == "draft" and data[1]["assistant"] == campaign.assistant_id


def test_retrieve_has_its_counts(operator, campaign):
    make_lead(campaign)
    data = api_client(operator).get(f"/api/v1/campaigns/{campaign.pk}/").json()
    assert data["name"] == "Spring" and data["status_counts"]["created"] == 1
    assert api_client(operator).get("/api/v1/campaigns/999999/").status_code == 404


def test_start_pause_resume_go_through_the_controls_and_are_recorded(operator, campaign):
    client = api_client(operator)
    response = client.post_json(f"/api/v1/campaigns/{campaign.pk}/start/", {"reason": "Monday list"})
    assert response.status_code == 200 and response.json()["state"] == "running"
    assert client.post_json(f"/api/v1/campaigns/{campaign.pk}/pause/").json()["state"] == "paused"
    assert client.post_json(f"/api/v1/campaigns/{campaign.pk}/resume/").json()["state"] == "running"
    changes = list(
        CampaignStateChange.objects.order_by("id").values_list(
            "from_state", "to_state", "changed_by", "reason"
        )
    )
    assert changes == [
        ("draft", "running", operator.pk, "Monday list"),
        ("running", "paused", operator.pk, ""),
        ("paused", "running", operator.pk, ""),
    ]


def test_a_refused_control_is_409_with_the_services_reason(operator, campaign):
    response = api_client(operator).post_json(f"/api/v1/campaigns/{campaign.pk}/pause/")
    assert response.status_code == 409
    assert response.json()["type"] == "urn:leadmgr:problem:control-refused"
    assert response.json()["detail"] == controls.refusal(campaign, controls.Action.PAUSE)
    assert Campaign.objects.get(pk=campaign.pk).state == State.DRAFT


def test_controls_need_the_control_permission(outsider, campaign):
    response = api_client(outsider).post_json(f"/api/v1/campaigns/{campaign.pk}/start/")
    assert response.status_code == 403
    assert Campaign.objects.get(pk=campaign.pk).state == State.DRAFT


def test_a_reason_that_is_not_text_is_400(operator, campaign):
    response = api_client(operator).post_json(f"/api/v1/campaigns/{campaign.pk}/start/", {"reason": 5})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "reason", "message": "Must be text of at most 500 characters."}
    ]
