"""Bulk create through the API against the CSV import of the same leads, in the same run.

    .venv/bin/python bench/api_bulk.py [--leads 10000] [--repeat 3]

A fresh SQLite database (bench/data/api_bulk.sqlite3) with the demo campaigns; 10,000 leads with 1–2
secondary contacts each, written once as a CSV file and once as the JSON of one
``POST /api/v1/leads/bulk/`` request. Each ``--repeat``, into an emptied leads table, medians printed:

- baseline: ``importer.import_leads`` of the CSV (strict, one transaction, phones checked in this process);
- API: the bulk request through the whole stack (Django's test client: middleware, bearer token,
  JSON parsing, the item adapter, the same importer, the per-item answer).

Target (the API issue): API ≥ 0.7× the import's rows/s.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import statistics
import time
from pathlib import Path

import _harness  # bench/ is on sys.path when a script in it runs

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
DB = DATA / "api_bulk.sqlite3"
os.environ["DEBUG"] = "0"  # with DEBUG on, Django keeps every query's SQL in memory
_harness.setup_django(f"sqlite:///{DB}")

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from api import tokens  # noqa: E402
from campaigns.models import Campaign  # noqa: E402
from leadmgr.storage.bulk import wait_for_checkpoint  # noqa: E402
from leads import demo  # noqa: E402
from leads.csv import importer  # noqa: E402
from leads.models import Lead  # noqa: E402

CAMPAIGN = "Spring demo follow-up"


def make_leads(n: int) -> list[dict]:
    rng = random.Random(7)
    leads = []
    for i in range(n):
        last = rng.choice(demo.LAST)
        contacts = [
            {
                "phone_number": demo.phone_for(20_000_000 + 2 * i),
                "variables": {"contact_name": f"A {last}", "role": "CTO"},
            }
        ]
        if rng.random() < 0.5:
            contacts.append(
                {
                    "phone_number": demo.phone_for(20_000_001 + 2 * i),
                    "variables": {"contact_name": f"B {last}", "role": "CFO"},
                }
            )
        leads.append(
            {
                "phone_number": demo.phone_for(i),
                "variables": {
                    "customer_name": f"{rng.choice(demo.FIRST)} {last}",
                    "company": rng.choice(demo.COMPANIES),
                    "last_interaction": rng.choice(demo.INTERACTIONS),
                },
                "secondary_contacts": contacts,
            }
        )
    return leads


def as_csv(leads: list[dict]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    header = ["phone", "campaign", "customer_name", "company", "last_interaction"]
    for n in (1, 2):
        header += [f"secondary_{n}_phone", f"secondary_{n}_contact_name", f"secondary_{n}_role"]
    w.writerow(header)
    for lead in leads:
        v = lead["variables"]
        row = [lead["phone_number"], CAMPAIGN, v["customer_name"], v["company"], v["last_interaction"]]
        for n in range(2):
            if n < len(lead["secondary_contacts"]):
                c = lead["secondary_contacts"][n]
                row += [c["phone_number"], c["variables"]["contact_name"], c["variables"]["role"]]
            else:
                row += ["", "", ""]
        w.writerow(row)
    return out.getvalue().encode()


def timed(fn) -> float:
    Lead.objects.all().delete()
    wait_for_checkpoint()
    started = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - started
    wait_for_checkpoint()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB}{suffix}").unlink(missing_ok=True)
    call_command("migrate", verbosity=0)
    demo.ensure_demo_campaigns()
    campaign = Campaign.objects.get(name=CAMPAIGN)
    user = User.objects.create_superuser("bench", password="x" * 20)
    _, key = tokens.token_create(user=user, name="bench")
    leads = make_leads(args.leads)
    csv_bytes = as_csv(leads)
    body = json.dumps({"items": [lead | {"campaign": campaign.pk} for lead in leads]})
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")

    def run_import() -> None:
        result = importer.import_leads(io.BytesIO(csv_bytes))
        assert result.created == args.leads and not result.rejected, result.rejected[:3]

    def run_api() -> None:
        response = client.post("/api/v1/leads/bulk/", data=body, content_type="application/json")
        assert response.status_code == 200, response.content[:500]
        assert response.json()["created"] == args.leads

    figures: dict[str, list[float]] = {"import": [], "api": []}
    for _ in range(args.repeat):
        figures["import"].append(timed(run_import))
        figures["api"].append(timed(run_api))
    n = args.leads
    imp, api = (n / statistics.median(figures[k]) for k in ("import", "api"))
    print(f"{n:,} leads with 1-2 secondary contacts, medians of {args.repeat}:")
    print(f"  CSV import (baseline):   {imp:9,.0f} leads/s")
    print(f"  API bulk:                {api:9,.0f} leads/s   {api / imp:.2f}x the import (target >= 0.70x)")


if __name__ == "__main__":
    main()
