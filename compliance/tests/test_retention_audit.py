"""Retention (purge_history) and the export audit (every CSV export recorded)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from compliance.audit import record_export
from compliance.models import ExportRecord
from leadmgr.testing import make_campaign, make_lead
from leads import lifecycle
from leads.models import CallAttempt, StatusChange

pytestmark = pytest.mark.django_db


def test_purge_history_deletes_calls_and_history_older_than_the_setting(settings, capsys):
    settings.LEADMGR_HISTORY_RETENTION_DAYS = 30
    lead = make_lead(make_campaign())
    now = timezone.now()
    old, recent = now - dt.timedelta(days=31), now - dt.timedelta(days=29)
    for at in (old, recent):
        CallAttempt.objects.create(lead=lead, attempt_number=1, phone=lead.phone, started_at=at, ended_at=at)
        StatusChange.objects.create(lead=lead, to_status="created", at=at)
    under_way = CallAttempt.objects.create(lead=lead, attempt_number=2, phone=lead.phone, started_at=old)
    call_command("purge_history")
    assert "Deleted 1 call attempt(s) and 1 status change(s) older than 30 day(s)." in capsys.readouterr().out
    assert set(CallAttempt.objects.values_list("started_at", flat=True)) == {recent, under_way.started_at}
    assert list(StatusChange.objects.values_list("at", flat=True)) == [recent]


def test_purge_history_keeps_everything_at_zero_and_refuses_bad_days(settings, capsys):
    settings.LEADMGR_HISTORY_RETENTION_DAYS = 0
    call_command("purge_history")
    assert "everything is kept" in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("purge_history", "--days", "0")


def test_the_web_export_is_recorded_with_its_filter_columns_and_rows(client, staff):
    campaign = make_campaign()
    for _ in range(3):
        make_lead(campaign)
    lead = make_lead(campaign)
    lifecycle.set_status(lead, "completed")
    client.force_login(staff)
    response = client.get(
        "/leads/export/", {"download": "1", "campaign": campaign.pk, "status": "created", "columns": "status"}
    )
    assert response.status_code == 200
    b"".join(response.streaming_content)
    record = ExportRecord.objects.get()
    assert (record.user, record.channel, record.rows, record.columns) == (staff, "web", 3, ["status"])
    assert record.filters == {"campaign": [str(campaign.pk)], "status": ["created"]}


def test_the_export_command_is_recorded(tmp_path):
    campaign = make_campaign()
    make_lead(campaign)
    make_lead(campaign)
    call_command("export_leads", "--campaign", campaign.name, "-o", str(tmp_path / "out.csv"))
    record = ExportRecord.objects.get()
    assert (record.user, record.channel, record.rows, record.columns) == (None, "command", 2, [])
    assert record.filters == {"campaign": campaign.name}


def test_record_export_is_the_one_function_other_doors_call(staff):
    record = record_export(staff, {"status": ["created"], "q": ""}, ["phone"], 12, "api")
    assert (record.channel, record.filters, record.columns, record.rows) == (
        "api",
        {"status": ["created"]},
        ["phone"],
        12,
    )
