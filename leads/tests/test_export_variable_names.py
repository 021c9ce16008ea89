"""The export's variable columns, known without reading every lead (leads/variable_names.py)."""

from __future__ import annotations

import csv
import io

from leadmgr.testing import make_assistant, make_campaign, make_lead
from leadmgr.tests import test_copy_database as copying
from leads import variable_names
from leads.csv import columns, exporter, importer
from leads.models import Lead, SecondaryContact, Status


def header(leads=None, **options) -> list[str]:
    text = "".join(exporter.export_csv(leads if leads is not None else Lead.objects.all(), **options))
    return next(csv.reader(io.StringIO(text, newline="")))


def variables_of(leads=None, **options) -> list[str]:
    return [n for n in header(leads, **options) if n not in columns.CORE_COLUMNS]


def test_names_of_leads_added_by_any_door_are_found_before_and_after_catch_up(campaign):
    make_lead(campaign, variables={"customer_name": "A", "zeta": "z"})  # past the mark
    assert variables_of() == ["customer_name", "zeta"]
    variable_names.catch_up()
    make_lead(campaign, variables={"customer_name": "B", "alpha": "a"})
    assert variables_of() == ["customer_name", "alpha", "zeta"]
    variable_names.catch_up()
    assert variable_names.names([campaign.pk]) == ({"customer_name", "alpha", "zeta"}, set())


def test_a_changed_lead_or_contact_adds_its_names(campaign):
    lead = make_lead(campaign, contacts=["+14155550109"])
    variable_names.catch_up()
    Lead.objects.filter(pk=lead.pk).update(variables={"customer_name": "A", "late": "x"})
    SecondaryContact.objects.filter(lead=lead).update(variables={"role": "CTO"})
    assert variables_of(with_secondary=True) == [
        "customer_name",
        "late",
        "secondary_1_phone",
        "secondary_1_role",
    ]


def test_a_lead_moved_to_another_campaign_brings_its_names(campaign):
    other = make_campaign("Autumn")
    lead = make_lead(campaign, variables={"customer_name": "A", "moved": "m"}, contacts=["+14155550109"])
    SecondaryContact.objects.filter(lead=lead).update(variables={"role": "CTO"})
    variable_names.catch_up()
    assert variable_names.names([other.pk]) == (set(), set())
    Lead.objects.filter(pk=lead.pk).update(campaign=other)
    assert variable_names.names([other.pk]) == ({"customer_name", "moved"}, {"role"})


def test_a_filtered_export_has_the_columns_of_its_campaigns_only(campaign):
    other = make_campaign("Autumn", assistant=make_assistant("Other", variables=[("city", "", False)]))
    make_lead(campaign, variables={"customer_name": "A", "company": "Acme"}, status=Status.COMPLETED)
    make_lead(campaign, variables={"customer_name": "B", "spring_only": "s"})
    make_lead(other, variables={"city": "Oslo"})
    variable_names.catch_up()
    assert variables_of(Lead.objects.filter(campaign=other)) == ["city"]
    # A status filter keeps the campaign's columns: a superset (an empty column imports as "not set").
    completed = Lead.objects.filter(status=Status.COMPLETED)
    assert variables_of(completed) == ["customer_name", "company", "spring_only"]
    assert variables_of(Lead.objects.none()) == []


def test_a_name_nobody_uses_any_more_stays_until_a_rebuild(campaign):
    lead = make_lead(campaign, variables={"customer_name": "A", "old": "x"})
    variable_names.catch_up()
    Lead.objects.filter(pk=lead.pk).update(variables={"customer_name": "A"})
    assert variables_of() == ["customer_name", "old"]
    [row] = csv.DictReader(io.StringIO("".join(exporter.export_csv(Lead.objects.all())), newline=""))
    assert row["old"] == ""
    variable_names.rebuild()
    assert variables_of() == ["customer_name"]


def test_an_import_records_its_names(campaign):
    importer.import_leads(
        io.BytesIO(
            b"phone,customer_name,source,secondary_1_phone,secondary_1_role\n"
            b"+14155550100,A,fair,+14155550101,CTO\n"
        ),
        importer.ImportOptions(campaign=campaign),
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT contact, name FROM {variable_names.TABLE} ORDER BY contact, name")
        assert cursor.fetchall() == [(0, "customer_name"), (0, "source"), (1, "role")]


copy_source, copy_target = copying.source, copying.target  # the copy tests' fixtures


def test_a_copy_to_postgresql_has_the_names_of_the_copied_leads(copy_source, copy_target):
    """copy_database replaces the target's leads: their names are refilled, never the old ones kept."""
    import psycopg

    for _ in range(2):  # the second time over a target that has data (--replace)
        done = copying.manage(
            "copy_database", "--from", copy_source, "--to", copy_target, "--replace", database_url=copy_source
        )
        assert done.returncode == 0, done.stderr[-3000:]
    with psycopg.connect(copy_target) as conn:
        stored = set(
            conn.execute(f"SELECT campaign_id, contact, name FROM {variable_names.TABLE}").fetchall()
        )
        used = set(
            conn.execute(
                "SELECT DISTINCT campaign_id, 0, k FROM leads_lead, jsonb_object_keys(variables) k"
            ).fetchall()
        )
        mark, top = conn.execute(
            f"SELECT leads_through, (SELECT max(id) FROM leads_lead) FROM {variable_names.STATE}"
        ).fetchone()
    assert used and used <= stored and mark == top


def test_the_contact_columns_follow_the_most_contacts_a_lead_of_the_campaigns_has(campaign):
    other = make_campaign("Autumn")
    make_lead(campaign, contacts=["+14155550101"])
    assert variable_names.most_contacts(None) == 1  # past the mark: counted by the reader
    variable_names.catch_up()
    make_lead(campaign, contacts=["+14155550102", "+14155550103", "+14155550104"])
    assert variable_names.most_contacts([campaign.pk]) == 3
    variable_names.catch_up()
    assert (variable_names.most_contacts([campaign.pk]), variable_names.most_contacts([other.pk])) == (3, 0)
    two = make_lead(other, contacts=["+14155550105", "+14155550106"])
    variable_names.catch_up()
    assert variable_names.most_contacts([other.pk]) == 2
    winter = make_campaign("Winter")
    Lead.objects.filter(pk=two.pk).update(campaign=winter)  # a move brings its contacts' count
    assert variable_names.most_contacts([winter.pk]) == 2
    assert variables_of(Lead.objects.filter(campaign=other), with_secondary=True) == []
    assert header(Lead.objects.filter(campaign=campaign), with_secondary=True)[-3:] == [
        "secondary_1_phone",
        "secondary_2_phone",
        "secondary_3_phone",
    ]
