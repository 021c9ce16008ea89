"""/api/v1/leads/export/: the CSV export's filters and columns, streamed as CSV or NDJSON."""

from __future__ import annotations

import csv
import io
import json

import pytest

from api.tests.helpers import api_client
from compliance.models import ExportRecord
from leadmgr.testing import make_campaign, make_lead
from leads import selectors
from leads.csv import exporter
from leads.models import Lead, Status

pytestmark = pytest.mark.django_db
EXPORT = "/api/v1/leads/export/"


def body(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_csv_is_the_exporters_output_for_the_same_filter(staff, campaign):
    make_lead(campaign, "+14155550101", contacts=["+14155550102"], variables={"customer_name": "=cmd"})
    make_lead(campaign, "+14155550103", status=Status.COMPLETED)
    make_lead(make_campaign("Autumn"), "+14155550104")
    response = api_client(staff).get(EXPORT, {"campaign": campaign.pk, "with_secondary": "1"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    leads = selectors.lead_list(campaign=campaign.pk)
    assert body(response) == "".join(exporter.export_csv(leads, with_secondary=True))


def test_ndjson_has_the_same_columns_one_object_a_line(staff, campaign):
    lead = make_lead(campaign, "+14155550101", contacts=["+14155550102"], variables={"customer_name": "=cmd"})
    make_lead(campaign, "+14155550103", status=Status.COMPLETED)
    response = api_client(staff).get(
        EXPORT, {"format": "ndjson", "status": "created", "with_secondary": "true"}
    )
    assert response["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in body(response).splitlines()]
    assert len(lines) == 1
    row = lines[0]
    assert row["id"] == lead.pk and row["phone"] == "+14155550101" and row["campaign"] == "Spring"
    assert row["customer_name"] == "=cmd"  # JSON is never run as a formula: the value as stored
    assert row["secondary_1_phone"] == "+14155550102" and row["attempts"] == 0


def test_columns_choose_the_columns(staff, campaign):
    make_lead(campaign, "+14155550101", variables={"customer_name": "Sarah", "company": "Initech"})
    text = body(api_client(staff).get(EXPORT, {"columns": "status,company"}))
    assert list(csv.reader(io.StringIO(text))) == [
        ["phone", "status", "company"],
        ["+14155550101", "created", "Initech"],
    ]


def test_export_needs_the_export_permission_and_a_known_format(operator, staff):
    assert api_client(operator).get(EXPORT).status_code == 403
    response = api_client(staff).get(EXPORT, {"format": "xml"})
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "format", "message": "Choose csv or ndjson."}]
    assert not Lead.objects.exists()


def test_an_api_export_is_recorded_in_the_export_audit(staff, campaign):
    make_lead(campaign, "+14155550101")
    make_lead(campaign, "+14155550103", status=Status.COMPLETED)
    response = api_client(staff).get(EXPORT, {"format": "ndjson", "status": "created", "columns": "status"})
    assert len(body(response).splitlines()) == 1
    record = ExportRecord.objects.get()
    assert (record.user, record.channel, record.rows, record.columns) == (staff, "api", 1, ["status"])
    assert record.filters == {"status": ["created"]}
