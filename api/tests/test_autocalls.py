"""The Autocalls-compatible endpoints, with the requests of that API's reference as they are."""

from __future__ import annotations

import copy

import pytest

from api import autocalls
from api.tests.helpers import api_client
from leadmgr.testing import make_assistant, make_campaign, make_lead
from leads import phones
from leads.models import Lead, Status

pytestmark = pytest.mark.django_db

CREATE = "/api/user/lead"
LIST = "/api/user/leads"

# The reference's examples (docs.autocalls.ai, api-reference/leads/create), byte for byte apart
# from campaign_id and the phone numbers: +1234567890 is not a number phonenumbers accepts, and the
# campaign's id is this database's (see test_the_docs_phone_number_is_refused_by_name).
EXAMPLE_FULL = {
    "phone_number": "+1234567890",
    "campaign_id": 1,
    "variables": {"customer_name": "John Doe", "email": "john.doe@example.com"},
    "allow_dupplicate": True,
    "secondary_contacts": [
        {
            "phone_number": "+1234567891",
            "variables": {"customer_name": "Jane Doe Secondary", "email": "jane.doe.secondary@example.com"},
        }
    ],
}
EXAMPLE_ARRAY_VARIABLES = {
    "phone_number": "+1234567890",
    "campaign_id": 1,
    "variables": [{"customer_name": "John Doe", "email": "john.doe@example.com"}],
    "allow_dupplicate": False,
}
EXAMPLE_NO_CONTACTS = {
    "phone_number": "+1234567890",
    "campaign_id": 123,
    "variables": {"customer_name": "John Doe", "email": "test@example.com"},
    "allow_dupplicate": True,
}
P1, P2 = "+14155550101", "+14155550102"


def sendable(example: dict, campaign) -> dict:
    body = copy.deepcopy(example)
    body["campaign_id"] = campaign.pk
    body["phone_number"] = P1
    for contact in body.get("secondary_contacts", []):
        contact["phone_number"] = P2
    return body


@pytest.fixture
def campaign(db):
    assistant = make_assistant("Caller", variables=[("customer_name", "", True), ("email", "", False)])
    return make_campaign("My new campaign", assistant=assistant)


@pytest.fixture
def op(operator):
    return api_client(operator)


@pytest.mark.parametrize("example", [EXAMPLE_FULL, EXAMPLE_ARRAY_VARIABLES, EXAMPLE_NO_CONTACTS])
def test_the_references_create_examples_succeed(op, campaign, example):
    response = op.post_json(CREATE, sendable(example, campaign))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["message"] == "Lead created successfully"
    data = body["data"]
    lead = Lead.objects.get(pk=data["id"])
    assert lead.variables == {"customer_name": "John Doe", "email": lead.variables["email"]}
    assert set(data) == {
        "id",
        "campaign_id",
        "phone_number",
        "variables",
        "status",
        "created_at",
        "updated_at",
        "campaign",
        "secondary_contacts",
    }
    assert data["campaign"] == {"id": campaign.pk, "name": "My new campaign"}
    assert data["status"] == "created" and data["phone_number"] == P1
    assert data["created_at"] == lead.created_at.strftime("%Y-%m-%d %H:%M:%S")
    if example is EXAMPLE_FULL:
        (contact,) = data["secondary_contacts"]
        assert contact["phone_number"] == P2
        assert contact["variables"] == {
            "customer_name": "Jane Doe Secondary",
            "email": "jane.doe.secondary@example.com",
        }
        assert set(contact) == {"id", "phone_number", "variables", "status", "created_at", "updated_at"}


def test_the_docs_phone_number_is_refused_by_name(op, campaign):
    body = copy.deepcopy(EXAMPLE_ARRAY_VARIABLES) | {"campaign_id": campaign.pk}
    response = op.post_json(CREATE, body)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "phone_number", "message": phones.E_PHONE_INVALID.format(value="+1234567890")}
    ]


def test_allow_dupplicate_answers_the_existing_lead(op, campaign):
    lead = make_lead(campaign, P1)
    response = op.post_json(CREATE, sendable(EXAMPLE_NO_CONTACTS, campaign))
    assert response.status_code == 200
    assert response.json()["data"]["id"] == lead.pk
    assert Lead.objects.count() == 1


def test_without_allow_dupplicate_a_duplicate_is_409(op, campaign):
    lead = make_lead(campaign, P1)
    response = op.post_json(CREATE, sendable(EXAMPLE_ARRAY_VARIABLES, campaign))
    assert response.status_code == 409
    assert response.json()["existing_id"] == lead.pk


def test_variables_as_a_list_of_two_is_refused(op, campaign):
    body = sendable(EXAMPLE_ARRAY_VARIABLES, campaign) | {"variables": [{}, {}]}
    response = op.post_json(CREATE, body)
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "variables", "message": autocalls.E_VARIABLES_SHAPE}]


def test_the_list_answers_the_page_shape(op, campaign):
    leads = [make_lead(campaign, variables={"customer_name": f"n{i}"}) for i in range(4)]
    Lead.objects.filter(pk=leads[0].pk).update(status=Status.MAX_RETRIES)
    page = op.get(LIST, {"per_page": 2, "campaign_id": campaign.pk}).json()
    assert set(page) == {
        "current_page",
        "data",
        "first_page_url",
        "from",
        "last_page",
        "last_page_url",
        "links",
        "next_page_url",
        "path",
        "per_page",
        "prev_page_url",
        "to",
        "total",
    }
    assert [d["id"] for d in page["data"]] == [leads[3].pk, leads[2].pk]
    assert (page["current_page"], page["from"], page["to"], page["total"], page["last_page"]) == (
        1,
        1,
        2,
        4,
        2,
    )
    assert page["per_page"] == 2 and page["prev_page_url"] is None
    assert page["next_page_url"].endswith("page=2") and "per_page=2" in page["next_page_url"]
    second = op.get(page["next_page_url"]).json()
    assert [d["id"] for d in second["data"]] == [leads[1].pk, leads[0].pk]
    assert second["data"][1]["status"] == "reached-max-retries" and second["next_page_url"] is None


def test_the_list_maps_statuses_and_filters_phone(op, campaign):
    lead = make_lead(campaign, P1)
    make_lead(campaign, P2)
    Lead.objects.filter(pk=lead.pk).update(status=Status.MAX_RETRIES)
    page = op.get(LIST, {"status": "reached-max-retries"}).json()
    assert [d["id"] for d in page["data"]] == [lead.pk]
    assert op.get(LIST, {"status": "blacklisted"}).json()["data"] == []
    assert [d["phone_number"] for d in op.get(LIST, {"phone_number": "550102"}).json()["data"]] == [P2]
    assert op.get(LIST, {"status": "max_retries"}).status_code == 400


def test_total_is_capped(op, campaign, monkeypatch):
    monkeypatch.setattr(autocalls, "TOTAL_CAP", 3)
    for _ in range(5):
        make_lead(campaign)
    page = op.get(LIST, {"per_page": 1}).json()
    assert page["total"] == 3 and page["last_page"] == 3
    assert page["next_page_url"] is not None
    deep = op.get(LIST, {"per_page": 1, "page": 5}).json()
    assert deep["total"] == 5 and len(deep["data"]) == 1 and deep["next_page_url"] is None


@pytest.mark.parametrize(
    "params", [{"per_page": 101}, {"page": 0}, {"date_from": "x"}, {"campaign_id": "-1"}]
)
def test_bad_list_parameters_are_400(op, params):
    assert op.get(LIST, params).status_code == 400


def test_the_list_needs_a_token(db):
    assert api_client().get(LIST).status_code == 401


def test_the_list_costs_six_queries(op, campaign, django_assert_num_queries):
    for _ in range(3):
        make_lead(campaign, contacts=["+14155550199"])
    op.get(LIST)  # the token's last use is written on the first request only
    # token + user, the user's permissions (own, groups'), the page with its campaigns, its
    # contacts, the capped count.
    with django_assert_num_queries(6):
        page = op.get(LIST).json()
    assert len(page["data"]) == 3
