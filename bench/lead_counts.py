"""What the lead-count triggers (leadcounts) cost the writers that touch many leads at once.

    .venv/bin/python bench/lead_counts.py [--rows 50000] [--repeat 3] [--postgres]

In one run, alternating, with the triggers installed and dropped (the same-run baseline), each from
the same starting state (leads imported untimed first where the operation needs them): a CSV
import of ``--rows`` leads (``importer.import_leads``: raw INSERTs in one transaction), a bulk status
change of all of them (``lifecycle.bulk_set_status``), and the fast delete of all of them
(``services.leads_delete``, outside a transaction, as the bulk-delete page runs it). The import and
the fast delete count per statement with the row triggers suspended (``leadcounts.services``), and
count nothing where the triggers are not installed, so the baseline has no counting at all. Medians in
seconds and the ratio with/without triggers. SQLite: a fresh ``bench/data/counts.sqlite3``;
``--postgres``: the database ``leadmgr_counts_bench`` on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import sys
import time
from pathlib import Path

import _harness

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    if args.postgres:
        import psycopg

        server = os.environ.get("LEADMGR_TEST_PG_SERVER", "postgres://postgres@127.0.0.1:5432")
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS leadmgr_counts_bench WITH (FORCE)")
            conn.execute("CREATE DATABASE leadmgr_counts_bench")
        url = f"{server}/leadmgr_counts_bench"
    else:
        db = DATA / "counts.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{db}"
    os.environ["DEBUG"] = "0"
    _harness.setup_django(url)

    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count

    from leadcounts import selectors, services
    from leadmgr.storage import counts as sql
    from leadmgr.storage.bulk import wait_for_checkpoint
    from leadmgr.testing import make_assistant, make_campaign
    from leads import demo, lifecycle
    from leads import services as lead_services
    from leads.csv import importer
    from leads.models import Lead, Status

    call_command("migrate", verbosity=0)
    campaign = make_campaign("Counts bench", assistant=make_assistant())
    path = DATA / f"counts_{args.rows}.csv"
    rng = random.Random(3)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["phone", "status", "customer_name", "company"])
        for i in range(args.rows):
            status = rng.choice(["", "", "", "scheduled", "completed", "max_retries"])
            w.writerow([demo.phone_for(i), status, rng.choice(demo.FIRST), rng.choice(demo.COMPANIES)])

    def triggers(on: bool) -> None:
        sql.run(sql.drop(connection.vendor))
        if on:
            sql.run(sql.triggers(connection.vendor))
        services.recount()

    def timed(fn) -> float:
        started = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - started
        wait_for_checkpoint()
        return elapsed

    def do_import() -> None:
        with open(path, "rb") as f:
            result = importer.import_leads(f, importer.ImportOptions(campaign=campaign, workers=0))
        assert result.counts["created"] == args.rows, result.counts

    def do_bulk() -> None:
        lifecycle.bulk_set_status(Lead.objects.filter(campaign=campaign), Status.COMPLETED, reason="bench")

    def do_delete() -> None:
        lead_services.leads_delete(Lead.objects.filter(campaign=campaign))

    def fresh(with_leads: bool) -> None:
        """Untimed: the state the measured operation starts from, built with the triggers on."""
        triggers(True)
        lead_services.leads_delete(Lead.objects.all())
        if with_leads:
            do_import()
        wait_for_checkpoint()

    # Each operation starts from the same state in both modes; the modes alternate their order.
    times: dict[tuple[str, bool], list[float]] = {}
    for r in range(args.repeat):
        for name, fn, needs_leads in (
            ("import", do_import, False),
            ("bulk status", do_bulk, True),
            ("delete", do_delete, True),
        ):
            for on in (True, False) if r % 2 == 0 else (False, True):
                fresh(needs_leads)
                triggers(on)
                times.setdefault((name, on), []).append(timed(fn))
    fresh(True)  # the counts kept by the triggers equal a real count after all that
    real = dict(Lead.objects.order_by().values_list("status").annotate(n=Count("id")))
    assert {k: v for k, v in selectors.status_counts(campaign.pk).items() if v} == real, real
    print(f"{connection.vendor}: {args.rows:,} leads, medians of {args.repeat} (alternating)")
    for name in ("import", "bulk status", "delete"):
        on = statistics.median(times[name, True])
        off = statistics.median(times[name, False])
        print(f"  {name:12s} with triggers {on:6.2f} s   without {off:6.2f} s   ratio {on / off:.2f}×")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
