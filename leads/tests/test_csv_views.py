"""The CSV pages: Staff only, a preview that writes nothing, a confirm that writes what was previewed."""

from __future__ import annotations

import codecs
import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from leadmgr.testing import make_campaign, make_lead
from leads import csv_views, phones
from leads.csv import errors, importer, xlsx
from leads.models import Lead, Status

P1, P2, P3 = "+14155550100", "+14155550101", "+14155550102"


@pytest.fixture(autouse=True)
def upload_dir(settings, tmp_path):
    settings.LEADMGR_IMPORT_DIR = tmp_path / "uploads"
    return settings.LEADMGR_IMPORT_DIR


def upload(client, text: str, **fields):
    data = {"file": SimpleUploadedFile("leads.csv", text.encode("utf-8"), "text/csv"), "duplicates": "skip"}
    data.update(fields)
    return client.post("/leads/import/", data)


def token_of(client) -> str:
    [token] = client.session[csv_views.SESSION_KEY]
    return token


# --- Permissions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/leads/import/", "/leads/export/", "/leads/export/?download=1", "/leads/import/x/rejected.csv"]
)
def test_it_requires_the_import_or_export_permission(client, operator, outsider, campaign, url):
    for user in (operator, outsider):
        client.force_login(user)
        assert client.get(url).status_code == 403
    assert client.get(f"/leads/import/sample/{campaign.pk}.csv").status_code == 403
    assert client.post("/leads/import/x/confirm/").status_code == 403


def test_it_requires_sign_in(client):
    response = client.get("/leads/import/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_staff_can_open_the_pages(client, staff, campaign):
    client.force_login(staff)
    assert client.get("/leads/import/").status_code == 200
    assert client.get("/leads/export/").status_code == 200


# --- Upload, preview, confirm -------------------------------------------------------------------


def test_the_preview_shows_counts_rows_and_errors_and_writes_nothing(client, staff, campaign):
    make_lead(campaign, phone=P3)
    client.force_login(staff)
    response = upload(
        client,
        f"phone,campaign,customer_name,secondary_1_phone\n{P1},Spring,Sarah,{P2}\n+1415,Spring,X,\n{P3},Spring,Y,\n",
        skip_invalid="on",
    )
    assert response.status_code == 200
    result = response.context["result"]
    assert result.counts == {"rows": 3, "created": 1, "updated": 0, "skipped": 1, "rejected": 1}
    assert [(r.phone, r.action) for r in result.preview] == [(P1, "create"), (P3, "skip")]
    page = response.content.decode()
    assert "Nothing has been written yet." in page
    assert phones.E_PHONE_INVALID.format(value="+1415").replace("'", "&#x27;") in page
    assert Lead.objects.count() == 1


def test_confirm_writes_exactly_what_was_previewed(client, staff, campaign):
    client.force_login(staff)
    upload(client, f"phone,customer_name,secondary_1_phone\n{P1},Sarah,{P2}\n", campaign=campaign.pk)
    response = client.post(f"/leads/import/{token_of(client)}/confirm/")
    assert response.status_code == 302 and response["Location"] == "/leads/import/"
    lead = Lead.objects.get()
    assert (lead.phone, lead.campaign, lead.variables, [c.phone for c in lead.contacts.all()]) == (
        P1,
        campaign,
        {"customer_name": "Sarah"},
        [P2],
    )
    assert client.session[csv_views.SESSION_KEY] == {}


def test_confirm_writes_nothing_when_the_leads_changed_since_the_preview(client, staff, campaign):
    client.force_login(staff)
    upload(client, f"phone,customer_name\n{P1},Sarah\n{P2},John\n", campaign=campaign.pk)
    make_lead(campaign, phone=P1)  # someone added it meanwhile: it would now be skipped
    response = client.post(f"/leads/import/{token_of(client)}/confirm/")
    assert response.status_code == 409
    assert Lead.objects.count() == 1
    assert response.context["result"].counts["skipped"] == 1
    assert errors.E_CHANGED_SINCE_PREVIEW.format(
        previewed="2 created, 0 updated, 0 skipped, 0 rejected",
        now="1 created, 0 updated, 1 skipped, 0 rejected",
    ) in [str(m) for m in response.context["messages"]]


def test_a_strict_preview_with_errors_offers_no_confirm_and_confirm_refuses(client, staff, campaign):
    client.force_login(staff)
    response = upload(client, f"phone,customer_name\n{P1},Sarah\n+1415,X\n", campaign=campaign.pk)
    assert response.context["can_confirm"] is False
    response = client.post(f"/leads/import/{token_of(client)}/confirm/")
    assert response.status_code == 400
    assert not Lead.objects.exists()


def test_skip_invalid_imports_the_good_rows_and_offers_the_rejected_ones(client, staff, campaign):
    client.force_login(staff)
    upload(client, f"phone,customer_name\n{P1},Sarah\n+1415,=X\n", campaign=campaign.pk, skip_invalid="on")
    token = token_of(client)
    client.post(f"/leads/import/{token}/confirm/")
    assert list(Lead.objects.values_list("phone", flat=True)) == [P1]
    page = client.get("/leads/import/").content.decode()
    assert f"/leads/import/{token}/rejected.csv" in page
    response = client.get(f"/leads/import/{token}/rejected.csv")
    assert response["Content-Disposition"] == 'attachment; filename="leads-rejected.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
    assert rows == [
        ["phone", "customer_name", "reason"],
        ["'+1415", "'=X", "line 3: phone: " + phones.E_PHONE_INVALID.format(value="+1415")],
    ]


def test_another_users_token_is_not_found(client, staff, campaign):
    client.force_login(staff)
    upload(client, f"phone,customer_name\n{P1},Sarah\n", campaign=campaign.pk)
    token = token_of(client)
    other = client.__class__()
    other.force_login(make_staff("sue"))
    assert other.post(f"/leads/import/{token}/confirm/").status_code == 404
    assert not Lead.objects.exists()


def make_staff(username):
    from leadmgr.testing import make_user
    from leads import roles

    return make_user(username, group=roles.STAFF)


def test_a_file_that_cannot_be_imported_is_reported_on_the_form(client, staff, campaign, upload_dir):
    client.force_login(staff)
    response = upload(client, "", campaign=campaign.pk)
    assert response.status_code == 200
    assert response.context["form"].errors == {"file": ["The submitted file is empty."]}
    for name, message in (("x.csv", errors.E_FILE_BINARY), ("x.xlsx", xlsx.E_XLSX_UNREADABLE)):
        # Binary data: refused as CSV, or as a broken workbook when the name says .xlsx.
        response = client.post(
            "/leads/import/",
            {
                "file": SimpleUploadedFile(name, b"PK\x03\x04\x00\x00"),
                "duplicates": "skip",
                "campaign": campaign.pk,
            },
        )
        assert response.context["form"].errors == {"file": [message]}
    assert list(upload_dir.iterdir()) == []


def test_the_sample_csv_has_the_assistants_variables(client, staff, campaign):
    client.force_login(staff)
    response = client.get(f"/leads/import/sample/{campaign.pk}.csv")
    lines = response.content.decode().splitlines()
    assert lines[0] == "phone,campaign,status,customer_name,company,secondary_1_phone"
    # Its one row is an example: a number reserved for fiction, values marked as examples, and
    # refused when imported unchanged (everything else about it passes the checks).
    assert lines[1] == "+12025550100,Spring,created,example customer_name,example company,"
    result = importer.import_leads(io.BytesIO(response.content), importer.ImportOptions(dry_run=True))
    assert [(e.line, e.column, e.message) for r in result.rejected for e in r.errors] == [
        (2, "phone", errors.E_SAMPLE_ROW.format(phone="+12025550100"))
    ]
    edited = response.content.replace(b"+12025550100", P1.encode())
    result = importer.import_leads(io.BytesIO(edited), importer.ImportOptions(dry_run=True))
    assert result.counts["created"] == 1 and not result.rejected


# --- Export -------------------------------------------------------------------------------------


def download(client, query: str) -> tuple[list[str], list[dict]]:
    response = client.get(f"/leads/export/?download=1&{query}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.streaming
    body = b"".join(response.streaming_content)
    assert body.startswith(codecs.BOM_UTF8)
    reader = csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline=""))
    return reader.fieldnames, list(reader)


def test_the_export_takes_the_tables_filters(client, staff, campaign):
    other = make_campaign("Autumn")
    make_lead(
        campaign, phone=P1, status=Status.COMPLETED, variables={"customer_name": "Sarah", "city": "Oslo"}
    )
    make_lead(campaign, phone=P2, status=Status.MAX_RETRIES, variables={"customer_name": "John"})
    make_lead(campaign, phone="+14155550105", variables={"customer_name": "Ann"})
    make_lead(other, phone=P3, status=Status.COMPLETED)
    client.force_login(staff)
    _, rows = download(client, f"campaign={campaign.pk}&status=completed&status=max_retries")
    assert sorted(r["phone"] for r in rows) == [P1, P2]
    _, rows = download(client, "q=sarah")
    assert [r["phone"] for r in rows] == [P1, P3]  # P3's default variables name Sarah Johnson
    _, rows = download(client, "var=city&value=osl")
    assert [r["phone"] for r in rows] == [P1]
    _, rows = download(client, "created_from=2000-01-01&created_to=2000-01-02")
    assert rows == []


def test_the_export_writes_the_chosen_columns_and_contacts(client, staff, campaign):
    make_lead(campaign, phone=P1, contacts=[P2])
    client.force_login(staff)
    header, rows = download(client, "columns=status&columns=customer_name&with_secondary=1")
    assert header == ["phone", "status", "customer_name", "secondary_1_phone"]
    assert rows == [
        {"phone": P1, "status": "created", "customer_name": "Sarah Johnson", "secondary_1_phone": P2}
    ]


def test_the_export_page_offers_columns_and_keeps_the_filters(client, staff, campaign):
    client.force_login(staff)
    response = client.get(f"/leads/export/?campaign={campaign.pk}&status=completed&q=x")
    assert response.status_code == 200
    page = response.content.decode()
    assert f'<input type="hidden" name="campaign" value="{campaign.pk}">' in page
    assert '<input type="hidden" name="status" value="completed">' in page
    assert 'value="customer_name"' in page and 'name="with_secondary"' in page


def test_the_export_refuses_bad_filters(client, staff):
    client.force_login(staff)
    assert client.get("/leads/export/?download=1&created_from=yesterday").status_code == 400


def test_the_tables_export_link_exports_exactly_the_rows_the_table_shows(client, staff, campaign):
    other = make_campaign("Autumn")
    make_lead(campaign, status="completed", variables={"customer_name": "Ann Lee", "city": "Oslo"})
    make_lead(campaign, status="created", variables={"customer_name": "Bo Berg", "city": "Oslo"})
    make_lead(other, status="completed", variables={"customer_name": "Cy Ode", "city": "Oslo"})
    client.force_login(staff)
    query = f"campaign={campaign.pk}&status=completed&status=created&var=city&value=osl&q=Oslo"
    table = client.get(f"/leads/?{query}")
    link = f'href="/leads/export/?{query.replace("&", "&amp;")}"'
    assert link in table.content.decode()
    shown = sorted(row.record.phone for row in table.context["table"].page.object_list)
    _, rows = download(client, query)
    assert sorted(row["phone"] for row in rows) == shown
    assert len(shown) == 2
