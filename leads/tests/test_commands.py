from __future__ import annotations

import subprocess
import sys
from io import StringIO
from pathlib import Path

from django.contrib.auth.models import User
from django.core.management import call_command

from campaigns.models import Campaign
from leads import demo
from leads.models import Lead, SecondaryContact, Status, StatusChange

ROOT = Path(__file__).resolve().parents[2]


def test_seed_demo_creates_campaigns_in_several_states_and_leads_in_every_status(db):
    out = StringIO()
    call_command("seed_demo", "--leads", "120", stdout=out)
    assert Lead.objects.count() == 120
    assert set(Campaign.objects.values_list("state", flat=True)) == {"draft", "running", "paused", "finished"}
    assert set(Lead.objects.values_list("status", flat=True)) == set(Status.values)
    assert SecondaryContact.objects.exists()
    assert StatusChange.objects.filter(automatic=True).exists()
    assert StatusChange.objects.filter(automatic=False).exists()
    lead = Lead.objects.filter(campaign__assistant__name="Sales Qualifier").first()
    assert {"customer_name", "company", "last_interaction", "preferred_contact_time", "industry"} <= set(
        lead.variables
    )
    assert "Demo sign-ins (password 'leadmgr-demo')" in out.getvalue()
    operator = User.objects.get(username="operator")
    assert operator.check_password("leadmgr-demo")
    assert operator.has_perm("leads.change_lead") and not operator.has_perm("leads.import_lead")
    assert User.objects.get(username="staff").has_perm("leads.import_lead")
    assert User.objects.get(username="admin").is_superuser


def test_seed_demo_if_empty_runs_once(db):
    call_command("seed_demo", "--leads", "10", stdout=StringIO())
    out = StringIO()
    call_command("seed_demo", "--leads", "10", "--if-empty", stdout=out)
    assert Lead.objects.count() == 10
    assert "already present" in out.getvalue()


def test_bulk_generate_writes_valid_distinct_leads_with_contacts(db):
    assert demo.bulk_generate(2_000, batch=500) == 2_000
    assert Lead.objects.count() == 2_000
    assert Lead.objects.values("campaign", "phone").distinct().count() == 2_000
    assert SecondaryContact.objects.count() > 1_000
    # Every generated number passes the one normaliser unchanged.
    from leads.phones import normalize_phone

    for phone in Lead.objects.values_list("phone", flat=True)[:200]:
        assert normalize_phone(phone) == phone
    # The ORM reads them back (dates written by raw SQL parse on both databases).
    newest = Lead.objects.first()
    assert newest.created_at is not None and newest.status in Status.values


def test_bench_generate_script_runs(tmp_path):
    result = subprocess.run(
        [sys.executable, "bench/generate.py", "500"],
        cwd=ROOT,
        env={"DATABASE_URL": f"sqlite:///{tmp_path / 'bench.sqlite3'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("generated 500 leads")


def test_bulk_generate_keeps_the_status_counts_with_one_statement_a_batch(db):
    """The counts take each batch at once, as the import's do: a million generated leads once left a
    million pending deltas (PostgreSQL), which the first runner pass of a load test folded."""
    from django.db.models import Count

    from leadcounts.models import StatusCountDelta
    from leadcounts.selectors import status_counts_by_campaign

    demo.bulk_generate(1_200, batch=500)
    actual: dict[int, dict[str, int]] = {}
    for row in Lead.objects.values("campaign", "status").annotate(n=Count("id")):
        actual.setdefault(row["campaign"], {})[row["status"]] = row["n"]
    keys = sum(len(by) for by in actual.values())
    assert StatusCountDelta.objects.count() <= 3 * keys  # 3 batches: one per batch and key at most
    counted = {c: {s: n for s, n in by.items() if n} for c, by in status_counts_by_campaign().items()}
    assert counted == actual
