from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign
from leadmgr.testing import make_campaign, make_lead, next_phone
from leads import attempts, services
from leads.models import CallAttempt, Lead, SecondaryContact, Status, StatusChange


def test_a_primary_phone_is_unique_within_a_campaign(campaign):
    make_lead(campaign, phone="+14155550100")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_lead(campaign, phone="+14155550100")


def test_the_same_phone_may_be_a_lead_in_two_campaigns(campaign):
    other = make_campaign("Autumn", assistant=campaign.assistant)
    make_lead(campaign, phone="+14155550100")
    make_lead(other, phone="+14155550100")
    assert Lead.objects.filter(phone="+14155550100").count() == 2


def test_a_secondary_phone_is_unique_within_a_lead(lead):
    SecondaryContact.objects.create(lead=lead, phone="+14155550111", position=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        SecondaryContact.objects.create(lead=lead, phone="+14155550111", position=1)


def test_a_new_lead_starts_created_with_no_attempts(campaign):
    lead = Lead.objects.create(campaign=campaign, phone=next_phone())
    assert (lead.status, lead.attempts, lead.next_attempt_at, lead.variables) == ("created", 0, None, {})


def leads_with_two_contacts(campaign, n: int, *, called: int) -> list[Lead]:
    """``n`` leads with two contacts each; the first ``called`` have a history row and a call."""
    leads = [make_lead(campaign, contacts=[next_phone(), next_phone()]) for _ in range(n)]
    for lead in leads[:called]:
        attempts.start_attempt(lead, lease=dt.timedelta(minutes=5))
        CallAttempt.objects.create(
            lead=lead, attempt_number=1, phone=lead.phone, started_at=lead.last_attempt_at
        )
    return leads


def test_deleting_leads_cascades_in_the_database_in_few_queries(campaign):
    leads_with_two_contacts(campaign, 20, called=5)
    keep = make_lead(campaign, contacts=[next_phone()])
    doomed = Lead.objects.exclude(pk=keep.pk)
    # COUNT of contacts, then one DELETE: the database removes contacts, history and calls. Around
    # it the lead counts' own (leadcounts.services.delete_leads), a statement each rather than a
    # trigger call per lead: the row triggers looked up and suspended, then SQLite drops 2 triggers,
    # subtracts the leads' counts, recreates the 2; PostgreSQL sets a flag, deletes and counts in
    # the one DELETE, clears the flag. PostgreSQL first locks the leads being called, in id order
    # (the runner's order: no deadlock with it).
    counts = 1 + (5 if connection.vendor == "sqlite" else 3)
    with CaptureQueriesContext(connection) as queries:
        deleted, contacts = services.leads_delete(doomed)
    assert (deleted, contacts) == (20, 40)
    assert len([q for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]) == 2 + counts
    assert list(Lead.objects.all()) == [keep]
    assert SecondaryContact.objects.count() == 1
    assert not StatusChange.objects.exists()
    assert not CallAttempt.objects.exists()


def test_a_campaign_with_leads_cannot_be_deleted(lead):
    with pytest.raises(ProtectedError) as exc, transaction.atomic():
        Campaign.objects.filter(pk=lead.campaign_id).delete()
    assert exc.value.args[0] == (
        "Campaign 'Spring' still has 1 lead(s): delete them or move them to another campaign first."
    )
    assert Campaign.objects.filter(pk=lead.campaign_id).exists()


def test_a_campaign_without_leads_can_be_deleted(campaign):
    campaign.delete()
    assert not Campaign.objects.exists()


def test_deleting_a_contact_keeps_its_call_log(lead):
    contact = SecondaryContact.objects.create(lead=lead, phone=next_phone(), position=0)
    call = CallAttempt.objects.create(
        lead=lead, contact=contact, attempt_number=1, phone=contact.phone, started_at=lead.created_at
    )
    contact.delete()
    call.refresh_from_db()
    assert (call.contact, call.phone) == (None, contact.phone)


def test_statuses_are_the_six_of_the_contract():
    assert Status.choices == [
        ("created", "Created"),
        ("scheduled", "Scheduled"),
        ("processing", "Processing"),
        ("rescheduled", "Rescheduled"),
        ("completed", "Completed"),
        ("max_retries", "Max Retries"),
    ]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's set-by-set delete")
@pytest.mark.django_db(transaction=True)
def test_deleting_leads_outside_a_transaction_deletes_children_set_by_set_on_sqlite():
    """No cascade program per lead: the children go a statement each, foreign keys checked after."""
    campaign = make_campaign()
    leads = leads_with_two_contacts(campaign, 6, called=3)
    keep = make_lead(campaign, contacts=[next_phone()])
    # A call of the kept lead that names a doomed lead's contact: the contact goes, the call stays.
    odd = CallAttempt.objects.create(
        lead=keep,
        contact=leads[0].contacts.first(),
        attempt_number=1,
        phone=keep.phone,
        started_at=keep.created_at,
    )
    with CaptureQueriesContext(connection) as queries:
        deleted, contacts = services.leads_delete(Lead.objects.exclude(pk=keep.pk))
    assert (deleted, contacts) == (6, 12)
    sql = [q["sql"] for q in queries]
    assert sql[0] == "PRAGMA foreign_keys = OFF" and sql[-1] == "PRAGMA foreign_keys = ON"
    assert sum(s.startswith("DELETE") for s in sql) == 4
    assert list(Lead.objects.all()) == [keep]
    assert SecondaryContact.objects.filter(lead=keep).count() == SecondaryContact.objects.count() == 1
    assert list(StatusChange.objects.values_list("lead", flat=True)) == []
    assert list(CallAttempt.objects.all()) == [odd]
    odd.refresh_from_db()
    assert odd.contact is None
    with connection.cursor() as cursor:
        assert cursor.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert cursor.execute("PRAGMA foreign_key_check").fetchall() == []
