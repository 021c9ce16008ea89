"""/api/v1/leads/: list, retrieve, create, update, delete and the status change."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from api import idempotency, rows
from api.tests.helpers import api_client
from leadmgr.testing import make_assistant, make_campaign, make_lead
from leads import lifecycle, phones, services
from leads import variables as lead_variables
from leads.models import CallAttempt, Lead, SecondaryContact, Status, StatusChange

pytestmark = pytest.mark.django_db

LEADS = "/api/v1/leads/"
P1, P2, P3 = "+14155550101", "+14155550102", "+14155550103"


def detail(pk: int) -> str:
    return f"/api/v1/leads/{pk}/"


@pytest.fixture
def op(operator):
    return api_client(operator)


@pytest.fixture
def st(staff):
    return api_client(staff)


# --- Create ---------------------------------------------------------------------------------------


def test_create_writes_the_lead_with_defaults_and_contacts_in_order(op, operator, campaign):
    body = {
        "phone_number": "+1 (415) 555-0101",
        "campaign": campaign.pk,
        "variables": {"customer_name": "Sarah Johnson", "visits": 3},
        "secondary_contacts": [
            {"phone_number": P2, "variables": {"customer_name": "Office"}},
            {"phone_number": P3},
        ],
    }
    response = op.post_json(LEADS, body)
    assert response.status_code == 201, response.json()
    data = response.json()
    lead = Lead.objects.get(pk=data["id"])
    assert lead.phone == P1 and lead.status == Status.CREATED
    # Pre-filled from the assistant as the lead form does (company defaults to Acme).
    assert lead.variables == {"company": "Acme", "customer_name": "Sarah Johnson", "visits": "3"}
    assert [(c.phone, c.variables, c.position) for c in lead.contacts.order_by("position")] == [
        (P2, {"customer_name": "Office"}, 0),
        (P3, {}, 1),
    ]
    assert data["phone_number"] == P1 and data["campaign"] == campaign.pk
    assert [c["phone_number"] for c in data["secondary_contacts"]] == [P2, P3]


def test_create_takes_a_status_as_the_import_does_with_history(op, operator, campaign):
    response = op.post_json(
        LEADS,
        {
            "phone_number": P1,
            "campaign": campaign.pk,
            "status": "rescheduled",
            "variables": {"customer_name": "A"},
        },
    )
    assert response.status_code == 201
    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.status == Status.RESCHEDULED and lead.next_attempt_at is not None
    assert list(
        StatusChange.objects.filter(lead=lead).values_list("from_status", "to_status", "user", "reason")
    ) == [("", "rescheduled", operator.pk, rows.REASON_API)]


def test_create_refuses_processing_with_the_imports_sentence(op, campaign):
    response = op.post_json(
        LEADS,
        {
            "phone_number": P1,
            "campaign": campaign.pk,
            "status": "processing",
            "variables": {"customer_name": "A"},
        },
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"] == [{"field": "status", "message": lifecycle.E_STATUS_PROCESSING}]
    assert Lead.objects.count() == 0


def test_create_reports_every_error_at_its_path_in_the_forms_words(op, campaign):
    body = {
        "phone_number": "12345",
        "campaign": campaign.pk,
        "variables": {},
        "secondary_contacts": [{"phone_number": P2}, {"phone_number": "nope"}, {"phone_number": P2}],
    }
    response = op.post_json(LEADS, body)
    assert response.status_code == 400
    problem = response.json()
    assert problem["type"] == "urn:leadmgr:problem:validation" and problem["status"] == 400
    assert problem["errors"] == [
        {"field": "phone_number", "message": phones.E_PHONE_NEEDS_COUNTRY.format(value="12345")},
        {
            "field": "secondary_contacts[1].phone_number",
            "message": phones.E_PHONE_INVALID.format(value="nope"),
        },
        {
            "field": "secondary_contacts[2].phone_number",
            "message": services.E_CONTACT_REPEATED.format(phone=P2, n=1),
        },
    ]


def test_create_requires_the_assistants_required_variables(op, campaign):
    response = op.post_json(LEADS, {"phone_number": P1, "campaign": campaign.pk})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "variables", "message": lead_variables.E_MISSING_REQUIRED.format(names="customer_name")}
    ]


def test_create_refuses_a_bad_variable_name_and_nested_values(op, campaign):
    response = op.post_json(
        LEADS,
        {
            "phone_number": P1,
            "campaign": campaign.pk,
            "variables": {"customer_name": "A", "1bad": "x", "n": [1]},
        },
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "variables", "message": lead_variables.E_BAD_VARIABLE_NAME.format(name="1bad")},
        {"field": "variables.n", "message": rows.E_VALUE_NOT_TEXT.format(name="n")},
    ]


def test_create_refuses_an_unknown_campaign_and_missing_fields(op, campaign):
    response = op.post_json(LEADS, {"phone_number": P1, "campaign": 999999})
    assert response.json()["errors"] == [
        {"field": "campaign", "message": rows.E_CAMPAIGN_UNKNOWN.format(id=999999)}
    ]
    response = op.post_json(LEADS, {})
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"phone_number", "campaign"}


def test_on_duplicate_error_is_409_naming_the_existing_lead(op, campaign):
    lead = make_lead(campaign, P1)
    response = op.post_json(
        LEADS, {"phone_number": P1, "campaign": campaign.pk, "variables": {"customer_name": "B"}}
    )
    assert response.status_code == 409
    problem = response.json()
    assert problem["type"] == "urn:leadmgr:problem:duplicate"
    assert problem["existing_id"] == lead.pk
    assert problem["detail"] == f"{P1} is already a lead in campaign 'Spring'. Its id is {lead.pk}."
    assert Lead.objects.count() == 1


def test_on_duplicate_skip_answers_the_existing_lead_untouched(op, campaign):
    lead = make_lead(campaign, P1)
    body = {
        "phone_number": P1,
        "campaign": campaign.pk,
        "variables": {"customer_name": "B"},
        "on_duplicate": "skip",
    }
    response = op.post_json(LEADS, body)
    assert response.status_code == 200
    assert response.json()["id"] == lead.pk
    assert Lead.objects.get(pk=lead.pk).variables == {"customer_name": "Sarah Johnson"}


def test_on_duplicate_update_merges_variables_as_the_import_does(op, campaign):
    lead = make_lead(campaign, P1, variables={"customer_name": "Sarah", "company": "Initech"})
    body = {
        "phone_number": P1,
        "campaign": campaign.pk,
        "variables": {"customer_name": "Sam"},
        "on_duplicate": "update",
    }
    response = op.post_json(LEADS, body)
    assert response.status_code == 200
    assert response.json()["id"] == lead.pk
    assert Lead.objects.get(pk=lead.pk).variables == {"customer_name": "Sam", "company": "Initech"}


def test_the_same_idempotency_key_and_body_answer_the_first_response(op, campaign):
    body = {"phone_number": P1, "campaign": campaign.pk, "variables": {"customer_name": "A"}}
    first = op.post_json(LEADS, body, headers={"Idempotency-Key": "abc-1"})
    again = op.post_json(LEADS, body, headers={"Idempotency-Key": "abc-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again[idempotency.REPLAYED_HEADER] == "true"
    assert Lead.objects.count() == 1


def test_the_same_key_with_another_body_is_422(op, campaign):
    op.post_json(
        LEADS,
        {"phone_number": P1, "campaign": campaign.pk, "variables": {"customer_name": "A"}},
        headers={"Idempotency-Key": "k"},
    )
    response = op.post_json(
        LEADS,
        {"phone_number": P2, "campaign": campaign.pk, "variables": {"customer_name": "A"}},
        headers={"Idempotency-Key": "k"},
    )
    assert response.status_code == 422
    assert response.json()["detail"] == idempotency.E_KEY_REUSED
    assert Lead.objects.count() == 1


def test_idempotency_keys_are_per_user(op, st, campaign):
    body = {"phone_number": P1, "campaign": campaign.pk, "variables": {"customer_name": "A"}}
    assert op.post_json(LEADS, body, headers={"Idempotency-Key": "shared"}).status_code == 201
    # Another user's same key is another key: this request runs (and meets the duplicate).
    assert st.post_json(LEADS, body, headers={"Idempotency-Key": "shared"}).status_code == 409


def test_an_error_answer_is_replayed_too(op, campaign):
    body = {"phone_number": "bad", "campaign": campaign.pk}
    first = op.post_json(LEADS, body, headers={"Idempotency-Key": "e"})
    again = op.post_json(LEADS, body, headers={"Idempotency-Key": "e"})
    assert first.status_code == again.status_code == 400
    assert again.json() == first.json() and again["Content-Type"] == "application/problem+json"


# --- List -----------------------------------------------------------------------------------------


def test_list_filters_as_the_table_and_pages_by_cursor(op, campaign):
    other = make_campaign("Autumn")
    leads = [make_lead(campaign, variables={"customer_name": f"n{i}", "company": "Acme"}) for i in range(5)]
    make_lead(other)
    done = leads[0]
    Lead.objects.filter(pk=done.pk).update(status=Status.COMPLETED)
    response = op.get(LEADS, {"campaign": campaign.pk, "page_size": 2})
    page = response.json()
    assert [r["id"] for r in page["results"]] == [leads[4].pk, leads[3].pk]
    assert "count" not in page
    second = op.get(page["next"]).json()
    assert [r["id"] for r in second["results"]] == [leads[2].pk, leads[1].pk]
    statuses = op.get(LEADS, {"status": ["completed", "scheduled"]}).json()
    assert [r["id"] for r in statuses["results"]] == [done.pk]
    by_var = op.get(LEADS, {"var": "customer_name", "value": "n3"}).json()
    assert [r["id"] for r in by_var["results"]] == [leads[3].pk]


def test_a_bad_filter_is_400_with_its_field(op):
    response = op.get(LEADS, {"status": "nope", "created_from": "yesterday"})
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"status", "created_from"}


def test_list_costs_six_queries(op, campaign, django_assert_num_queries):
    for _ in range(3):
        make_lead(campaign, contacts=[next_phone_pair()])
    op.get(LEADS)  # the token's last use is written on the first request only
    # token + user, the user's permissions (own, groups'), campaign choices of the filter set,
    # the page, its contacts. No count, however many leads.
    with django_assert_num_queries(6):
        response = op.get(LEADS)
    assert len(response.json()["results"]) == 3


_n = iter(range(10_000))


def next_phone_pair() -> str:
    return f"+1415666{next(_n):04d}"


# --- Retrieve -------------------------------------------------------------------------------------


def test_retrieve_has_contacts_history_and_calls(op, operator, campaign, django_assert_num_queries):
    lead = make_lead(campaign, P1, contacts=[P2, P3])
    lifecycle.set_status(lead, Status.COMPLETED, user=operator, reason="spoke to her")
    now = timezone.now()
    CallAttempt.objects.create(
        lead=lead,
        attempt_number=1,
        phone=P1,
        started_at=now,
        ended_at=now + dt.timedelta(seconds=40),
        outcome="completed",
    )
    op.get(detail(lead.pk))
    # token + user, the user's permissions (own, groups'), the lead, contacts, history with
    # users, calls.
    with django_assert_num_queries(7):
        data = op.get(detail(lead.pk)).json()
    assert [c["phone_number"] for c in data["secondary_contacts"]] == [P2, P3]
    assert data["history"] == [
        {
            "from_status": "created",
            "to_status": "completed",
            "at": data["history"][0]["at"],
            "automatic": False,
            "user": "olivia",
            "reason": "spoke to her",
        }
    ]
    assert [(c["phone_number"], c["outcome"], c["contact"]) for c in data["calls"]] == [
        (P1, "completed", None)
    ]


@pytest.mark.parametrize("pk", ["0", "9223372036854775808", "99999999999999999999999"])
def test_retrieve_an_impossible_id_is_404(op, pk):
    response = op.get(f"/api/v1/leads/{pk}/")
    assert response.status_code == 404
    assert response.json()["title"] == "Not Found"


# --- Update ---------------------------------------------------------------------------------------


def test_patch_merges_variables_and_keeps_contacts(op, campaign):
    lead = make_lead(campaign, P1, contacts=[P2], variables={"customer_name": "Sarah", "company": "Initech"})
    contact = lead.contacts.get()
    response = op.patch_json(detail(lead.pk), {"variables": {"company": None, "tier": "gold"}})
    assert response.status_code == 200
    lead.refresh_from_db()
    assert lead.variables == {"customer_name": "Sarah", "tier": "gold"}
    assert list(lead.contacts.values_list("pk", "phone")) == [(contact.pk, P2)]


def test_patch_replaces_variables_and_contacts(op, campaign):
    lead = make_lead(
        campaign, P1, contacts=[P2, P3], variables={"customer_name": "Sarah", "company": "Initech"}
    )
    kept = lead.contacts.get(phone=P3)
    body = {
        "variables": {"customer_name": "Sam"},
        "variables_mode": "replace",
        "secondary_contacts": [
            {"phone_number": P3, "variables": {"x": "1"}},
            {"phone_number": "+14155550199"},
        ],
    }
    response = op.patch_json(detail(lead.pk), body)
    assert response.status_code == 200, response.json()
    lead.refresh_from_db()
    assert lead.variables == {"customer_name": "Sam"}
    assert list(lead.contacts.order_by("position").values_list("pk", "phone", "variables")) == [
        (kept.pk, P3, {"x": "1"}),
        (lead.contacts.get(phone="+14155550199").pk, "+14155550199", {}),
    ]
    assert not SecondaryContact.objects.filter(phone=P2).exists()


def test_patch_errors_are_the_forms_at_their_paths(op, campaign):
    lead = make_lead(campaign, P1)
    make_lead(campaign, P2)
    body = {"phone_number": P2, "secondary_contacts": [{"phone_number": P3}, {"phone_number": P2}]}
    response = op.patch_json(detail(lead.pk), body)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "secondary_contacts[1].phone_number",
            "message": services.E_CONTACT_IS_PRIMARY.format(phone=P2),
        },
        {
            "field": "phone_number",
            "message": services.E_DUPLICATE_PRIMARY.format(phone=P2, campaign="Spring"),
        },
    ]
    assert Lead.objects.get(pk=lead.pk).phone == P1


def test_patch_while_processing_is_409_with_the_lifecycles_refusal(op, campaign):
    lead = make_lead(campaign, P1, status=Status.PROCESSING)
    response = op.patch_json(detail(lead.pk), {"phone_number": P2})
    assert response.status_code == 409
    assert response.json()["detail"] == lifecycle.E_EDIT_UNDER_WAY.format(what="phone number")
    # Variables may change during a call.
    assert op.patch_json(detail(lead.pk), {"variables": {"note": "x"}}).status_code == 200


def test_patch_moving_campaign_runs_the_move_check(op, campaign):
    strict = make_campaign("Strict", assistant=make_assistant("Strict one", variables=[("budget", "", True)]))
    lead = make_lead(campaign, P1)
    response = op.patch_json(detail(lead.pk), {"campaign": strict.pk})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "variables", "message": lead_variables.E_MOVE_MISSING.format(names="budget")}
    ]


# --- Delete and status ------------------------------------------------------------------------------


def test_delete_needs_staff(op, st, campaign):
    lead = make_lead(campaign, P1, contacts=[P2])
    assert op.delete(detail(lead.pk)).status_code == 403
    assert st.delete(detail(lead.pk)).status_code == 204
    assert not Lead.objects.exists() and not SecondaryContact.objects.exists()
    assert st.delete(detail(lead.pk)).status_code == 404


def test_status_change_goes_through_the_lifecycle_with_reason(op, operator, campaign):
    lead = make_lead(campaign, P1)
    response = op.post_json(f"{detail(lead.pk)}status/", {"status": "completed", "reason": "bought"})
    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    change = StatusChange.objects.get(lead=lead)
    assert (change.from_status, change.to_status, change.user, change.reason) == (
        "created",
        "completed",
        operator,
        "bought",
    )


def test_status_change_refusals_are_409_with_the_reason(op, campaign):
    lead = make_lead(campaign, P1, status=Status.PROCESSING)
    response = op.post_json(f"{detail(lead.pk)}status/", {"status": "completed"})
    assert response.status_code == 409
    assert response.json()["type"] == "urn:leadmgr:problem:transition-refused"
    assert response.json()["detail"] == lifecycle.E_CALL_UNDER_WAY.format(label="Completed")
    done = make_lead(campaign, P2, status=Status.COMPLETED)
    response = op.post_json(f"{detail(done.pk)}status/", {"status": "completed"})
    assert response.json()["detail"] == lifecycle.E_ALREADY.format(label="Completed")


def test_status_scheduled_needs_a_time_and_processing_is_not_offered(op, campaign):
    lead = make_lead(campaign, P1)
    response = op.post_json(f"{detail(lead.pk)}status/", {"status": "scheduled"})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "scheduled_at", "message": lifecycle.E_SCHEDULED_NEEDS_TIME}
    ]
    response = op.post_json(f"{detail(lead.pk)}status/", {"status": "processing"})
    assert response.status_code == 400
    at = (timezone.now() + dt.timedelta(days=1)).isoformat()
    assert (
        op.post_json(f"{detail(lead.pk)}status/", {"status": "scheduled", "scheduled_at": at}).status_code
        == 200
    )


def test_a_key_is_forgotten_after_a_day(op, operator, campaign):
    from api.models import IdempotencyKey

    body = {
        "phone_number": P1,
        "campaign": campaign.pk,
        "variables": {"customer_name": "A"},
        "on_duplicate": "skip",
    }
    assert op.post_json(LEADS, body, headers={"Idempotency-Key": "old"}).status_code == 201
    IdempotencyKey.objects.update(created_at=timezone.now() - idempotency.KEEP - dt.timedelta(seconds=1))
    other = body | {"phone_number": P2}
    # Past its day the key is new again: another body is a new request, not a 422.
    assert op.post_json(LEADS, other, headers={"Idempotency-Key": "old"}).status_code == 201
    assert IdempotencyKey.objects.filter(user=operator).count() == 1


def test_a_key_still_in_progress_is_409(op, operator, campaign):
    from api.models import IdempotencyKey

    body = {"phone_number": P1, "campaign": campaign.pk, "variables": {"customer_name": "A"}}
    IdempotencyKey.objects.create(user=operator, key="busy", request_hash="x", status_code=0, response={})
    response = op.post_json(LEADS, body, headers={"Idempotency-Key": "busy"})
    assert response.status_code == 409
    assert response.json()["detail"] == idempotency.E_KEY_IN_PROGRESS
    assert not Lead.objects.exists()


def test_a_kept_contact_written_another_way_keeps_its_calls(op, campaign):
    lead = make_lead(campaign, P1, contacts=[P2])
    contact = lead.contacts.get()
    CallAttempt.objects.create(
        lead=lead, contact=contact, attempt_number=1, phone=P2, started_at=timezone.now()
    )
    body = {"secondary_contacts": [{"phone_number": "+1 (415) 555-0102"}]}
    assert op.patch_json(detail(lead.pk), body).status_code == 200
    assert list(lead.contacts.values_list("pk", "phone")) == [(contact.pk, P2)]
    assert CallAttempt.objects.get().contact_id == contact.pk
