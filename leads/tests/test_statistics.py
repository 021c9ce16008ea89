"""SQLite's planner statistics (sqlite_stat1) follow the leads table: after imports, migrate, flush.

Without them, or with statistics of a table a hundred times smaller, SQLite reads the wrong index
for the leads table's sorted pages (at 1M leads: 20 → 432 ms, 16 → 1,334 ms).
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection

from leadmgr.testing import make_lead, set_sqlite_statistics
from leads.csv import importer

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's planner statistics")

P1, P2 = "+14155550100", "+14155550101"


def stats(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = %s", [table])
        return dict(cursor.fetchall())


def indexes(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = %s", [table])
        return [name for (name,) in cursor.fetchall()]


def run(text: str) -> importer.ImportResult:
    return importer.import_leads(io.BytesIO(text.encode()))


def test_an_import_gives_the_leads_and_campaigns_tables_statistics(campaign):
    set_sqlite_statistics({"leads_lead": {}, "campaigns_campaign": {}})
    assert run(f"phone,campaign,customer_name\n{P1},{campaign.name},Ada\n").created == 1
    leads = stats("leads_lead")
    assert leads.get("lead_queue", "").startswith("1 "), leads
    assert {"lead_campaign", "lead_campaign_status", "lead_status", "lead_created"} <= set(leads), leads
    campaigns = stats("campaigns_campaign")
    assert campaigns and all(stat.startswith("1 ") for stat in campaigns.values()), campaigns


def test_statistics_that_still_fit_are_left_as_they_are(campaign):
    # Measuring a million leads takes half a second: not after every small import.
    make_lead(campaign, phone=P2)
    fitting = dict.fromkeys(indexes("leads_lead"), "2 1")  # every index measured at 2 leads
    set_sqlite_statistics({"leads_lead": fitting})
    assert run(f"phone,campaign,customer_name\n{P1},{campaign.name},Ada\n").created == 1
    assert stats("leads_lead") == fitting


def test_a_table_that_doubled_is_measured_again(campaign):
    make_lead(campaign, phone=P2)
    make_lead(campaign, phone="+14155550102")
    set_sqlite_statistics({"leads_lead": dict.fromkeys(indexes("leads_lead"), "1 1")})  # measured at 1 lead
    assert run(f"phone,campaign,customer_name\n{P1},{campaign.name},Ada\n").created == 1
    assert stats("leads_lead")["lead_queue"].startswith("3 "), stats("leads_lead")


def test_migrate_measures_a_table_filled_without_statistics_and_forgets_an_emptied_ones(campaign):
    set_sqlite_statistics({"leads_lead": {"lead_queue": "1000000 250000 50000 50000"}})  # leads long gone
    call_command("migrate", verbosity=0)
    assert stats("leads_lead") == {}
    make_lead(campaign, phone=P1)
    call_command("migrate", verbosity=0)
    assert stats("leads_lead").get("lead_queue", "").startswith("1 "), stats("leads_lead")


def test_an_index_without_statistics_gets_them(campaign):
    # A migration that drops and recreates an index drops its statistics with it.
    make_lead(campaign, phone=P2)
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'leads_lead' AND idx = 'lead_queue'")
    assert run(f"phone,campaign,customer_name\n{P1},{campaign.name},Ada\n").created == 1
    assert stats("leads_lead").get("lead_queue", "").startswith("2 "), stats("leads_lead")


def test_a_table_migrated_away_is_skipped(campaign):
    # post_migrate runs after "migrate leads zero" too, when the leads table is gone.
    from types import SimpleNamespace

    from leadmgr.storage import bulk as db
    from leads.models import Lead

    gone = SimpleNamespace(_meta=SimpleNamespace(db_table="leads_gone"))
    set_sqlite_statistics({"leads_lead": {}})
    assert db.refresh_statistics(gone, Lead) == ["leads_lead"]
    assert db.refresh_statistics(gone) == []
