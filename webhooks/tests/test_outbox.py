"""The outbox: events are written in the transaction of their change, only when someone listens."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign
from leadmgr.testing import ALL_DAY, make_lead, next_phone
from leads import attempts, lifecycle, services
from leads.csv import importer
from leads.models import CallAttempt, Lead, Status
from webhooks.models import Delivery

from .conftest import subscribe

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


def events(kind: str | None = None) -> list[dict]:
    rows = Delivery.objects.order_by("id")
    if kind:
        rows = rows.filter(event_type=kind)
    return [json.loads(d.body) for d in rows]


def test_nothing_is_written_without_a_listening_subscription(campaign):
    subscribe("http://127.0.0.1:9/x", events=["call.ended"])  # listens to something else
    lead = make_lead(campaign)
    lifecycle.set_status(lead, Status.COMPLETED, reason="done")
    services.lead_create(campaign=campaign, phone=next_phone(), variables={"customer_name": "A"})
    assert Delivery.objects.count() == 0


def test_an_inactive_subscription_gets_nothing(campaign):
    sub = subscribe("http://127.0.0.1:9/x")
    sub.active = False
    sub.save()
    lifecycle.set_status(make_lead(campaign), Status.COMPLETED)
    assert Delivery.objects.count() == 0


def test_a_manual_status_change_names_from_to_who_and_why(campaign, operator):
    sub = subscribe("http://127.0.0.1:9/x")
    lead = make_lead(campaign)
    lifecycle.set_status(lead, Status.COMPLETED, user=operator, reason="Closed by email", now=NOW)
    (event,) = events("lead.status_changed")
    assert event["type"] == "lead.status_changed" and event["lead_id"] == lead.pk
    assert event["created_at"] == "2026-03-02T15:00:00Z"
    assert event["data"] == {
        "lead": {"id": lead.pk, "phone": lead.phone, "campaign_id": campaign.pk},
        "from": "created",
        "to": "completed",
        "automatic": False,
        "reason": "Closed by email",
        "user": {"id": operator.pk, "username": "olivia"},
        "at": "2026-03-02T15:00:00Z",
    }
    delivery = Delivery.objects.get()
    assert (delivery.subscription_id, str(delivery.event_id), delivery.state) == (
        sub.pk,
        event["id"],
        "pending",
    )


def test_one_event_is_one_id_for_every_subscription(campaign):
    subscribe("http://127.0.0.1:9/a")
    subscribe("http://127.0.0.1:9/b")
    lifecycle.set_status(make_lead(campaign), Status.COMPLETED)
    a, b = Delivery.objects.order_by("subscription_id")
    assert a.event_id == b.event_id and a.body == b.body


def test_the_event_is_not_written_when_its_transaction_rolls_back(campaign):
    subscribe("http://127.0.0.1:9/x")
    lead = make_lead(campaign)
    with pytest.raises(RuntimeError), transaction.atomic():
        lifecycle.set_status(lead, Status.COMPLETED)
        assert Delivery.objects.count() == 1  # written inside the change's transaction...
        raise RuntimeError("the caller fails after the change")
    assert Delivery.objects.count() == 0  # ...and gone with it
    assert Lead.objects.get(pk=lead.pk).status == Status.CREATED


def test_a_refused_change_writes_no_event(campaign):
    subscribe("http://127.0.0.1:9/x")
    lead = make_lead(campaign, status=Status.COMPLETED)
    with pytest.raises(lifecycle.TransitionError):
        lifecycle.set_status(lead, Status.COMPLETED)
    assert Delivery.objects.count() == 0


def test_the_lead_form_service_emits_lead_created_with_contacts(campaign):
    subscribe("http://127.0.0.1:9/x", events=["lead.created"])
    contact = next_phone()
    result = services.lead_create(
        campaign=campaign,
        phone=next_phone(),
        variables={"customer_name": "Sarah"},
        contacts=[services.ContactInput(contact, {"customer_name": "Tom"})],
    )
    (event,) = events()
    assert event["lead_id"] == result.lead.pk
    assert event["data"]["lead"] == {
        "id": result.lead.pk,
        "phone": result.lead.phone,
        "campaign": {"id": campaign.pk, "name": campaign.name},
        "status": "created",
        "variables": {"customer_name": "Sarah"},
        "secondary_contacts": [{"phone": contact, "variables": {"customer_name": "Tom"}}],
    }


def test_bulk_status_changes_write_one_event_per_lead_in_one_insert(campaign):
    subscribe("http://127.0.0.1:9/x", events=["lead.status_changed"])
    leads = [make_lead(campaign) for _ in range(30)]
    with CaptureQueriesContext(connection) as queries:
        result = lifecycle.bulk_set_status(Lead.objects.all(), Status.COMPLETED, reason="bulk")
    assert result.changed == 30
    assert sorted(e["lead_id"] for e in events()) == sorted(lead.pk for lead in leads)
    # One statement writes them: an INSERT (SQLite's executemany) or a COPY (PostgreSQL).
    writes = [
        q
        for q in queries
        if 'INSERT INTO "webhooks_delivery"' in q["sql"] or 'COPY "webhooks_delivery"' in q["sql"]
    ]
    assert len(writes) == 1


def test_an_import_emits_lead_created_per_row_and_import_finished(campaign, staff):
    subscribe("http://127.0.0.1:9/x")
    phones = [next_phone() for _ in range(25)]
    rows = "".join(f"{p},N{i},{'completed' if i == 0 else ''}\n" for i, p in enumerate(phones))
    result = importer.import_leads(
        io.BytesIO(f"phone,customer_name,status\n{rows}".encode()),
        importer.ImportOptions(campaign=campaign, user=staff, batch_size=10),
    )
    assert result.created == 25
    created = events("lead.created")
    ids = dict(Lead.objects.values_list("phone", "pk"))
    assert [e["lead_id"] for e in created] == [ids[p] for p in phones]
    assert created[0]["data"]["lead"]["status"] == "completed"
    assert created[1]["data"]["lead"]["variables"] == {"customer_name": "N1"}
    (finished,) = events("import.finished")
    assert finished["lead_id"] is None
    assert finished["data"] == {
        "counts": {"rows": 25, "created": 25, "updated": 0, "skipped": 0, "rejected": 0},
        "campaign": {"id": campaign.pk, "name": campaign.name},
        "user": {"id": staff.pk, "username": "sam"},
    }
    # The import.finished event comes after the leads it reports.
    assert Delivery.objects.filter(event_type="import.finished").get().pk > max(
        Delivery.objects.filter(event_type="lead.created").values_list("pk", flat=True)
    )


def test_a_strict_import_with_a_rejected_row_writes_no_event(campaign):
    subscribe("http://127.0.0.1:9/x")
    body = f"phone,customer_name\n{next_phone()},A\nnot-a-phone,B\n".encode()
    result = importer.import_leads(io.BytesIO(body), importer.ImportOptions(campaign=campaign))
    assert not result.written
    assert Delivery.objects.count() == 0


def test_the_runner_emits_claims_calls_and_results(campaign, settings, any_hour):
    """A real ``run_campaigns --once`` with the simulated provider at speed-up 0."""
    settings.LEADMGR_PROVIDER = "simulated"
    settings.LEADMGR_SIMULATED_SPEEDUP = 0
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.RUNNING, **ALL_DAY)
    subscribe("http://127.0.0.1:9/x")
    leads = [make_lead(campaign, contacts=[next_phone()]) for _ in range(6)]
    call_command("run_campaigns", "--once", stdout=io.StringIO())
    calls = CallAttempt.objects.filter(outcome__gt="")
    ended = events("call.ended")
    assert sorted(e["data"]["call"]["id"] for e in ended) == sorted(calls.values_list("pk", flat=True))
    sample = next(e for e in ended if e["data"]["call"]["id"] == calls.first().pk)["data"]["call"]
    call = calls.first()
    assert sample["number"] == call.phone and sample["outcome"] == call.outcome
    assert sample["provider"] == "simulated" and sample["provider_ref"] == call.provider_ref
    assert sample["duration_seconds"] == round((call.ended_at - call.started_at).total_seconds(), 3)
    changes = events("lead.status_changed")
    history = {(h.lead_id, h.from_status, h.to_status) for lead in leads for h in lead.history.all()}
    assert {(e["lead_id"], e["data"]["from"], e["data"]["to"]) for e in changes} == history
    assert all(e["data"]["automatic"] and e["data"]["user"] is None for e in changes)
    # Per lead, the events are written in the order things happened: claim, dials, result.
    for lead in leads:
        kinds = [e["type"] for e in events() if e["lead_id"] == lead.pk]
        assert kinds[0] == "lead.status_changed" and kinds[-1] == "lead.status_changed"
        assert "call.ended" in kinds[1:-1]


def test_recovered_lost_calls_are_call_ended_events(campaign):
    subscribe("http://127.0.0.1:9/x", events=["call.ended"])
    lead = make_lead(campaign)
    (claim,) = attempts.claim_due(campaign, 1, NOW, dt.timedelta(minutes=5))
    attempts.recover_lost(NOW + dt.timedelta(minutes=10))
    (event,) = events()
    assert event["lead_id"] == lead.pk
    assert event["data"]["call"]["outcome"] == "lost" and event["data"]["call"]["attempt"] == claim.attempt


def test_without_subscribers_a_runner_batch_costs_one_small_query_per_step(campaign):
    for _ in range(20):
        make_lead(campaign)
    with CaptureQueriesContext(connection) as queries:
        attempts.claim_due(campaign, 20, NOW, dt.timedelta(minutes=5))
    reads = [q for q in queries if "webhooks_subscription" in q["sql"]]
    assert len(reads) == 1 and Delivery.objects.count() == 0


def test_a_lead_added_in_the_admin_emits_lead_created_with_its_contacts(admin_client, campaign):
    subscribe("http://127.0.0.1:9/x", events=["lead.created"])
    data = {
        "phone": "+14155550100",
        "campaign": campaign.pk,
        "variables": '{"customer_name": "Sarah"}',
        "contacts-TOTAL_FORMS": "1",
        "contacts-INITIAL_FORMS": "0",
        "contacts-0-phone": "+14155550101",
        "contacts-0-position": "0",
        "contacts-0-variables": "{}",
        "history-TOTAL_FORMS": "0",
        "history-INITIAL_FORMS": "0",
        "calls-TOTAL_FORMS": "0",
        "calls-INITIAL_FORMS": "0",
    }
    assert admin_client.post("/admin/leads/lead/add/", data).status_code == 302
    (event,) = events()
    lead = Lead.objects.get()
    assert event["lead_id"] == lead.pk
    assert event["data"]["lead"]["secondary_contacts"] == [{"phone": "+14155550101", "variables": {}}]
    # An edit is no creation.
    data["contacts-INITIAL_FORMS"] = "0"
    admin_client.post(f"/admin/leads/lead/{lead.pk}/change/", {**data, "contacts-TOTAL_FORMS": "0"})
    assert Delivery.objects.count() == 1
