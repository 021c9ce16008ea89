"""leadmgr.storage.bulk.insert_rows: many rows in one statement (a COPY on PostgreSQL), on both
databases the values as an INSERT stores them."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from leadmgr.storage.bulk import insert_rows
from leadmgr.testing import next_phone
from leads.models import Lead, SecondaryContact, Status, StatusChange

COLUMNS = (
    "campaign_id",
    "phone",
    "status",
    "variables",
    "attempts",
    "next_attempt_at",
    "created_at",
    "updated_at",
)

# What a text format must escape or carry: tabs, line ends, backslashes, quotes, \N, non-ASCII.
AWKWARD = 'Tab\there\nline\r\nback\\slash "quoted" \\N Łódź 東京 😀'


def row(campaign, phone, *, variables=None, next_at=None, at=None):
    at = at or dt.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)
    db = connection.ops.adapt_datetimefield_value
    return (
        campaign.pk,
        phone,
        Status.CREATED,
        json.dumps(variables or {}, ensure_ascii=False),
        0,
        db(next_at) if next_at else None,
        db(at),
        db(at),
    )


@pytest.mark.django_db(transaction=True)
def test_the_rows_are_stored_with_every_value_as_written(campaign):
    first, second = next_phone(), next_phone()
    next_at = dt.datetime(2026, 3, 2, 17, 0, tzinfo=dt.UTC)
    with transaction.atomic():
        insert_rows(
            Lead,
            COLUMNS,
            [
                row(campaign, first, variables={"customer_name": AWKWARD, "n": 3}, next_at=next_at),
                row(campaign, second),
            ],
        )
    a, b = Lead.objects.get(phone=first), Lead.objects.get(phone=second)
    assert a.variables == {"customer_name": AWKWARD, "n": 3}
    assert a.next_attempt_at == next_at and b.next_attempt_at is None
    assert a.created_at == dt.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)
    assert (a.status, a.attempts, b.variables) == (Status.CREATED, 0, {})


@pytest.mark.django_db(transaction=True)
def test_booleans_nulls_and_foreign_keys_as_an_insert_stores_them(campaign):
    phone = next_phone()
    with transaction.atomic():
        insert_rows(Lead, COLUMNS, [row(campaign, phone)])
        lead = Lead.objects.get(phone=phone)
        at = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
        insert_rows(
            StatusChange,
            ("lead_id", "from_status", "to_status", "at", "automatic", "user_id", "reason"),
            [
                (
                    lead.pk,
                    "",
                    Status.CREATED,
                    connection.ops.adapt_datetimefield_value(at),
                    True,
                    None,
                    AWKWARD,
                )
            ],
        )
        insert_rows(
            SecondaryContact,
            ("lead_id", "phone", "variables", "position"),
            [(lead.pk, next_phone(), "{}", 0)],
        )
    change = StatusChange.objects.get(lead=lead)
    assert (change.automatic, change.user_id, change.reason, change.at) == (True, None, AWKWARD, at)
    assert lead.contacts.get().position == 0


@pytest.mark.django_db(transaction=True)
def test_a_broken_constraint_is_djangos_integrity_error_and_writes_nothing(campaign):
    phone = next_phone()
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(Lead, COLUMNS, [row(campaign, next_phone()), row(campaign, phone), row(campaign, phone)])
    assert not Lead.objects.exists()


@pytest.mark.django_db
def test_a_batch_is_one_statement_that_the_query_log_counts(campaign):
    rows = [row(campaign, next_phone()) for _ in range(50)]
    with CaptureQueriesContext(connection) as queries:
        insert_rows(Lead, COLUMNS, rows)
    (statement,) = queries.captured_queries
    expected = "COPY" if connection.vendor == "postgresql" else "50 times: INSERT INTO"
    assert statement["sql"].startswith(expected)
    assert Lead.objects.count() == 50
