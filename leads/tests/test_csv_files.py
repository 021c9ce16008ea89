"""Files as spreadsheets write them: CSV separated by ; tab or |, and Excel workbooks (.xlsx)."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError

from leadmgr.testing import ALL_DAY, make_campaign
from leads import csv_views
from leads.csv import columns, errors, importer, reader
from leads.csv import xlsx as workbook
from leads.models import CsvJob, Lead
from leads.tests.test_csv_commands import call
from leads.tests.test_csv_jobs import run_worker

P1, P2, P3 = "+14155550100", "+14155550101", "+14155550102"


@pytest.fixture(autouse=True)
def upload_dir(settings, tmp_path):
    settings.LEADMGR_IMPORT_DIR = tmp_path / "uploads"
    return settings.LEADMGR_IMPORT_DIR


def run(data: bytes, *, filename=None, delimiter=None, sheet=None, **options) -> importer.ImportResult:
    return importer.import_leads(
        io.BytesIO(data),
        importer.ImportOptions(**options),
        filename=filename,
        delimiter=delimiter,
        sheet=sheet,
    )


def stored() -> list[tuple]:
    return [(lead.phone, lead.variables) for lead in Lead.objects.order_by("id")]


def xlsx(rows, *, sheets: dict[str, list] | None = None) -> bytes:
    """A workbook whose first sheet holds ``rows`` (cells of any type Excel keeps)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Leads"
    for row in rows:
        sheet.append(row)
    for title, more in (sheets or {}).items():
        other = book.create_sheet(title)
        for row in more:
            other.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- Delimiters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delimiter", "name"), [(";", "semicolon"), ("\t", "tab"), ("|", "pipe"), (",", "comma")]
)
def test_the_delimiter_is_detected_from_the_header(campaign, delimiter, name):
    d = delimiter
    text = f"phone{d}customer_name{d}company\n{P1}{d}Sarah{d}Acme, Inc.\n{P2}{d}John{d}\n"
    if d == ",":
        text = text.replace("Acme, Inc.", '"Acme, Inc."')
    result = run(text.encode(), campaign=campaign)
    assert result.counts == {"rows": 2, "created": 2, "updated": 0, "skipped": 0, "rejected": 0}
    assert result.source == f"CSV, {name}-separated (detected from the header)"
    assert stored() == [
        (P1, {"customer_name": "Sarah", "company": "Acme, Inc."}),
        (P2, {"customer_name": "John"}),
    ]


def test_a_quoted_header_name_with_commas_does_not_fool_the_detection(campaign):
    text = f'phone;"customer_name";company\n{P1};"Sarah, the boss";Acme\n'
    assert reader.detect_delimiter(b'"a,b,c";phone;x\n1,2,3,4,5,6') == ";"
    result = run(text.encode(), campaign=campaign)
    assert stored() == [(P1, {"customer_name": "Sarah, the boss", "company": "Acme"})]
    assert result.source == "CSV, semicolon-separated (detected from the header)"


def test_a_chosen_delimiter_wins_over_the_detection(campaign):
    result = run(f"phone|customer_name\n{P1}|Sarah\n".encode(), campaign=campaign, delimiter="|")
    assert result.source == "CSV, pipe-separated (as chosen)"
    # Told it is comma-separated, a semicolon file is one column: the choice is obeyed.
    with pytest.raises(errors.CSVFileError) as exc:
        run(f"phone;customer_name\n{P1};Sarah\n".encode(), campaign=campaign, delimiter=",")
    assert exc.value.message == errors.E_BAD_COLUMN.format(
        name="phone;customer_name", suggestion="phone_customer_name"
    )


def test_an_unknown_delimiter_is_refused(campaign):
    with pytest.raises(errors.CSVFileError) as exc:
        run(f"phone\n{P1}\n".encode(), campaign=campaign, delimiter=":")
    assert exc.value.message == errors.E_BAD_DELIMITER.format(value=":")


def upload(client, name: str, data: bytes, **fields):
    post = {"file": SimpleUploadedFile(name, data), "duplicates": "skip"}
    post.update(fields)
    return client.post("/leads/import/", post)


def token_of(client) -> str:
    [token] = client.session[csv_views.SESSION_KEY]
    return token


def test_the_preview_of_a_semicolon_file_says_so_and_confirm_imports_it(client, staff, campaign):
    client.force_login(staff)
    response = upload(
        client, "leads.csv", f"phone;customer_name\n{P1};Sarah\n".encode(), campaign=campaign.pk
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Read as: CSV, semicolon-separated (detected from the header)." in page
    assert [(r.phone, r.variables) for r in response.context["result"].preview] == [
        (P1, {"customer_name": "Sarah"})
    ]
    assert client.post(f"/leads/import/{token_of(client)}/confirm/").status_code == 302
    assert stored() == [(P1, {"customer_name": "Sarah"})]


def test_the_upload_form_offers_the_delimiter_and_uses_the_chosen_one(client, staff, campaign):
    client.force_login(staff)
    page = client.get("/leads/import/").content.decode()
    assert '<select name="delimiter"' in page and '<option value="tab">Tab</option>' in page
    response = upload(
        client,
        "leads.tsv",
        f"phone\tcustomer_name\n{P1}\tSarah\n".encode(),
        campaign=campaign.pk,
        delimiter="tab",
    )
    assert "Read as: CSV, tab-separated (as chosen)." in response.content.decode()
    client.post(f"/leads/import/{token_of(client)}/confirm/")
    assert stored() == [(P1, {"customer_name": "Sarah"})]


def test_import_leads_takes_a_delimiter_or_detects_it(campaign, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(f"phone;customer_name\n{P1};Sarah\n")
    assert call("import_leads", str(path), "--campaign", "Spring", "--dry-run")[0] == 0
    path.write_text(f"phone|customer_name\n{P1}|Sarah\n")
    code, out, _ = call("import_leads", str(path), "--campaign", "Spring", "--delimiter", "|")
    assert (code, stored()) == (0, [(P1, {"customer_name": "Sarah"})])
    with pytest.raises(CommandError) as exc:
        call("import_leads", str(path), "--campaign", "Spring", "--delimiter", "x")
    assert str(exc.value) == f"{path}: " + errors.E_BAD_DELIMITER.format(value="x")


# --- Excel import -------------------------------------------------------------------------------


def test_an_xlsx_file_imports_through_the_same_checks_with_its_row_numbers(campaign):
    data = xlsx(
        [
            ["phone", "customer_name", "company", "since", "secondary_1_phone"],
            [14155550100, "Sarah", 42, dt.datetime(2026, 5, 1), 14155550101.0],
            [],  # an empty row: skipped, but the numbering is the sheet's
            ["+14155550102", "John", 3.5, dt.datetime(2026, 5, 1, 14, 30), None],
            ["+1415", "X", None, None, None],
        ]
    )
    result = run(data, campaign=campaign, filename="leads.xlsx")
    assert result.source == "Excel workbook, sheet 'Leads'"
    assert [(e.line, e.column) for r in result.rejected for e in r.errors] == [(5, "phone")]
    assert result.rows == 3 and not result.written
    result = run(data, campaign=campaign, filename="LEADS.XLSX", skip_invalid=True)
    assert result.written
    assert stored() == [
        (P1, {"customer_name": "Sarah", "company": "42", "since": "2026-05-01"}),
        (P3, {"customer_name": "John", "company": "3.5", "since": "2026-05-01T14:30:00"}),
    ]
    assert list(Lead.objects.get(phone=P1).contacts.values_list("phone", flat=True)) == [P2]


def test_number_cells_keep_every_digit_and_with_a_region_are_national_numbers(campaign):
    data = xlsx([["phone", "customer_name"], [4155550100, "Sarah"], [14155550101.0, "John"]])
    result = run(data, campaign=campaign, filename="x.xlsx", region="US")
    assert result.written and [p for p, _ in stored()] == [P1, P2]


def test_a_chosen_sheet_is_read_and_a_missing_one_is_named(campaign):
    data = xlsx([["nothing here"]], sheets={"March": [["phone", "customer_name"], [P1, "Sarah"]]})
    result = run(data, campaign=campaign, filename="x.xlsx", sheet="March")
    assert result.written and result.source == "Excel workbook, sheet 'March'"
    with pytest.raises(errors.CSVFileError) as exc:
        run(data, campaign=campaign, filename="x.xlsx", sheet="April")
    assert exc.value.message == workbook.E_XLSX_NO_SHEET.format(name="April", names="'Leads', 'March'")


@pytest.mark.parametrize("data", [b"PK\x03\x04\x00\x00", b"phone\n+14155550100\n", b""])
def test_a_file_named_xlsx_that_is_not_a_workbook_is_refused(campaign, data):
    with pytest.raises(errors.CSVFileError) as exc:
        run(data, campaign=campaign, filename="x.xlsx")
    assert exc.value.message == workbook.E_XLSX_UNREADABLE


def test_an_xlsx_header_only_or_empty_sheet_says_so(campaign):
    for rows, message in (
        ([], errors.E_FILE_EMPTY),
        ([["phone", "customer_name"]], errors.E_FILE_HEADER_ONLY),
    ):
        with pytest.raises(errors.CSVFileError) as exc:
            run(xlsx(rows), campaign=campaign, filename="x.xlsx")
        assert exc.value.message == message


def test_the_upload_page_previews_and_imports_an_xlsx_file(client, staff, campaign):
    client.force_login(staff)
    data = xlsx([["phone", "customer_name"], [14155550100, "Sarah"]])
    response = upload(client, "March leads.xlsx", data, campaign=campaign.pk)
    assert response.status_code == 200
    assert "Read as: Excel workbook, sheet &#x27;Leads&#x27;." in response.content.decode()
    assert client.post(f"/leads/import/{token_of(client)}/confirm/").status_code == 302
    assert stored() == [(P1, {"customer_name": "Sarah"})]


def test_a_big_xlsx_file_is_previewed_and_imported_by_background_jobs(client, staff, campaign, settings):
    settings.LEADMGR_IMPORT_BACKGROUND_BYTES = 1
    client.force_login(staff)
    data = xlsx([["phone", "customer_name"], [14155550100, "Sarah"], [14155550101, "John"]])
    response = upload(client, "big.xlsx", data, campaign=campaign.pk)
    preview = CsvJob.objects.get(kind=CsvJob.Kind.PREVIEW)
    assert response["Location"] == f"/leads/import/jobs/{preview.pk}/"
    assert run_worker() == 1
    page = client.get(response["Location"]).content.decode()
    assert "Read as: Excel workbook, sheet &#x27;Leads&#x27;." in page and "Import 2 new" in page
    response = client.post(f"/leads/import/{token_of(client)}/confirm/")
    assert run_worker() == 1
    assert [p for p, _ in stored()] == [P1, P2]


def test_import_leads_reads_an_xlsx_file_by_its_extension(campaign, tmp_path):
    path = tmp_path / "leads.xlsx"
    path.write_bytes(xlsx([["phone", "customer_name"], [14155550100, "Sarah"], ["+1415", "X"]]))
    code, out, err = call("import_leads", str(path), "--campaign", "Spring")
    assert code == 1 and f"{path}:3: [phone]" in err
    code, out, err = call("import_leads", str(path), "--campaign", "Spring", "--skip-invalid")
    assert code == 1 and stored() == [(P1, {"customer_name": "Sarah"})]
    other = make_campaign("Autumn")
    path.write_bytes(xlsx([["x"]], sheets={"Two": [["phone", "customer_name"], [P2, "Ann"]]}))
    code, out, err = call("import_leads", str(path), "--campaign", other.name, "--sheet", "Two")
    assert code == 0 and Lead.objects.filter(campaign=other).count() == 1


# --- Excel export and samples -------------------------------------------------------------------


def read_xlsx(data: bytes) -> list[list]:
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return [["" if v is None else v for v in row] for row in book.worksheets[0].iter_rows(values_only=True)]


def test_the_export_page_downloads_the_same_columns_as_an_xlsx_workbook(client, staff, campaign):
    from leadmgr.testing import make_lead

    make_lead(
        campaign, phone=P1, variables={"customer_name": "=HYPERLINK(1)", "company": "-5"}, contacts=[P2]
    )
    make_lead(campaign, phone=P3, variables={"customer_name": "Ann\x07 Lee"})
    client.force_login(staff)
    assert 'name="format" value="xlsx"' in client.get("/leads/export/").content.decode()
    csv_body = b"".join(client.get("/leads/export/?download=1&with_secondary=1").streaming_content)
    response = client.get("/leads/export/?download=1&with_secondary=1&format=xlsx")
    assert response.status_code == 200
    assert response["Content-Type"] == workbook.XLSX_CONTENT_TYPE
    assert response["Content-Disposition"].startswith('attachment; filename="leads-')
    assert response["Content-Disposition"].endswith('.xlsx"')
    rows = read_xlsx(b"".join(response.streaming_content))
    import csv as csv_module

    csv_rows = list(csv_module.reader(io.StringIO(csv_body.decode("utf-8-sig"), newline="")))
    assert rows[0] == csv_rows[0]
    # The same cells, formula triggers neutralised and stored as text (id and attempts as numbers).
    assert [[str(c) for c in row] for row in rows[1:]] == [
        [c.replace("\x07", "") for c in row] for row in csv_rows[1:]
    ]
    book = openpyxl.load_workbook(
        io.BytesIO(
            b"".join(client.get("/leads/export/?download=1&with_secondary=1&format=xlsx").streaming_content)
        )
    )
    cells = [c for row in book.worksheets[0].iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert "'=HYPERLINK(1)" in [c.value for c in cells] and "'-5" in [c.value for c in cells]


def test_an_exported_workbook_imports_back_into_equal_leads(campaign, tmp_path):
    from leadmgr.testing import make_lead

    make_lead(campaign, phone=P1, variables={"customer_name": "=Sarah", "company": "+Acme"}, contacts=[P2])
    path = tmp_path / "out.xlsx"
    assert call("export_leads", "--with-secondary", "-o", str(path))[0] == 0
    before = [
        (lead.phone, lead.variables, [c.phone for c in lead.contacts.all()]) for lead in Lead.objects.all()
    ]
    Lead.objects.all().delete()
    code, out, err = call("import_leads", str(path))
    assert (code, err) == (0, "")
    after = [
        (lead.phone, lead.variables, [c.phone for c in lead.contacts.all()]) for lead in Lead.objects.all()
    ]
    assert after == before == [(P1, {"customer_name": "=Sarah", "company": "+Acme"}, [P2])]


def test_export_leads_writes_xlsx_by_extension_or_format(campaign, tmp_path):
    from leadmgr.testing import make_lead

    make_lead(campaign, phone=P1)
    for args, name in ((["-o"], "a.xlsx"), (["--format", "xlsx", "-o"], "b.bin")):
        path = tmp_path / name
        assert call("export_leads", *args, str(path))[0] == 0
        rows = read_xlsx(path.read_bytes())
        assert rows[0][:4] == ["id", "phone", "campaign", "status"] and rows[1][1:4] == [
            P1,
            "Spring",
            "created",
        ]


def test_each_campaign_has_a_sample_xlsx_refused_when_unchanged(client, staff, campaign):
    client.force_login(staff)
    page = client.get("/leads/import/").content.decode()
    assert f'href="/leads/import/sample/{campaign.pk}.xlsx"' in page
    response = client.get(f"/leads/import/sample/{campaign.pk}.xlsx")
    assert response["Content-Type"] == workbook.XLSX_CONTENT_TYPE
    assert response["Content-Disposition"] == f'attachment; filename="sample-{campaign.pk}.xlsx"'
    assert read_xlsx(response.content) == [
        ["phone", "campaign", "status", "customer_name", "company", "secondary_1_phone"],
        [columns.SAMPLE_PHONE, "Spring", "created", "example customer_name", "example company", ""],
    ]
    result = run(response.content, filename="sample.xlsx", dry_run=True)
    assert [e.message for r in result.rejected for e in r.errors] == [
        errors.E_SAMPLE_ROW.format(phone="+12025550100")
    ]


def test_the_sample_phone_is_reserved_for_fiction_and_still_valid():
    import phonenumbers

    number = phonenumbers.parse(columns.SAMPLE_PHONE)
    assert phonenumbers.is_valid_number(number)
    assert columns.SAMPLE_PHONE[-7:-2] == "55501"  # NANP 555-0100..0199: fictional use only


# --- Banners, Back, running campaigns -----------------------------------------------------------


def test_the_rejected_rows_banner_is_said_once(client, staff, campaign):
    client.force_login(staff)
    upload(
        client,
        "bad.csv",
        f"phone,customer_name\n{P1},Sarah\n+1415,X\n".encode(),
        campaign=campaign.pk,
        skip_invalid="on",
    )
    token = token_of(client)
    client.post(f"/leads/import/{token}/confirm/")
    banner = "bad.csv: 1 row(s) were rejected."
    assert banner in client.get("/leads/import/").content.decode()
    later = client.get("/leads/import/").content.decode()
    assert banner not in later
    assert client.get(f"/leads/import/{token}/rejected.csv").status_code == 200  # still offered


def test_back_to_a_background_preview_after_its_import_says_it_was_done(client, staff, campaign, settings):
    settings.LEADMGR_IMPORT_BACKGROUND_BYTES = 1
    client.force_login(staff)
    response = upload(
        client, "leads.csv", f"phone,customer_name\n{P1},Sarah\n".encode(), campaign=campaign.pk
    )
    preview_url = response["Location"]
    run_worker()
    token = token_of(client)
    client.post(f"/leads/import/{token}/confirm/")
    run_worker()
    response = client.get(preview_url)  # Back
    assert response.status_code == 200
    page = response.content.decode()
    assert csv_views.E_ALREADY_IMPORTED in page
    assert f'href="/leads/?campaign={campaign.pk}"' in page
    response = client.post(f"/leads/import/{token}/confirm/")  # and Confirm once more
    assert response.status_code == 409 and csv_views.E_ALREADY_IMPORTED in response.content.decode()
    assert Lead.objects.count() == 1


def _open_window_campaign(name: str, state):
    return make_campaign(name, state=state, **ALL_DAY)


def test_the_preview_of_an_import_into_a_running_campaign_says_who_will_be_called(client, staff, any_hour):
    running = _open_window_campaign("Live", "running")
    client.force_login(staff)
    text = f"phone,customer_name,status\n{P1},Sarah,\n{P2},John,\n{P3},Ann,completed\n"
    response = upload(client, "leads.csv", text.encode(), campaign=running.pk)
    assert response.context["result"].called_at_once == {"Live": 2}
    page = response.content.decode()
    assert csv_views.W_CALLED_AT_ONCE.format(n=2, campaign="Live") in page


def test_no_warning_for_a_paused_campaign_or_a_closed_window(client, staff):
    paused = _open_window_campaign("Quiet", "paused")
    closed = make_campaign("Closed", state="running", calling_days=[])
    client.force_login(staff)
    for campaign in (paused, closed):
        response = upload(
            client, "leads.csv", f"phone,customer_name\n{P1},Sarah\n".encode(), campaign=campaign.pk
        )
        assert response.context["result"].called_at_once == {}
        assert "will be called as soon as you confirm" not in response.content.decode()


@pytest.mark.parametrize(
    "rules",
    [
        {"floor_days": []},  # the legal floor: no calls on any day
        {"region": ("+1415", [])},  # San Francisco's area code: no calls on any day
    ],
    ids=["legal-floor", "region"],
)
def test_no_warning_when_the_legal_hours_keep_the_number_from_being_called(client, staff, any_hour, rules):
    """The preview asks the hours the runner applies, not only the campaign's own window."""
    from compliance.models import CallingRules, RegionRule

    if "floor_days" in rules:
        CallingRules.objects.filter(pk=1).update(floor_days=rules["floor_days"])
    else:
        prefix, days = rules["region"]
        RegionRule.objects.create(
            name="Closed", country="US", prefixes=prefix, days=days, start=dt.time(9), end=dt.time(17)
        )
    running = _open_window_campaign("Live", "running")
    client.force_login(staff)
    response = upload(client, "leads.csv", f"phone,customer_name\n{P1},Sarah\n".encode(), campaign=running.pk)
    assert response.context["result"].counts["created"] == 1
    assert response.context["result"].called_at_once == {}
    assert "will be called as soon as you confirm" not in response.content.decode()


def test_a_workbook_read_by_a_process_of_its_own_gives_the_same_rows_and_lines(campaign, monkeypatch):
    monkeypatch.setattr(workbook, "READER_CHUNK", 2)  # several messages for a short sheet
    rows = [["phone", "customer_name"]] + [[14155550100 + i, f"Name {i}"] for i in range(7)]
    rows.insert(4, [])
    rows.append(["+1415", "X"])
    data = xlsx(rows)
    results = [run(data, campaign=campaign, filename="x.xlsx", workers=w, dry_run=True) for w in (0, 1)]
    expected = {"rows": 8, "created": 7, "updated": 0, "skipped": 0, "rejected": 1}
    assert [r.counts for r in results] == [expected, expected]
    assert [[(e.line, e.column) for x in r.rejected for e in x.errors] for r in results] == [
        [(10, "phone")]
    ] * 2
    result = run(data, campaign=campaign, filename="x.xlsx", workers=1, skip_invalid=True)
    assert result.written and Lead.objects.count() == 7
