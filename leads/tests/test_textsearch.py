"""The search index (leads/textsearch.py): what it finds, how it stays in step, that queries use it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from leadmgr.testing import make_campaign, make_lead
from leads import lifecycle, selectors, textsearch
from leads.models import Lead, Status

sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="the FTS5 index is SQLite's")
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm is PostgreSQL's")


def found(text: str) -> set[int]:
    return set(selectors.lead_list(search=text).values_list("pk", flat=True))


def candidates(text: str) -> set[int]:
    """What the index alone offers for ``text`` (a superset of what matches)."""
    return set(Lead.objects.filter(textsearch.candidates_q(text)).values_list("pk", flat=True))


def indexed(trigram: str) -> list[int]:
    """The ids the SQLite index holds for one trigram, stale ones included."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT rowid FROM {textsearch.TABLE} WHERE {textsearch.TABLE} MATCH %s", [f'"{trigram}"']
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def leads(db):
    campaign = make_campaign()
    return {
        "chloe": make_lead(campaign, phone="+14155550101", variables={"customer_name": "Chloé Tanaka"}),
        "omar": make_lead(
            campaign, phone="+14155550102", variables={"customer_name": "Omar", "company": "Northwind"}
        ),
        "quote": make_lead(campaign, phone="+14155550103", variables={"note": 'said "call me" twice'}),
    }


def test_search_matches_values_names_and_phone_digits_ignoring_case(leads):
    assert found("tanaka") == {leads["chloe"].pk}
    assert found("Chloé") == {leads["chloe"].pk}
    assert found("NORTHWIND") == {leads["omar"].pk}
    assert found("company") == {leads["omar"].pk}  # a variable's name
    assert found('"call me"') == {leads["quote"].pk}
    assert found("(415) 555-0102") == {leads["omar"].pk}  # the digits of a formatted number
    assert found("Zzyzx") == set()


def test_short_texts_are_searched_without_the_index(leads):
    with CaptureQueriesContext(connection) as ctx:
        assert found("ch") == {leads["chloe"].pk}
    assert textsearch.TABLE not in ctx.captured_queries[-1]["sql"]


def test_variable_filters_use_the_index_and_keep_their_meaning(leads):
    by_value = selectors.lead_list(variable_key="company", variable_value="north")
    assert set(by_value.values_list("pk", flat=True)) == {leads["omar"].pk}
    # The value must be under that name: Tanaka is a customer_name, not a company.
    assert not selectors.lead_list(variable_key="company", variable_value="Tanaka").exists()
    assert set(selectors.lead_list(variable_key="note").values_list("pk", flat=True)) == {leads["quote"].pk}
    assert set(selectors.lead_list(variables_text="twice").values_list("pk", flat=True)) == {
        leads["quote"].pk
    }


@sqlite_only
def test_searches_of_three_characters_or_more_read_the_index(leads):
    for params in ({"search": "Tanaka"}, {"variables_text": "Tanaka"}, {"variable_key": "company"}):
        with CaptureQueriesContext(connection) as ctx:
            list(selectors.lead_list(**params))
        assert f"{textsearch.TABLE} MATCH" in ctx.captured_queries[-1]["sql"], params


@sqlite_only
def test_new_leads_are_candidates_until_indexed_then_only_where_they_match(leads):
    every = {lead.pk for lead in leads.values()}
    assert candidates("Northwind") == every  # pending: made by the factory, not yet indexed
    assert found("Northwind") == {leads["omar"].pk}  # the substring test still decides
    textsearch.catch_up()
    assert candidates("Northwind") == {leads["omar"].pk}
    assert indexed("rth") == [leads["omar"].pk]


@sqlite_only
def test_changed_leads_are_candidates_until_reindexed_and_then_match_their_new_text(leads):
    textsearch.catch_up()
    omar = leads["omar"]
    omar.variables = {"customer_name": "Omar", "company": "Contoso"}
    omar.save()
    assert candidates("Contoso") == candidates("Northwind") == {omar.pk}  # noted as changed
    assert found("Contoso") == {omar.pk} and found("Northwind") == set()
    Lead.objects.filter(pk=omar.pk).update(phone="+14155550999")  # changed again: noted once
    textsearch.catch_up()
    assert candidates("Contoso") == candidates("0999") == {omar.pk}
    assert candidates("Northwind") == candidates("0102") == set()
    assert indexed("rth") == []  # the old text's entries went, not only the new ones came


@sqlite_only
def test_a_status_change_does_not_touch_the_index(leads):
    textsearch.catch_up()
    lead = leads["chloe"]
    lifecycle.set_status(lead, Status.COMPLETED)
    lead.save()  # every field written, phone and variables unchanged
    assert candidates("Tanaka") == {lead.pk}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {textsearch.CHANGED}")
        assert cursor.fetchone()[0] == 0


@sqlite_only
def test_the_writers_of_leads_catch_the_index_up(leads):
    from leads import services

    created = services.lead_create(
        campaign=leads["omar"].campaign, phone="+14155550177", variables={"customer_name": "Pia Quigley"}
    ).lead
    assert candidates("Quigley") == {created.pk}  # indexed, and nothing else pending
    assert candidates("Tanaka") == {leads["chloe"].pk}


@sqlite_only
def test_deleted_leads_leave_entries_that_match_nothing_until_a_rebuild(leads):
    textsearch.catch_up()
    chloe = leads["chloe"]
    Lead.objects.filter(pk=chloe.pk).delete()
    assert found("Tanaka") == set()
    assert indexed("tan") == [chloe.pk]  # still in the index
    textsearch.rebuild()
    assert indexed("tan") == []
    assert candidates("Northwind") == {leads["omar"].pk}  # the others are back in


@sqlite_only
def test_ensure_puts_back_lost_triggers_and_refills(leads):
    """A migration that rebuilds the leads table on SQLite drops its triggers; migrate heals it."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER {textsearch.TABLE}_note_change")
        cursor.execute(f"INSERT INTO {textsearch.TABLE}({textsearch.TABLE}) VALUES ('delete-all')")
    textsearch.ensure(verbosity=0)
    assert candidates("Northwind") == {leads["omar"].pk}
    omar = leads["omar"]
    omar.variables = {"company": "Contoso"}
    omar.save()
    textsearch.catch_up()
    assert candidates("Contoso") == {omar.pk} and candidates("Northwind") == set()


def test_a_value_under_a_name_is_looked_up_among_the_leads_that_have_the_name(db):
    # "company contains Tanaka" where Tanaka is only ever a customer's name: SQLite's index offers
    # the leads with both the name and the text, not every Tanaka (a quarter fewer rows read at 1M);
    # PostgreSQL's offers every Tanaka (looking the name up in its index cost more than it spared).
    campaign = make_campaign()
    named = make_lead(campaign, variables={"company": "Tanaka Trading"})
    numbered = make_lead(campaign, variables={"company": 4242, "customer_name": "Ken Tanaka"})
    customer = make_lead(campaign, variables={"customer_name": "Ken Tanaka", "role": "CEO"})
    textsearch.catch_up()

    def offered(text: str, key: str) -> set[int]:
        return set(
            Lead.objects.filter(textsearch.json_candidates_q(text, key=key)).values_list("pk", flat=True)
        )

    if connection.vendor == "postgresql":
        assert offered("Tanaka", "company") == {named.pk, numbered.pk, customer.pk}
    else:
        assert offered("Tanaka", "company") == {named.pk, numbered.pk}
    assert customer.pk in offered("Tanaka", "customer_name")
    assert offered("424", "company") == {numbered.pk}  # a number's digits, as its value reads
    # What the filter finds is the test's, the narrowing only spares reading other leads.
    assert set(
        selectors.lead_list(variable_key="company", variable_value="tanaka").values_list("pk", flat=True)
    ) == {named.pk}
    assert set(
        selectors.lead_list(variable_key="company", variable_value="424").values_list("pk", flat=True)
    ) == {numbered.pk}


@sqlite_only
def test_ensure_on_an_empty_leads_table_forgets_every_entry(leads):
    textsearch.catch_up()
    Lead.objects.all().delete()
    textsearch.ensure(verbosity=0)
    assert indexed("tan") == indexed("nor") == indexed("415") == []


@postgres_only
def test_postgres_plans_the_search_on_the_trigram_indexes(leads):
    queryset = selectors.lead_list(search="Tanaka 415").order_by()  # else it may walk the pk
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned anyway
        sql, params = queryset.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "lead_search_variables" in plan and "lead_search_phone" in plan, plan


@postgres_only
def test_postgres_plans_a_variable_filter_on_the_variables_trigram_index(leads):
    # The test on one variable's value has no index and no statistics: alone, a rare value was a
    # scan of every lead. Its superset, the variables' whole text, is what the index holds.
    for params in ({"variable_key": "company", "variable_value": "Zzyzx"}, {"variable_key": "company"}):
        queryset = selectors.lead_list(**params).order_by()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            sql, sql_params = queryset.query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", sql_params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "lead_search_variables" in plan, (params, plan)


@pytest.mark.parametrize(
    "params",
    [
        {"search": "Tanaka"},
        {"variables_text": "twice"},
        {"variable_key": "company", "variable_value": "north"},
        {"variable_key": "note"},
        {"search": "0102", "variable_key": "company"},
    ],
)
def test_without_candidates_a_filter_keeps_its_rows_and_drops_the_index_narrowing(leads, params, monkeypatch):
    queryset = selectors.lead_list(**params)
    plain = textsearch.without_candidates(queryset)
    assert set(plain.values_list("pk", flat=True)) == set(queryset.values_list("pk", flat=True))
    assert set(plain.values_list("pk", flat=True))  # each finds a lead
    # Exactly the filter built with no narrowing at all.
    monkeypatch.setattr(textsearch, "candidates_q", lambda *texts: Q())
    monkeypatch.setattr(textsearch, "json_candidates_q", lambda text, **key: Q())
    assert str(plain.query) == str(selectors.lead_list(**params).query)
    if connection.vendor == "sqlite" or "variable_key" in params:  # PostgreSQL's search needs none
        assert str(plain.query) != str(queryset.query)


def test_rebuild_search_index_command_keeps_every_search_right(leads):
    from io import StringIO

    from django.core.management import call_command

    Lead.objects.filter(pk=leads["quote"].pk).delete()
    out = StringIO()
    call_command("rebuild_search_index", stdout=out)
    assert "Search index rebuilt" in out.getvalue()
    assert found("tanaka") == {leads["chloe"].pk}
    assert found("twice") == set()


@postgres_only
def test_postgres_searches_read_the_stored_upper_cased_text_not_the_expression(leads):
    # UPPER(variables::text) computed per lead read was 60% of a search's time; the stored column
    # holds it (and its trigram index is on the column).
    for params in (
        {"search": "tanaka"},
        {"variables_text": "twice"},
        {"variable_key": "company", "variable_value": "north"},
    ):
        sql = str(selectors.lead_list(**params).query)
        assert (
            '"leads_lead"."search_text" LIKE UPPER(' in sql
            and 'UPPER(("leads_lead"."variables")::text)' not in sql
        ), sql
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'lead_search_variables'")
        assert "search_text gin_trgm_ops" in cursor.fetchone()[0]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_ensure_adds_the_stored_column_and_moves_an_expression_index_onto_it(leads):
    # An installation from before the column: its index on the expression, no column.
    textsearch.drop_derived()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE INDEX lead_search_variables ON leads_lead USING gin ((UPPER(variables::text)) gin_trgm_ops)"
        )
    textsearch.ensure(verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT search_text FROM leads_lead WHERE id = %s", [leads["omar"].pk])
        assert cursor.fetchone()[0] == '{"COMPANY": "NORTHWIND", "CUSTOMER_NAME": "OMAR"}'
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'lead_search_variables'")
        assert "search_text gin_trgm_ops" in cursor.fetchone()[0]
    assert found("northwind") == {leads["omar"].pk}
    assert found('"call me"') == {leads["quote"].pk}
