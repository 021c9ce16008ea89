"""Import of the contract's CSV format: each rule with its message, strictness, duplicates, files."""

from __future__ import annotations

import codecs
import datetime as dt
import io

import pytest
from django.db import connection
from django.utils import timezone

from leadmgr.testing import make_assistant, make_campaign, make_lead
from leads import lifecycle, phones, services
from leads import variables as lead_variables
from leads.csv import errors, importer
from leads.models import Lead, SecondaryContact, Status, StatusChange

P1, P2, P3, P4 = "+14155550100", "+14155550101", "+14155550102", "+14155550103"


def run(text: str | bytes, **options) -> importer.ImportResult:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return importer.import_leads(io.BytesIO(data), importer.ImportOptions(**options))


def errors_of(result: importer.ImportResult) -> list[tuple[int, str, str]]:
    return [(e.line, e.column, e.message) for r in result.rejected for e in r.errors]


def file_error(text: str | bytes, **options) -> str:
    with pytest.raises(errors.CSVFileError) as exc:
        run(text, **options)
    return exc.value.message


def stored(campaign=None) -> list[tuple]:
    leads = Lead.objects.order_by("id")
    if campaign is not None:
        leads = leads.filter(campaign=campaign)
    return [
        (
            lead.phone,
            lead.campaign.name,
            lead.status,
            lead.variables,
            [(c.phone, c.variables) for c in lead.contacts.order_by("position")],
        )
        for lead in leads
    ]


# --- What a row becomes -------------------------------------------------------------------------


def test_it_imports_leads_with_variables_and_secondary_contacts_in_order(campaign):
    result = run(
        "phone,campaign,customer_name,company,secondary_1_phone,secondary_1_role,secondary_2_phone\n"
        f"{P1},Spring,Sarah Johnson,TechStart,{P2},CTO,{P3}\n"
        f"{P4},Spring,John Smith,,,,\n"
    )
    assert result.counts == {"rows": 2, "created": 2, "updated": 0, "skipped": 0, "rejected": 0}
    assert result.written
    assert stored() == [
        (
            P1,
            "Spring",
            "created",
            {"customer_name": "Sarah Johnson", "company": "TechStart"},
            [(P2, {"role": "CTO"}), (P3, {})],
        ),
        (P4, "Spring", "created", {"customer_name": "John Smith"}, []),
    ]


def test_an_empty_cell_means_the_variable_is_not_set(campaign):
    run(f"phone,customer_name,company,industry\n{P1},Sarah,,  \n", campaign=campaign)
    assert Lead.objects.get().variables == {"customer_name": "Sarah"}


@pytest.mark.parametrize(
    "header",
    ["phone", "phone_number", "Phone Number", "NUMBER", "contact-number", "To_Number", " to number "],
)
def test_it_accepts_the_phone_column_of_other_calling_tools(campaign, header):
    run(f"{header},customer_name\n{P1},Sarah\n", campaign=campaign)
    assert Lead.objects.get().phone == P1


@pytest.mark.parametrize(
    "header", ["secondary_phone_1", "Secondary Phone 1", "secondary-1-phone", "SECONDARY_1_PHONE"]
)
def test_it_accepts_secondary_phone_n_and_its_spellings(campaign, header):
    run(f"phone,customer_name,{header}\n{P1},Sarah,{P2}\n", campaign=campaign)
    assert list(SecondaryContact.objects.values_list("phone", flat=True)) == [P2]


def test_it_normalises_phones_and_strips_a_spreadsheets_leading_quote(campaign):
    run(
        "phone,customer_name,company,secondary_1_phone\n'+1 (415) 555-0100,'Sarah,'=1+2,'+1 415 555 0101\n",
        campaign=campaign,
    )
    lead = Lead.objects.get()
    assert lead.phone == P1
    assert lead.variables == {"customer_name": "Sarah", "company": "=1+2"}
    assert lead.contacts.get().phone == P2


def test_it_ignores_the_columns_export_adds_but_next_attempt_at(campaign):
    run(
        "id,phone,attempts,created_at,updated_at,customer_name\n"
        f"99,{P1},7,2020-01-01T00:00:00+00:00,2020-01-01T00:00:00+00:00,Sarah\n",
        campaign=campaign,
    )
    lead = Lead.objects.get()
    assert (lead.pk != 99 or Lead.objects.count() == 1, lead.attempts) == (True, 0)
    assert lead.variables == {"customer_name": "Sarah"}
    assert lead.created_at.year == timezone.now().year


def test_extra_columns_are_lead_variables_and_missing_optional_columns_are_fine(campaign):
    run(f"phone,customer_name,favourite_colour\n{P1},Sarah,teal\n", campaign=campaign)
    assert Lead.objects.get().variables == {"customer_name": "Sarah", "favourite_colour": "teal"}


# --- Status and next_attempt_at -----------------------------------------------------------------


@pytest.mark.parametrize(
    "cell, status",
    [
        ("", Status.CREATED),
        ("created", Status.CREATED),
        ("Completed", Status.COMPLETED),
        ("max_retries", Status.MAX_RETRIES),
        ("Max Retries", Status.MAX_RETRIES),
        ("RESCHEDULED", Status.RESCHEDULED),
        ("scheduled", Status.SCHEDULED),
    ],
)
def test_status_is_a_slug_or_a_label_and_empty_means_created(campaign, cell, status):
    run(f"phone,status,customer_name\n{P1},{cell},Sarah\n", campaign=campaign)
    assert Lead.objects.get().status == status


def test_it_refuses_processing(campaign):
    result = run(f"phone,status,customer_name\n{P1},processing,Sarah\n", campaign=campaign)
    assert errors_of(result) == [(2, "status", lifecycle.E_STATUS_PROCESSING)]
    assert not Lead.objects.exists()


def test_it_refuses_an_unknown_status(campaign):
    result = run(f"phone,status,customer_name\n{P1},done,Sarah\n", campaign=campaign)
    choices = "created, scheduled, rescheduled, completed, max_retries"
    assert errors_of(result) == [(2, "status", errors.E_STATUS_UNKNOWN.format(value="done", choices=choices))]


def test_next_attempt_at_is_kept_for_scheduled_and_defaults_for_rescheduled(campaign):
    before = timezone.now()
    run(
        "phone,status,next_attempt_at,customer_name\n"
        f"{P1},scheduled,2026-12-01T09:30:00+01:00,A\n"
        f"{P2},rescheduled,,B\n"
        f"{P3},scheduled,,C\n",
        campaign=campaign,
    )
    by_phone = {lead.phone: lead for lead in Lead.objects.all()}
    assert by_phone[P1].next_attempt_at == dt.datetime(2026, 12, 1, 8, 30, tzinfo=dt.UTC)
    assert by_phone[P2].next_attempt_at >= before + campaign.retry_interval
    assert by_phone[P2].next_attempt_at <= timezone.now() + campaign.retry_interval
    assert before <= by_phone[P3].next_attempt_at <= timezone.now()


def test_next_attempt_at_goes_only_with_scheduled_or_rescheduled(campaign):
    result = run(
        f"phone,status,next_attempt_at,customer_name\n{P1},completed,2026-12-01T09:30:00Z,A\n",
        campaign=campaign,
    )
    assert errors_of(result) == [(2, "next_attempt_at", lifecycle.E_NEXT_AT_STATUS)]


def test_it_refuses_a_next_attempt_at_that_is_not_iso_8601(campaign):
    result = run(
        f"phone,status,next_attempt_at,customer_name\n{P1},scheduled,next tuesday,A\n", campaign=campaign
    )
    assert errors_of(result) == [
        (2, "next_attempt_at", errors.E_NEXT_AT_INVALID.format(value="next tuesday"))
    ]


def test_an_imported_status_other_than_created_is_recorded_in_the_history(campaign, staff):
    run(f"phone,status,customer_name\n{P1},completed,A\n{P2},,B\n", campaign=campaign, user=staff)
    assert list(
        StatusChange.objects.values_list("lead__phone", "from_status", "to_status", "user", "reason")
    ) == [(P1, "", "completed", staff.pk, lifecycle.REASON_IMPORTED)]


# --- Phones -------------------------------------------------------------------------------------


def test_it_reports_an_invalid_phone_with_its_line_and_column(campaign):
    result = run(f"phone,customer_name\n{P1},A\n+1415,B\n", campaign=campaign)
    assert errors_of(result) == [(3, "phone", phones.E_PHONE_INVALID.format(value="+1415"))]


def test_a_national_number_needs_a_region(campaign, settings):
    settings.LEADMGR_DEFAULT_REGION = None
    text = "phone,customer_name\n(415) 555-0100,A\n"
    result = run(text, campaign=campaign)
    assert errors_of(result) == [(2, "phone", phones.E_PHONE_NEEDS_COUNTRY.format(value="(415) 555-0100"))]
    run(text, campaign=campaign, region="US")
    assert Lead.objects.get().phone == P1


def test_an_unknown_region_is_a_file_error(campaign):
    assert file_error(f"phone\n{P1}\n", campaign=campaign, region="XX") == phones.E_REGION_UNKNOWN.format(
        region="XX"
    )


def test_a_secondary_phone_must_differ_from_the_primary_and_from_the_others(campaign):
    result = run(
        "phone,customer_name,secondary_1_phone,secondary_2_phone,secondary_3_phone\n"
        f"{P1},A,{P1},{P2},+1 415 555 0101\n",
        campaign=campaign,
    )
    assert errors_of(result) == [
        (2, "secondary_1_phone", services.E_CONTACT_IS_PRIMARY.format(phone=P1)),
        (2, "secondary_3_phone", services.E_CONTACT_REPEATED.format(phone=P2, n=2)),
    ]


def test_an_invalid_secondary_phone_names_its_column(campaign):
    result = run(f"phone,customer_name,secondary_phone_1\n{P1},A,12\n", campaign=campaign)
    assert errors_of(result) == [(2, "secondary_phone_1", phones.E_PHONE_NEEDS_COUNTRY.format(value="12"))]


def test_secondary_variables_need_a_secondary_phone(campaign):
    result = run(f"phone,customer_name,secondary_1_phone,secondary_1_role\n{P1},A,,CTO\n", campaign=campaign)
    assert errors_of(result) == [(2, "secondary_1_phone", errors.E_CONTACT_VARS_WITHOUT_PHONE.format(n=1))]


def test_an_empty_primary_phone_is_rejected(campaign):
    result = run("phone,customer_name\n,A\n", campaign=campaign)
    assert errors_of(result) == [(2, "phone", phones.E_PHONE_EMPTY)]


# --- Campaigns and variables --------------------------------------------------------------------


def test_the_campaign_column_names_an_existing_campaign(campaign):
    result = run(f"phone,campaign,customer_name\n{P1},Autumn,A\n{P2},,B\n")
    assert errors_of(result) == [
        (2, "campaign", errors.E_CAMPAIGN_UNKNOWN.format(name="Autumn")),
        (3, "campaign", errors.E_CAMPAIGN_EMPTY),
    ]


def test_without_a_campaign_column_the_import_must_name_the_campaign(campaign):
    assert file_error(f"phone,customer_name\n{P1},A\n") == errors.E_NO_CAMPAIGN


def test_a_row_for_another_campaign_than_the_chosen_one_is_rejected(campaign):
    make_campaign("Autumn")
    result = run(f"phone,campaign,customer_name\n{P1},Autumn,A\n{P2},Spring,B\n", campaign=campaign)
    assert errors_of(result) == [
        (2, "campaign", errors.E_CAMPAIGN_OTHER.format(name="Autumn", chosen="Spring"))
    ]


def test_rows_go_to_the_campaign_each_names(campaign):
    make_campaign("Autumn")
    run(f"phone,campaign,customer_name\n{P1},Autumn,A\n{P1},Spring,B\n")
    assert sorted(Lead.objects.values_list("campaign__name", "phone")) == [("Autumn", P1), ("Spring", P1)]


def test_required_variables_must_be_set_after_defaults(db):
    assistant = make_assistant(
        "Reminder",
        variables=[("customer_name", "", True), ("clinic", "Greenleaf", True), ("note", "", False)],
    )
    campaign = make_campaign("Dental", assistant=assistant)
    result = run(f"phone,customer_name,clinic\n{P1},,\n{P2},Sarah,\n", campaign=campaign)
    assert errors_of(result) == [
        (2, "customer_name", lead_variables.E_MISSING_REQUIRED.format(names="customer_name"))
    ]


# --- Duplicates ---------------------------------------------------------------------------------


def test_a_phone_twice_in_the_file_is_rejected_on_its_second_line(campaign):
    result = run(f"phone,customer_name\n{P1},A\n{P2},B\n+1 415 555 0100,C\n", campaign=campaign)
    assert errors_of(result) == [
        (4, "phone", errors.E_DUPLICATE_IN_FILE.format(phone=P1, line=2, campaign="Spring"))
    ]


def test_an_existing_phone_is_skipped_by_default(campaign):
    make_lead(campaign, phone=P1, variables={"customer_name": "Old"})
    result = run(f"phone,customer_name\n{P1},New\n{P2},B\n", campaign=campaign)
    assert result.counts == {"rows": 2, "created": 1, "updated": 0, "skipped": 1, "rejected": 0}
    assert Lead.objects.get(phone=P1).variables == {"customer_name": "Old"}


def test_an_existing_phone_has_its_variables_updated_when_asked(campaign):
    lead = make_lead(campaign, phone=P1, variables={"customer_name": "Old", "company": "Keep"})
    result = run(
        f"phone,customer_name,role\n{P1},New,CEO\n{P2},B,\n", campaign=campaign, update_existing=True
    )
    assert result.counts == {"rows": 2, "created": 1, "updated": 1, "skipped": 0, "rejected": 0}
    lead.refresh_from_db()
    assert lead.variables == {"customer_name": "New", "company": "Keep", "role": "CEO"}
    assert Lead.objects.count() == 2


def test_an_update_is_checked_against_the_merged_variables(campaign):
    make_lead(campaign, phone=P1, variables={"customer_name": "Old"})
    result = run(f"phone,customer_name,company\n{P1},,Acme\n", campaign=campaign, update_existing=True)
    assert result.counts["updated"] == 1
    assert Lead.objects.get().variables == {"customer_name": "Old", "company": "Acme"}


# --- Strict and skip-invalid --------------------------------------------------------------------


def test_strict_import_writes_nothing_when_one_row_is_invalid(campaign):
    rows = "".join(f"+1415555{i:04d},Name {i}\n" for i in range(1, 2500))
    result = run(f"phone,customer_name\n{rows}+1415,Bad\n", campaign=campaign, batch_size=500)
    assert result.counts["rejected"] == 1 and result.created == 2499
    assert not result.written
    assert not Lead.objects.exists()
    assert result.summary().endswith("Nothing was written.")


def test_skip_invalid_writes_the_good_rows_and_reports_the_bad(campaign):
    result = run(f"phone,customer_name\n{P1},A\n+1415,B\n{P2},C\n", campaign=campaign, skip_invalid=True)
    assert result.written
    assert sorted(Lead.objects.values_list("phone", flat=True)) == [P1, P2]
    assert errors_of(result) == [(3, "phone", phones.E_PHONE_INVALID.format(value="+1415"))]


def test_a_dry_run_writes_nothing_and_counts_what_would_happen(campaign):
    make_lead(campaign, phone=P1)
    result = run(f"phone,customer_name\n{P1},A\n{P2},B\n", campaign=campaign, dry_run=True)
    assert result.counts == {"rows": 2, "created": 1, "updated": 0, "skipped": 1, "rejected": 0}
    assert not result.written
    assert Lead.objects.count() == 1


def test_it_writes_nothing_when_the_counts_differ_from_the_preview(campaign):
    result = run(
        f"phone,customer_name\n{P1},A\n",
        campaign=campaign,
        expect={"created": 0, "updated": 0, "skipped": 1, "rejected": 0},
    )
    assert not result.written and not Lead.objects.exists()
    assert result.error == errors.E_CHANGED_SINCE_PREVIEW.format(
        previewed="0 created, 0 updated, 1 skipped, 0 rejected",
        now="1 created, 0 updated, 0 skipped, 0 rejected",
    )


def test_the_rejected_rows_come_back_as_csv_with_a_reason(campaign):
    result = run(
        f"phone,customer_name,company\n{P1},A,x\n+1415,=cmd(),y\n{P2},,z\n",
        campaign=campaign,
        skip_invalid=True,
    )
    text = "".join(importer.rejected_csv(result))
    assert text.splitlines() == [
        "phone,customer_name,company,reason",
        "'+1415,'=cmd(),y,line 3: phone: " + phones.E_PHONE_INVALID.format(value="+1415").replace("'", "'"),
        f"{P2},,z,line 4: customer_name: " + lead_variables.E_MISSING_REQUIRED.format(names="customer_name"),
    ]


def test_phone_checks_in_worker_processes_give_the_same_result(campaign):
    rows = "".join(f"+1415555{i:04d},N{i},+1212555{i:04d}\n" for i in range(1, 1200)) + "+1415,Bad,\n"
    text = f"phone,customer_name,secondary_1_phone\n{rows}"
    single = run(text, campaign=campaign, dry_run=True)
    pooled = run(text, campaign=campaign, dry_run=True, workers=2)
    assert (
        pooled.counts
        == single.counts
        == {"rows": 1200, "created": 1199, "updated": 0, "skipped": 0, "rejected": 1}
    )
    assert (
        errors_of(pooled)
        == errors_of(single)
        == [(1201, "phone", phones.E_PHONE_INVALID.format(value="+1415"))]
    )


# --- Files --------------------------------------------------------------------------------------


def test_it_reads_utf8_with_a_bom_crlf_and_quoted_commas_and_newlines(campaign):
    text = (
        "phone,customer_name,last_interaction\r\n"
        f'{P1},"Müller, Zoë","Said: ""call back""\r\nafter lunch"\r\n'
        f"{P2},陈伟,\r\n"
    )
    result = run(codecs.BOM_UTF8 + text.encode("utf-8"), campaign=campaign)
    assert result.created == 2
    assert Lead.objects.get(phone=P1).variables == {
        "customer_name": "Müller, Zoë",
        "last_interaction": 'Said: "call back"\r\nafter lunch',
    }
    assert Lead.objects.get(phone=P2).variables == {"customer_name": "陈伟"}


def test_line_numbers_count_physical_lines_including_quoted_newlines(campaign):
    text = f'phone,customer_name\n{P1},"two\nlines"\n\n+1415,B\n{P2},"a\nb\nc"\n+1416,D\n'
    result = run(text, campaign=campaign, skip_invalid=True)
    assert [r.line for r in result.rejected] == [5, 9]


def test_a_row_with_more_cells_than_the_header_is_rejected(campaign):
    result = run(f"phone,customer_name\n{P1},Smith, John\n{P2},B,\n", campaign=campaign)
    assert errors_of(result) == [(2, "", errors.E_TOO_MANY_CELLS.format(cells=3, columns=2))]


def test_a_short_row_leaves_the_missing_cells_empty(campaign):
    run(f"phone,customer_name,company\n{P1},A\n", campaign=campaign)
    assert Lead.objects.get().variables == {"customer_name": "A"}


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\r\n\r\n"])
def test_an_empty_file_is_refused(campaign, data):
    assert file_error(data, campaign=campaign) == errors.E_FILE_EMPTY


def test_a_header_without_rows_is_refused(campaign):
    assert file_error("phone,customer_name\r\n", campaign=campaign) == errors.E_FILE_HEADER_ONLY


def test_a_binary_file_is_refused(campaign):
    xlsx = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(range(256))
    assert file_error(xlsx, campaign=campaign) == errors.E_FILE_BINARY


def test_a_file_that_is_not_utf8_is_refused_with_its_line(campaign):
    data = f"phone,customer_name\n{P1},A\n{P2},M\xfcller\n".encode("latin-1")
    assert file_error(data, campaign=campaign) == errors.E_FILE_NOT_UTF8.format(line=3)
    assert not Lead.objects.exists()


def test_a_utf16_file_is_refused_with_what_to_do(campaign):
    data = f"phone,customer_name\n{P1},A\n".encode("utf-16")
    assert file_error(data, campaign=campaign) == errors.E_FILE_UTF16


def test_a_header_without_a_phone_column_is_refused(campaign):
    assert file_error("name,company\nSarah,Acme\n", campaign=campaign) == errors.E_NO_PHONE_COLUMN


def test_a_column_meaning_the_same_twice_is_refused(campaign):
    assert file_error(
        f"phone,Phone Number\n{P1},{P2}\n", campaign=campaign
    ) == errors.E_DUPLICATE_COLUMN.format(first="1 ('phone')", second="2 ('Phone Number')", name="phone")


def test_a_column_that_cannot_be_a_variable_name_is_refused(campaign):
    assert file_error(f"phone,Customer Name\n{P1},A\n", campaign=campaign) == errors.E_BAD_COLUMN.format(
        name="Customer Name", suggestion="customer_name"
    )


def test_secondary_variables_without_their_phone_column_are_refused(campaign):
    assert file_error(f"phone,secondary_2_role\n{P1},CTO\n", campaign=campaign) == (
        errors.E_SECONDARY_WITHOUT_PHONE_COLUMN.format(name="secondary_2_role", n=2)
    )


def test_an_unnamed_column_with_a_value_is_rejected_and_an_empty_one_ignored(campaign):
    result = run(f"phone,customer_name,\n{P1},A,\n{P2},B,oops\n", campaign=campaign)
    assert errors_of(result) == [(3, "column 3", errors.E_UNNAMED_CELL.format(n=3))]


def test_it_reads_old_mac_line_endings(campaign):
    result = run(f"phone,customer_name\r{P1},A\r{P2},B\r", campaign=campaign)
    assert result.created == 2


def test_it_reports_progress_by_rows_read(campaign):
    seen = []
    rows = "".join(f"+1415555{i:04d},N{i}\n" for i in range(1, 26))
    run(f"phone,customer_name\n{rows}", campaign=campaign, batch_size=10, progress=seen.append)
    assert seen == [10, 20, 25]


def test_an_import_writes_each_batch_with_a_few_queries(campaign, django_assert_num_queries):
    rows = "".join(f"+1415555{i:04d},N{i},+1212555{i:04d}\n" for i in range(1, 21))
    # 2 campaigns with their assistants' variables; per batch of 10: 1 existing phones, 1 do-not-call
    # probe (compliance.selectors.blocked_numbers), 1 insert of leads, 1 their ids, 1 insert of
    # contacts, 1 read of the webhook subscriptions listening to lead.created (none: no event rows),
    # and 1 more for import.finished at the end; plus the savepoint/transaction pair of the import;
    # then the search index catches up: savepoint, its mark, one insert of the new leads, the new mark,
    # release (leads/textsearch.py); then the planner's statistics, which the leads and campaigns
    # have none of yet: whether there are any, the row counts with the stored ones, and an ANALYZE
    # of each table (leadmgr/storage/bulk.py). SQLite only: PostgreSQL maintains both by itself. On both, the
    # export's variable names catch up (leads/variable_names.py): savepoint, its marks, the new
    # leads' names, the new contacts' names, their most contacts per campaign, the new marks, release.
    # The lead counts, per batch around its insert of leads (leadcounts.services.bulk_inserted): a
    # savepoint pair, the row triggers found and suspended (SQLite: 1 lookup, 2 drops, 2 creates;
    # PostgreSQL: 1 lookup, the flag set and cleared), 1 insert of the batch's counts.
    counts = 2 + (5 if connection.vendor == "sqlite" else 3) + 1
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM sqlite_stat1 WHERE tbl IN ('leads_lead', 'campaigns_campaign')")
    sqlite_only = 5 + 2 + 2 if connection.vendor == "sqlite" else 0
    with django_assert_num_queries(2 + 2 * (6 + counts) + 1 + 2 + 7 + sqlite_only):
        result = run(f"phone,customer_name,secondary_1_phone\n{rows}", campaign=campaign, batch_size=10)
    assert result.created == 20 and SecondaryContact.objects.count() == 20
