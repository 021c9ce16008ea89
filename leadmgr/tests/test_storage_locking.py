"""leadmgr.storage.locking: the claims' lock clause and uuid columns, on the database under test."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from leadmgr.storage import locking
from leads.models import Lead
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db

ID = uuid.UUID("12345678-9abc-4def-8123-456789abcdef")


def test_a_uuid_read_back_as_32_digits_or_dashed_reads_as_its_dashed_text():
    assert locking.uuid_text(ID.hex) == str(ID)
    assert locking.uuid_text(str(ID)) == str(ID)
    assert locking.uuid_text(ID) == str(ID)


def test_the_lock_clause_goes_with_the_lock_the_queryset_takes():
    locked = locking.skip_locked(Lead.objects.all())
    if connection.features.has_select_for_update_skip_locked:
        assert locking.skip_locked_sql("d") == " FOR UPDATE OF d SKIP LOCKED"
        assert locked.query.select_for_update and locked.query.select_for_update_skip_locked
    else:
        assert locking.skip_locked_sql("d") == ""
        assert not locked.query.select_for_update


def test_the_uuid_column_form_is_the_one_django_writes():
    prepared = Delivery._meta.get_field("event_id").get_db_prep_value(ID, connection)
    assert str(prepared) == (str(ID) if locking.native_uuid_columns() else ID.hex)
