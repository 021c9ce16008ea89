"""Erasure on request leaves no trace of the number in any text column of any table."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from compliance import selectors, services
from compliance.erasure import erase_number
from compliance.models import DoNotCallEntry, Erasure, ExportRecord
from leadmgr.testing import make_campaign, make_lead
from leads import lifecycle
from leads.models import CallAttempt, Lead, SecondaryContact, StatusChange

pytestmark = pytest.mark.django_db(transaction=True)

X = "+14155550199"


def text_columns_holding(needle: str) -> list[str]:
    """Every (table.column) of every table whose text holds ``needle``."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            try:
                description = connection.introspection.get_table_description(cursor, table)
            except Exception:  # virtual tables without a description (SQLite FTS5)
                continue
            for column in description:
                quoted = connection.ops.quote_name(column.name)
                qtable = connection.ops.quote_name(table)
                try:
                    with connection.cursor() as c:
                        text = f"CAST({quoted} AS TEXT)"
                        c.execute(f"SELECT 1 FROM {qtable} WHERE {text} LIKE %s LIMIT 1", [f"%{needle}%"])
                        if c.fetchone():
                            found.append(f"{table}.{column.name}")
                except Exception:  # a column no cast reads (PostgreSQL: nothing to roll back outside a block)
                    continue
    return found


def test_erasure_deletes_every_lead_and_contact_and_leaves_only_a_hash(admin_user):
    spring, autumn = make_campaign("Spring"), make_campaign("Autumn")
    mine = make_lead(spring, phone=X, variables={"customer_name": "Erin"}, contacts=["+14155550100"])
    lifecycle.set_status(mine, "completed", user=admin_user, reason=f"asked for erasure, {X}")
    other = make_lead(autumn, contacts=[X])
    contact = other.contacts.get()
    CallAttempt.objects.create(
        lead=other,
        contact=contact,
        attempt_number=1,
        phone=X,
        started_at="2026-01-01T00:00Z",
        detail=f"called {X}",
    )
    kept = make_lead(autumn)
    services.dnc_add(number=X, reason="complaint")
    ExportRecord.objects.create(at="2026-01-01T00:00Z", channel="web", filters={"q": X[1:]}, rows=1)
    assert text_columns_holding(X)  # the check itself finds the number before

    erasure = erase_number(number=X, user=admin_user, channel="web")

    assert text_columns_holding(X) == []
    assert text_columns_holding(X[1:]) == []
    assert not Lead.objects.filter(pk=mine.pk).exists()
    assert set(Lead.objects.values_list("pk", flat=True)) == {other.pk, kept.pk}
    assert not SecondaryContact.objects.filter(lead=other).exists()
    call = CallAttempt.objects.get(lead=other)
    assert (call.phone, call.contact) == ("", None)
    assert (erasure.performed_by, erasure.channel, erasure.leads_deleted, erasure.contacts_deleted) == (
        admin_user,
        "web",
        1,
        2,
    )
    assert (erasure.calls_scrubbed, erasure.entries_scrubbed) == (1, 1)
    entry = DoNotCallEntry.objects.get()
    assert (entry.number, entry.source, len(entry.number_hash)) == (None, "erasure", 64)
    assert selectors.blocked_numbers([X]) == {X: "erasure"}
    assert Erasure.objects.count() == 1


def test_erasure_scrubs_other_leads_history_quoting_the_number_in_either_form():
    lead = make_lead(make_campaign())
    for reason in (f"asked by {X}", f"asked by {X[1:]}", "nothing to scrub"):
        StatusChange.objects.create(lead=lead, to_status="created", at="2026-01-01T00:00Z", reason=reason)

    erasure = erase_number(number=X)

    assert erasure.history_scrubbed == 2
    assert list(lead.history.values_list("reason", flat=True)) == [
        "asked by [erased]",
        "asked by [erased]",
        "nothing to scrub",
    ]


def test_the_command_erases_and_refuses_an_invalid_number(capsys):
    make_lead(make_campaign(), phone=X)
    call_command("erase_number", "+1 415 555 0199")
    assert "Erased: 1 lead(s) and 0 secondary contact(s) deleted" in capsys.readouterr().out
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not a valid phone number"):
        call_command("erase_number", "+1 555")
