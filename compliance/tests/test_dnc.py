"""The do-not-call list: entries, removal, the batch selector, CSV import and export, commands."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance import dnc_csv, selectors, services
from compliance.hashing import number_hash
from compliance.models import DoNotCallEntry
from leadmgr.testing import make_campaign
from leads.csv.errors import CSVFileError

pytestmark = pytest.mark.django_db

A, B, C = "+14155550101", "+14155550102", "+14155550103"


def test_it_lists_a_number_in_any_human_form_as_e164(staff):
    entry = services.dnc_add(number="+1 (415) 555-0101", reason="asked by letter", user=staff)
    assert (entry.number, entry.campaign, entry.source, entry.reason, entry.added_by) == (
        A,
        None,
        "manual",
        "asked by letter",
        staff,
    )


def test_it_refuses_an_invalid_number_and_a_number_listed_twice_in_one_scope():
    with pytest.raises(ValidationError, match="is not a valid phone number"):
        services.dnc_add(number="+1 555")
    services.dnc_add(number=A)
    with pytest.raises(ValidationError) as exc:
        services.dnc_add(number=A)
    assert exc.value.messages == [f"{A} is already on the site-wide do-not-call list."]
    campaign = make_campaign()
    services.dnc_add(number=A, campaign=campaign)  # another scope: allowed
    assert DoNotCallEntry.objects.count() == 2


def test_blocked_numbers_answers_site_campaign_and_erased_numbers_in_one_query():
    spring, autumn = make_campaign("Spring"), make_campaign("Autumn")
    services.dnc_add(number=A)
    services.dnc_add(number=B, campaign=spring)
    DoNotCallEntry.objects.create(number_hash=number_hash(C), source="erasure", added_at="2026-01-01T00:00Z")
    with CaptureQueriesContext(connection) as queries:
        blocked = selectors.blocked_numbers([A, B, C, "+14155550104"], spring)
    assert len(queries) == 1  # one UNION of the site, campaign and hash probes
    assert blocked == {A: "manual", B: "manual", C: "erasure"}
    assert selectors.blocked_numbers([A, B, C], autumn) == {A: "manual", C: "erasure"}
    assert selectors.blocked_numbers([A, B], None) == {A: "manual"}


def test_a_removed_entry_no_longer_blocks_and_keeps_who_and_why(staff):
    entry = services.dnc_add(number=A)
    with pytest.raises(ValidationError, match="Say why"):
        services.dnc_remove(entry=entry, user=staff, reason=" ")
    services.dnc_remove(entry=entry, user=staff, reason="listed by mistake")
    entry.refresh_from_db()
    assert (entry.removed_by, entry.removal_reason) == (staff, "listed by mistake")
    assert entry.removed_at is not None
    assert selectors.blocked_numbers([A]) == {}
    with pytest.raises(ValidationError, match="already removed"):
        services.dnc_remove(entry=entry, user=staff, reason="again")
    services.dnc_add(number=A)  # listed again: a new entry
    assert DoNotCallEntry.objects.filter(number=A).count() == 2


def _csv(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode())


def test_import_is_strict_with_line_numbered_errors():
    result = dnc_csv.import_dnc(_csv("phone,reason\n+14155550101,x\n+1 555\n\n+14155550102,\n"))
    assert result.rejected == [
        (3, "'+1 555' is not a valid phone number: check the digits and the country code.")
    ]
    assert (result.rows, result.written) == (3, False)
    assert DoNotCallEntry.objects.count() == 0


def test_import_with_skip_invalid_writes_the_good_rows_and_counts_those_already_listed():
    services.dnc_add(number=A)
    result = dnc_csv.import_dnc(
        _csv("\ufeffPhone Number,Reason\n+14155550101,x\n+1 555,\n+14155550102,complaint\n+14155550102,\n"),
        skip_invalid=True,
    )
    assert (result.rows, result.added, result.already, len(result.rejected), result.written) == (
        4,
        1,
        2,
        1,
        True,
    )
    entry = DoNotCallEntry.objects.get(number=B)
    assert (entry.source, entry.reason) == ("import", "complaint")


def test_import_refuses_a_file_without_a_phone_column():
    with pytest.raises(CSVFileError, match="no phone column"):
        dnc_csv.import_dnc(_csv("name\nx\n"))


def test_export_imports_back_into_the_same_list(tmp_path):
    campaign = make_campaign()
    services.dnc_add(number=A, reason="=HYPERLINK(1)")
    services.dnc_add(number=B)
    services.dnc_add(number=C, campaign=campaign)
    text = "".join(dnc_csv.export_dnc())
    assert text.splitlines()[0] == "phone,campaign,source,reason,added_by,added_at"
    assert "'=HYPERLINK(1)" in text and C not in text
    DoNotCallEntry.objects.all().delete()
    result = dnc_csv.import_dnc(_csv(text))
    assert result.added == 2
    assert set(selectors.active_entries().values_list("number", flat=True)) == {A, B}


def test_the_commands_import_and_export_a_campaign_list(tmp_path, capsys):
    make_campaign("Spring")
    path = tmp_path / "dnc.csv"
    path.write_text("phone\n+14155550101\n(415) 555-0102\n")
    with pytest.raises(SystemExit) as exit_:
        call_command("import_dnc", str(path), "--campaign", "Spring")
    assert exit_.value.code == 1
    assert f"{path}:3: [phone]" in capsys.readouterr().err
    call_command("import_dnc", str(path), "--campaign", "Spring", "--region", "US")
    assert "2 rows: 2 added, 0 already listed, 0 rejected." in capsys.readouterr().out
    out = tmp_path / "out.csv"
    call_command("export_dnc", "-o", str(out), "--campaign", "Spring")
    assert [line.split(",")[:2] for line in out.read_text().splitlines()[1:]] == [
        [A, "Spring"],
        [B, "Spring"],
    ]
