"""Datetime columns read as ISO 8601 text (the export's fast read), on whichever database runs."""

from __future__ import annotations

import datetime as dt

from leadmgr.storage import datetext
from leadmgr.testing import make_lead
from leads.models import Lead


def test_datetime_columns_read_as_iso_8601_text_in_utc(campaign):
    at = dt.datetime(2026, 5, 1, 14, 30, 15, 250000, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    lead = make_lead(campaign, status="scheduled", next_attempt_at=at)
    make_lead(campaign)  # no next attempt
    leads, names, iso = datetext.iso_columns(Lead.objects.order_by("pk"), ["next_attempt_at", "created_at"])
    rows = list(leads.values_list(*names))
    assert [iso(value) for value in rows[0]] == [
        "2026-05-01T12:30:15.250000+00:00",
        lead.created_at.astimezone(dt.UTC).isoformat(),
    ]
    assert iso(rows[1][0]) == ""


def test_both_readings_write_the_same_text():
    at = dt.datetime(2026, 5, 1, 12, 30, tzinfo=dt.UTC)
    assert (
        datetext.iso_sqlite("2026-05-01 12:30:00") == datetext.iso_datetime(at) == "2026-05-01T12:30:00+00:00"
    )
    assert datetext.iso_sqlite(None) == datetext.iso_datetime(None) == ""
