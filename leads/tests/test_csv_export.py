"""Export in the contract's CSV format: columns, spreadsheet safety, streaming, and the round trip."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import Campaign
from leadmgr.testing import make_assistant, make_campaign, make_lead, next_phone
from leads import selectors
from leads.csv import columns, exporter, importer
from leads.models import Lead, SecondaryContact, Status

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def export(leads=None, **options) -> list[dict[str, str]]:
    text = "".join(exporter.export_csv(leads if leads is not None else Lead.objects.all(), **options))
    return list(csv.DictReader(io.StringIO(text, newline="")))


def header(leads=None, **options) -> list[str]:
    text = "".join(exporter.export_csv(leads if leads is not None else Lead.objects.all(), **options))
    return next(csv.reader(io.StringIO(text, newline="")))


def test_it_writes_the_fixed_columns_then_the_variables_then_the_contacts(campaign):
    lead = make_lead(
        campaign,
        phone="+14155550100",
        variables={"customer_name": "Sarah", "zeta": "z", "company": "Acme"},
        contacts=["+14155550101", "+14155550102"],
        status=Status.SCHEDULED,
        next_attempt_at=NOW,
    )
    SecondaryContact.objects.filter(phone="+14155550101").update(variables={"role": "CTO"})
    assert header(with_secondary=True) == [
        *columns.CORE_COLUMNS,
        "customer_name",
        "company",
        "zeta",
        "secondary_1_phone",
        "secondary_1_role",
        "secondary_2_phone",
        "secondary_2_role",
    ]
    [row] = export(with_secondary=True)
    lead.refresh_from_db()
    assert row == {
        "id": str(lead.pk),
        "phone": "+14155550100",
        "campaign": "Spring",
        "status": "scheduled",
        "next_attempt_at": "2026-11-27T12:00:00+00:00",
        "attempts": "0",
        "created_at": lead.created_at.isoformat(),
        "updated_at": lead.updated_at.isoformat(),
        "customer_name": "Sarah",
        "company": "Acme",
        "zeta": "z",
        "secondary_1_phone": "+14155550101",
        "secondary_1_role": "CTO",
        "secondary_2_phone": "+14155550102",
        "secondary_2_role": "",
    }


def test_contacts_come_in_calling_order(campaign):
    lead = make_lead(campaign)
    SecondaryContact.objects.create(lead=lead, phone="+14155550109", position=5)
    SecondaryContact.objects.create(lead=lead, phone="+14155550108", position=1)
    [row] = export(with_secondary=True)
    assert (row["secondary_1_phone"], row["secondary_2_phone"]) == ("+14155550108", "+14155550109")


def test_chosen_columns_keep_the_phone(campaign):
    make_lead(campaign, variables={"customer_name": "Sarah", "company": "Acme"})
    assert header(columns=["status", "company", "campaign"]) == ["phone", "campaign", "status", "company"]


def test_free_text_cells_that_a_spreadsheet_would_run_are_neutralised(db):
    campaign = make_campaign("=HYPERLINK(1)")
    values = {
        "a": "=SUM(A1:A2)",
        "b": "+1 call",
        "c": "-5",
        "d": "@cmd",
        "e": "\tx",
        "f": "\rx",
        "g": "'quoted",
        "h": "plain",
    }
    make_lead(campaign, phone="+14155550100", variables={"customer_name": "x", **values})
    [row] = export()
    assert row["phone"] == "+14155550100"  # E.164, never prefixed
    assert row["campaign"] == "'=HYPERLINK(1)"
    assert {k: row[k] for k in values} == {
        "a": "'=SUM(A1:A2)",
        "b": "'+1 call",
        "c": "'-5",
        "d": "'@cmd",
        "e": "'\tx",
        "f": "'\rx",
        "g": "''quoted",
        "h": "plain",
    }


def test_non_text_variable_values_are_written_as_json(campaign):
    make_lead(campaign, variables={"customer_name": "x", "n": 5, "neg": -2, "flag": True, "obj": {"k": "v"}})
    [row] = export()
    assert (row["n"], row["neg"], row["flag"], row["obj"]) == ("5", "'-2", "true", '{"k": "v"}')


def test_it_streams_the_header_first_and_then_bounded_chunks(campaign):
    for _ in range(25):
        make_lead(campaign)
    chunks = exporter.export_csv(Lead.objects.all(), chunk_size=10)
    first = next(chunks)
    assert first.startswith("id,phone,")
    assert first.count("\n") == 1
    rest = list(chunks)
    assert [c.count("\r\n") for c in rest] == [10, 10, 5]


def test_it_exports_the_filtered_set_only(campaign):
    keep = make_lead(campaign, status=Status.COMPLETED, variables={"customer_name": "Keep"})
    make_lead(campaign, variables={"customer_name": "Other"})
    rows = export(selectors.lead_list(statuses=["completed"]))
    assert [r["phone"] for r in rows] == [keep.phone]


def test_an_empty_set_exports_the_header_only(campaign):
    assert export() == []
    assert header()[:3] == ["id", "phone", "campaign"]


# --- The round trip -----------------------------------------------------------------------------

names = st.sampled_from(["customer_name", "company", "note", "x1", "role"])
cell_text = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=12),
    st.sampled_from(
        ["=1+2", "+44 20", "-3", "@SUM(A1)", "\tTab", "\rCR", "'lead", "''", "Zoë Müller", "陈伟", "a,b\nc"]
    ),
).filter(lambda v: v.strip() != "")
variables = st.dictionaries(names, cell_text, max_size=4)
lead_spec = st.tuples(
    st.sampled_from([0, 1]),
    st.sampled_from([s for s in Status if s != Status.PROCESSING]),
    variables,
    st.lists(st.tuples(variables), min_size=0, max_size=3),
)


def snapshot() -> set:
    result = set()
    for lead in Lead.objects.select_related("campaign").prefetch_related("contacts"):
        contacts = tuple(
            (c.phone, tuple(sorted(c.variables.items())))
            for c in sorted(lead.contacts.all(), key=lambda c: c.position)
        )
        next_at = lead.next_attempt_at if lead.status in (Status.SCHEDULED, Status.RESCHEDULED) else None
        result.add(
            (
                lead.campaign.name,
                lead.phone,
                lead.status,
                tuple(sorted(lead.variables.items())),
                contacts,
                next_at,
            )
        )
    return result


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    leads=st.lists(lead_spec, min_size=0, max_size=6),
    status_filter=st.sampled_from([None, "created", "completed"]),
)
def test_an_export_imports_back_into_equal_leads(db, leads, status_filter):
    Lead.objects.all().delete()
    spring = Campaign.objects.filter(name="Spring").first() or make_campaign("Spring")
    other = Campaign.objects.filter(name="-Autumn, late").first() or make_campaign(
        "-Autumn, late", assistant=make_assistant("Other", variables=[("note", "", False)])
    )
    campaigns = [spring, other]
    for campaign_index, status, values, contacts in leads:
        campaign = campaigns[campaign_index]
        values = dict(values)
        if campaign is spring:
            values.setdefault("customer_name", "Required")
        next_at = None
        if status in (Status.SCHEDULED, Status.RESCHEDULED):
            next_at = NOW + dt.timedelta(minutes=len(values), microseconds=123)
        lead = Lead.objects.create(
            campaign=campaign, phone=next_phone(), status=status, variables=values, next_attempt_at=next_at
        )
        for position, (cvalues,) in enumerate(contacts):
            SecondaryContact.objects.create(
                lead=lead, phone=next_phone(), variables=cvalues, position=position
            )
    chosen = selectors.lead_list(statuses=[status_filter] if status_filter else None)
    expected = {item for item in snapshot() if status_filter is None or item[2] == status_filter}
    data = "".join(exporter.export_csv(chosen, with_secondary=True)).encode("utf-8")

    Lead.objects.all().delete()
    result = importer.import_leads(io.BytesIO(data)) if expected else None
    if result is not None:
        assert result.rejected == []
        assert result.created == len(expected)
    assert snapshot() == expected


def test_a_phone_cell_that_is_not_e164_is_neutralised_too(campaign):
    lead = make_lead(campaign)
    Lead.objects.filter(pk=lead.pk).update(phone="=1+2")  # only a raw write could store this
    [row] = export(columns=["phone"])
    assert row["phone"] == "'=1+2"


@pytest.mark.parametrize("chunk_size", [1000, 1], ids=["one-batch", "a-batch-each"])
def test_cells_are_made_safe_row_by_row_whatever_shares_their_batch(campaign, chunk_size):
    """The checks run a batch at a time: a row that needs care is mended alone, its neighbours
    are written as they are, and an odd phone does not touch the E.164 ones around it."""

    def lead(phone, values, *contacts):
        made = make_lead(campaign, phone=phone, variables=values)
        for position, (contact_phone, role) in enumerate(contacts):
            SecondaryContact.objects.create(lead=made, phone=contact_phone, variables=role, position=position)
        return made

    plain = lead(
        "+14155550100",
        {"customer_name": "Ann", "note": "a-b=c"},
        ("+14155550101", {"role": "-owner"}),
        ("+14155550102", {"role": "boss"}),
    )
    formula = lead("+14155550103", {"customer_name": "=1+2", "note": "ok"})
    number = lead("+14155550104", {"customer_name": "Bo", "note": 7}, ("+14155550105", {"role": "@x"}))
    odd = lead("+14155550106", {"customer_name": "Cy"})
    Lead.objects.filter(pk=odd.pk).update(phone="-12")  # only a raw write could store this
    rows = export(with_secondary=True, chunk_size=chunk_size)
    cells = {int(r["id"]): (r["phone"], r["customer_name"], r["note"]) for r in rows}
    assert cells == {
        plain.pk: ("+14155550100", "Ann", "a-b=c"),
        formula.pk: ("+14155550103", "'=1+2", "ok"),
        number.pk: ("+14155550104", "Bo", "7"),
        odd.pk: ("'-12", "Cy", ""),
    }
    contacts = {
        int(r["id"]): [r[f"secondary_{n}_{c}"] for n in (1, 2) for c in ("phone", "role")] for r in rows
    }
    assert contacts == {
        plain.pk: ["+14155550101", "'-owner", "+14155550102", "boss"],
        formula.pk: ["", "", "", ""],
        number.pk: ["+14155550105", "'@x", "", ""],
        odd.pk: ["", "", "", ""],
    }


csv_cells = st.one_of(
    st.text(alphabet=st.sampled_from(list('ab ,"\r\n\x00Né=')), max_size=6),
    st.just("None"),
    st.integers(),
    st.none(),
)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=1, max_value=4).flatmap(
        lambda w: st.lists(st.lists(csv_cells, min_size=w, max_size=w), min_size=1, max_size=5)
    )
)
def test_rows_are_written_exactly_as_the_csv_writer_writes_them(rows):
    """The export joins a batch's cells itself where no cell needs quoting; every batch comes out
    as csv.writer writes it (commas, quotes, line breaks, None, a lone empty cell)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    assert exporter._Lines().of(rows) == buffer.getvalue()


def test_chosen_columns_that_cannot_be_variables_are_ignored(campaign):
    make_lead(campaign)
    assert header(columns=["secondary_1_phone", "not a name", "company"]) == ["phone", "company"]


def test_an_export_reads_in_bounded_batches_with_a_fixed_number_of_queries(
    campaign, django_assert_num_queries
):
    for _ in range(25):
        make_lead(campaign, contacts=[next_phone()])
    # Plan: 1 lead and contact variable names (leads.variable_names), 2 assistants' definitions
    # (campaigns, variables), 1 most contacts per lead. Then 1 campaign names, 1 the leads
    # (read in batches from one cursor), and 1 contacts query per batch of 10 leads (3 batches).
    with django_assert_num_queries(9):
        chunks = list(exporter.export_csv(Lead.objects.all(), with_secondary=True, chunk_size=10))
    assert len(chunks) == 4
