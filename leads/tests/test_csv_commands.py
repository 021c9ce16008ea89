"""The import_leads and export_leads commands: output, exit codes, filters."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import CommandError, call_command

from leadmgr.testing import make_campaign, make_lead
from leads import phones
from leads.csv import errors, xlsx
from leads.management.commands import export_leads, import_leads
from leads.models import Lead, Status

P1, P2 = "+14155550100", "+14155550101"


def write(tmp_path, text: str):
    path = tmp_path / "leads.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def call(name: str, *args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_import_prints_a_summary_and_exits_zero(campaign, tmp_path):
    path = write(tmp_path, f"phone,customer_name\n{P1},A\n{P2},B\n")
    code, out, err = call("import_leads", path, "--campaign", "Spring")
    assert (code, err) == (0, "")
    assert out == "2 rows: 2 created, 0 updated, 0 skipped (already in the campaign), 0 rejected.\n"
    assert Lead.objects.count() == 2


def test_import_lists_every_rejected_row_writes_nothing_and_exits_one(campaign, tmp_path):
    path = write(tmp_path, f"phone,customer_name\n{P1},A\n+1415,B\n{P2},\n")
    code, out, err = call("import_leads", path, "--campaign", "Spring")
    assert code == 1
    assert err.splitlines() == [
        f"{path}:3: [phone] " + phones.E_PHONE_INVALID.format(value="+1415"),
        f"{path}:4: [customer_name] Required variables are not set: customer_name.",
        "Nothing was written: fix the rows above, or use --skip-invalid.",
    ]
    assert out.startswith("3 rows: 1 created, 0 updated, 0 skipped (already in the campaign), 2 rejected.")
    assert not Lead.objects.exists()


def test_import_skip_invalid_writes_the_good_rows_and_still_exits_one(campaign, tmp_path):
    path = write(tmp_path, f"phone,customer_name\n{P1},A\n+1415,B\n")
    code, out, err = call("import_leads", path, "--campaign", "Spring", "--skip-invalid")
    assert code == 1
    assert list(Lead.objects.values_list("phone", flat=True)) == [P1]


def test_import_dry_run_writes_nothing(campaign, tmp_path):
    path = write(tmp_path, f"phone,customer_name\n{P1},A\n")
    code, out, _ = call("import_leads", path, "--campaign", "Spring", "--dry-run")
    assert code == 0
    assert out.strip().endswith("Dry run: nothing was written.")
    assert not Lead.objects.exists()


def test_import_updates_existing_leads_when_asked(campaign, tmp_path):
    make_lead(campaign, phone=P1, variables={"customer_name": "Old"})
    path = write(tmp_path, f"phone,customer_name\n{P1},New\n")
    code, out, _ = call("import_leads", path, "--campaign", "Spring", "--update-existing")
    assert code == 0 and "1 updated" in out
    assert Lead.objects.get().variables == {"customer_name": "New"}


def test_import_uses_the_region_for_national_numbers(campaign, tmp_path, settings):
    settings.LEADMGR_DEFAULT_REGION = None
    path = write(tmp_path, "phone,customer_name\n(415) 555-0100,A\n")
    assert call("import_leads", path, "--campaign", "Spring", "--region", "US")[0] == 0
    assert Lead.objects.get().phone == P1


def test_import_refuses_an_unknown_campaign(campaign, tmp_path):
    path = write(tmp_path, f"phone\n{P1}\n")
    with pytest.raises(CommandError) as exc:
        call_command("import_leads", path, "--campaign", "Nope")
    assert str(exc.value) == import_leads.E_NO_SUCH_CAMPAIGN.format(name="Nope", names="'Spring'")


def test_import_refuses_a_file_that_is_not_csv(campaign, tmp_path):
    # .xlsx is read as a workbook (by its extension): binary data anywhere else is not CSV.
    for name, message in (("leads.csv", errors.E_FILE_BINARY), ("leads.xlsx", xlsx.E_XLSX_UNREADABLE)):
        path = tmp_path / name
        path.write_bytes(b"PK\x03\x04\x00\x00binary")
        with pytest.raises(CommandError) as exc:
            call_command("import_leads", str(path), "--campaign", "Spring")
        assert str(exc.value) == f"{path}: {message}"


def test_import_refuses_a_missing_file(campaign, tmp_path):
    with pytest.raises(CommandError) as exc:
        call_command("import_leads", str(tmp_path / "nope.csv"))
    assert str(exc.value) == import_leads.E_NO_SUCH_FILE.format(path=tmp_path / "nope.csv")


def test_import_with_worker_processes(campaign, tmp_path):
    rows = "".join(f"+1415555{i:04d},N{i}\n" for i in range(1, 1500))
    path = write(tmp_path, f"phone,customer_name\n{rows}")
    assert call("import_leads", path, "--campaign", "Spring", "--workers", "2")[0] == 0
    assert Lead.objects.count() == 1499


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_export_streams_to_stdout_with_the_filters_of_the_table(campaign):
    other = make_campaign("Autumn")
    make_lead(campaign, phone=P1, status=Status.COMPLETED, variables={"customer_name": "Sarah Connor"})
    make_lead(campaign, phone=P2, variables={"customer_name": "John"})
    make_lead(other, phone="+14155550102", status=Status.COMPLETED)
    code, out, _ = call("export_leads", "--campaign", "Spring", "--status", "completed")
    assert code == 0
    assert [r["phone"] for r in rows_of(out)] == [P1]
    _, out, _ = call("export_leads", "--search", "connor")
    assert [r["phone"] for r in rows_of(out)] == [P1]
    _, out, _ = call("export_leads", "--status", "created,completed", "--created-from", "2000-01-01")
    assert len(rows_of(out)) == 3


def test_export_writes_chosen_columns_and_contacts_to_a_file(campaign, tmp_path):
    make_lead(campaign, phone=P1, contacts=[P2])
    target = tmp_path / "out.csv"
    code, out, _ = call(
        "export_leads", "--columns", "status,customer_name", "--with-secondary", "-o", str(target)
    )
    assert (code, out) == (0, "")
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines == ["phone,status,customer_name,secondary_1_phone", f"{P1},created,Sarah Johnson,{P2}"]


def test_export_refuses_bad_options(campaign):
    with pytest.raises(CommandError) as exc:
        call_command("export_leads", "--status", "done")
    assert str(exc.value).startswith("'done' is not a status")
    with pytest.raises(CommandError) as exc:
        call_command("export_leads", "--created-from", "yesterday")
    assert str(exc.value) == export_leads.E_BAD_DATE.format(option="--created-from", value="yesterday")
    with pytest.raises(CommandError) as exc:
        call_command("export_leads", "--campaign", "Nope")
    assert str(exc.value) == export_leads.E_NO_SUCH_CAMPAIGN.format(name="Nope")
