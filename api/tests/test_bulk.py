"""/api/v1/leads/bulk/: up to 10,000 leads checked by the CSV importer's code, strict or
skip_invalid, a result per item."""

from __future__ import annotations

import pytest

from api import parsers, rows
from api import serializers as s
from api.tests.helpers import api_client
from leadmgr.testing import make_lead
from leads import lifecycle, phones, services
from leads import variables as lead_variables
from leads.csv import errors
from leads.models import Lead, SecondaryContact, Status, StatusChange

pytestmark = pytest.mark.django_db
BULK = "/api/v1/leads/bulk/"


def phone(i: int) -> str:
    return f"+1415777{i:04d}"


def item(campaign, i: int, **extra) -> dict:
    return {
        "phone_number": phone(i),
        "campaign": campaign.pk,
        "variables": {"customer_name": f"n{i}"},
        **extra,
    }


@pytest.fixture
def st(staff):
    return api_client(staff)


def test_bulk_creates_every_lead_with_contacts_in_order(st, staff, campaign):
    items = [
        item(
            campaign,
            1,
            secondary_contacts=[
                {"phone_number": phone(101)},
                {"phone_number": phone(102), "variables": {"x": "y"}},
            ],
        ),
        item(campaign, 2, status="completed"),
        item(campaign, 3),
    ]
    response = st.post_json(BULK, {"items": items})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["written"], body["created"], body["rejected"]) == (True, 3, 0)
    ids = [r["id"] for r in body["results"]]
    assert [r["action"] for r in body["results"]] == ["created"] * 3
    assert list(Lead.objects.filter(pk__in=ids).order_by("id").values_list("phone", "status")) == [
        (phone(1), "created"),
        (phone(2), "completed"),
        (phone(3), "created"),
    ]
    first = Lead.objects.get(pk=ids[0])
    assert list(first.contacts.values_list("phone", "variables", "position")) == [
        (phone(101), {}, 0),
        (phone(102), {"x": "y"}, 1),
    ]
    assert first.variables == {"company": "Acme", "customer_name": "n1"}
    assert StatusChange.objects.get(lead_id=ids[1]).reason == rows.REASON_API


def test_strict_bulk_writes_nothing_and_says_why_per_item(st, campaign):
    items = [
        item(campaign, 1),
        item(campaign, 2, secondary_contacts=[{"phone_number": phone(201)}, {"phone_number": "bad"}]),
        {"phone_number": phone(3), "campaign": campaign.pk},
        item(campaign, 1),
        {"campaign": "x"},
        item(campaign, 5, status="processing"),
    ]
    response = st.post_json(BULK, {"items": items})
    assert response.status_code == 422
    body = response.json()
    assert body["written"] is False and body["rejected"] == 5
    assert Lead.objects.count() == 0
    results = body["results"]
    assert results[0] == {"index": 0, "id": None, "action": "", "errors": []}
    assert results[1]["errors"] == [
        {
            "field": "items[1].secondary_contacts[1].phone_number",
            "message": phones.E_PHONE_INVALID.format(value="bad"),
        }
    ]
    assert results[2]["errors"] == [
        {
            "field": "items[2].variables",
            "message": lead_variables.E_MISSING_REQUIRED.format(names="customer_name"),
        }
    ]
    assert results[3]["errors"] == [
        {
            "field": "items[3].phone_number",
            "message": errors.E_DUPLICATE_IN_FILE.format(phone=phone(1), line=0, campaign="Spring"),
        }
    ]
    assert results[4]["errors"] == [
        {"field": "items[4].phone_number", "message": rows.E_REQUIRED},
        {"field": "items[4].campaign", "message": rows.E_NOT_INTEGER},
    ]
    assert results[5]["errors"] == [{"field": "items[5].status", "message": lifecycle.E_STATUS_PROCESSING}]


def test_skip_invalid_writes_the_good_items(st, campaign):
    items = [item(campaign, 1), {"phone_number": "nope", "campaign": campaign.pk}, item(campaign, 3)]
    body = st.post_json(BULK, {"items": items, "skip_invalid": True}).json()
    assert body["written"] is True and (body["created"], body["rejected"]) == (2, 1)
    assert [r["action"] for r in body["results"]] == ["created", "", "created"]
    assert body["results"][1]["errors"][0]["field"] == "items[1].phone_number"
    assert set(Lead.objects.values_list("phone", flat=True)) == {phone(1), phone(3)}


def test_existing_leads_are_skipped_or_updated(st, campaign):
    lead = make_lead(campaign, phone(1), variables={"customer_name": "old", "company": "Initech"})
    body = st.post_json(BULK, {"items": [item(campaign, 1), item(campaign, 2)]}).json()
    assert [(r["id"], r["action"]) for r in body["results"]][0] == (lead.pk, "skipped")
    assert body["skipped"] == 1 and body["created"] == 1
    body = st.post_json(BULK, {"items": [item(campaign, 1)], "on_duplicate": "update"}).json()
    assert body["results"][0] == {"index": 0, "id": lead.pk, "action": "updated", "errors": []}
    assert Lead.objects.get(pk=lead.pk).variables == {"customer_name": "n1", "company": "Initech"}


def test_contacts_that_repeat_a_number_use_the_forms_sentence(st, campaign):
    items = [item(campaign, 1, secondary_contacts=[{"phone_number": phone(1)}])]
    result = st.post_json(BULK, {"items": items}).json()["results"][0]
    assert result["errors"] == [
        {
            "field": "items[0].secondary_contacts[0].phone_number",
            "message": services.E_CONTACT_IS_PRIMARY.format(phone=phone(1)),
        }
    ]


def test_the_size_limit_and_an_empty_list(st, campaign, monkeypatch):
    monkeypatch.setattr(s, "BULK_MAX", 2)
    monkeypatch.setattr(s, "E_BULK_TOO_MANY", "too many")
    response = st.post_json(BULK, {"items": [item(campaign, i) for i in range(3)]})
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "items", "message": "too many"}]
    response = st.post_json(BULK, {"items": []})
    assert response.json()["errors"] == [{"field": "items", "message": s.E_BULK_EMPTY}]


def test_bulk_is_for_staff(operator, campaign):
    assert api_client(operator).post_json(BULK, {"items": [item(campaign, 1)]}).status_code == 403
    assert not Lead.objects.exists()


def test_ten_thousand_leads_in_one_request(st, campaign):
    items = [
        item(campaign, i, secondary_contacts=[{"phone_number": f"+1415888{i:04d}"}] if i % 2 else [])
        for i in range(s.BULK_MAX)
    ]
    body = st.post_json(BULK, {"items": items}).json()
    assert body["created"] == 10_000 and body["rejected"] == 0
    assert Lead.objects.count() == 10_000 and SecondaryContact.objects.count() == 5_000
    assert Lead.objects.filter(status=Status.CREATED).count() == 10_000


def test_a_body_over_the_limit_is_413_and_bad_json_is_400(st, settings):
    settings.LEADMGR_API_MAX_BODY_MB = 1
    response = st.post(
        BULK, data='{"items": [' + '{"x": 1},' * 200_000 + "{}]}", content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json()["detail"] == parsers.E_TOO_LARGE.format(mb=1)
    response = st.post(BULK, data="[" * 100_000, content_type="application/json")
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    response = st.post(BULK, data='{"items": NaN}', content_type="application/json")
    assert response.status_code == 400
