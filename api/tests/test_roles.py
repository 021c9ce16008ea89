"""Every role × every endpoint: a token acts with its user's permissions exactly as the web UI.

Anonymous: 401. A role without the permission: 403 (nothing changes). A role with it: the
endpoint's success answer."""

from __future__ import annotations

import pytest

from api.tests.helpers import api_client
from leadmgr.testing import make_campaign, make_lead, make_user
from leads import roles
from leads.models import Lead

pytestmark = pytest.mark.django_db

OPERATOR, STAFF, ADMIN, OUTSIDER, ANONYMOUS = "operator", "staff", "admin", "outsider", "anonymous"
ROLES = [ANONYMOUS, OUTSIDER, OPERATOR, STAFF, ADMIN]
WORKERS = {OPERATOR, STAFF, ADMIN}
STAFF_UP = {STAFF, ADMIN}


def _lead_body(c):
    return {"phone_number": "+14155550111", "campaign": c.pk, "variables": {"customer_name": "A"}}


# (name, method, url(campaign, lead), body(campaign), roles allowed, success status)
ENDPOINTS = [
    ("list", "get", lambda c, lead: "/api/v1/leads/", None, WORKERS, 200),
    ("create", "post", lambda c, lead: "/api/v1/leads/", _lead_body, WORKERS, 201),
    ("retrieve", "get", lambda c, lead: f"/api/v1/leads/{lead.pk}/", None, WORKERS, 200),
    (
        "update",
        "patch",
        lambda c, lead: f"/api/v1/leads/{lead.pk}/",
        lambda c: {"variables": {"x": "1"}},
        WORKERS,
        200,
    ),
    ("delete", "delete", lambda c, lead: f"/api/v1/leads/{lead.pk}/", None, STAFF_UP, 204),
    (
        "status",
        "post",
        lambda c, lead: f"/api/v1/leads/{lead.pk}/status/",
        lambda c: {"status": "completed"},
        WORKERS,
        200,
    ),
    (
        "bulk",
        "post",
        lambda c, lead: "/api/v1/leads/bulk/",
        lambda c: {"items": [_lead_body(c)]},
        STAFF_UP,
        200,
    ),
    ("export", "get", lambda c, lead: "/api/v1/leads/export/", None, STAFF_UP, 200),
    ("campaigns", "get", lambda c, lead: "/api/v1/campaigns/", None, WORKERS, 200),
    ("campaign", "get", lambda c, lead: f"/api/v1/campaigns/{c.pk}/", None, WORKERS, 200),
    ("start", "post", lambda c, lead: f"/api/v1/campaigns/{c.pk}/start/", lambda c: {}, WORKERS, 200),
    ("pause", "post", lambda c, lead: f"/api/v1/campaigns/{c.pk}/pause/", lambda c: {}, WORKERS, 200),
    ("resume", "post", lambda c, lead: f"/api/v1/campaigns/{c.pk}/resume/", lambda c: {}, WORKERS, 200),
    (
        "autocalls create",
        "post",
        lambda c, lead: "/api/user/lead",
        lambda c: {
            "phone_number": "+14155550111",
            "campaign_id": c.pk,
            "variables": [{"customer_name": "A"}],
        },
        WORKERS,
        201,
    ),
    ("autocalls list", "get", lambda c, lead: "/api/user/leads", None, WORKERS, 200),
]
STATES = {"start": "draft", "pause": "running", "resume": "paused"}


def client_for(role: str):
    if role == ANONYMOUS:
        return api_client()
    if role == ADMIN:
        return api_client(make_user("ada", superuser=True))
    group = {OPERATOR: roles.OPERATORS, STAFF: roles.STAFF, OUTSIDER: None}[role]
    return api_client(make_user(role, group=group))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("name", "method", "url", "body", "allowed", "success"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS]
)
def test_role_endpoint_matrix(role, name, method, url, body, allowed, success):
    campaign = make_campaign(state=STATES.get(name, "draft"))
    lead = make_lead(campaign)
    client = client_for(role)
    kwargs = {"data": body(campaign), "content_type": "application/json"} if body else {}
    response = getattr(client, method)(url(campaign, lead), **kwargs)
    if role == ANONYMOUS:
        expected = 401
    elif role in allowed:
        expected = success
    else:
        expected = 403
    assert response.status_code == expected, response.content
    if expected in (401, 403):
        assert response["Content-Type"] == "application/problem+json"
        assert Lead.objects.count() == 1 and Lead.objects.get().variables == lead.variables
