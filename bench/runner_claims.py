"""Claims per second: ``attempts.claim_due`` against a plain ``UPDATE … RETURNING``, same run.

    .venv/bin/python bench/runner_claims.py                 # PostgreSQL (1 and 4 workers) + SQLite (1)
    .venv/bin/python bench/runner_claims.py --leads 20000 --batch 100 --repeat 3

Each case puts N Created leads in one campaign, starts W worker processes that claim in batches of B
until the queue is empty, and reports claims/s (N / wall time) and the claims made twice (must be 0).
``claim_due`` writes what the runner needs (status, attempts, lease, one history row per lead); the
baseline is the bare conditional UPDATE with no history. Medians of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/leadmgr_runner_bench")


def _setup_django(url: str) -> None:
    import _harness  # bench/ is on sys.path when a script in it runs

    _harness.setup_django(url)


def _plain_claim(campaign_id: int, batch: int) -> list[int]:
    from django.db import connection, transaction

    skip_locked = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE leads_lead SET status = 'processing', attempts = attempts + 1 "
            "WHERE id IN (SELECT id FROM leads_lead WHERE campaign_id = %s AND status = 'created' "
            f"LIMIT %s{skip_locked}) AND status = 'created' RETURNING id",
            [campaign_id, batch],
        )
        return [row[0] for row in cursor.fetchall()]


def _worker(url: str, kind: str, campaign_id: int, batch: int, barrier, out) -> None:
    _setup_django(url)
    import datetime as dt

    from django.db import connection
    from django.utils import timezone

    from leads import attempts

    connection.ensure_connection()
    lease = dt.timedelta(minutes=15)
    claimed: list[int] = []
    barrier.wait()
    start = time.perf_counter()
    empty = 0
    while empty < 2:  # a second empty claim: the queue is drained (not just raced)
        if kind == "claim_due":
            ids = [c.lead_id for c in attempts.claim_due(campaign_id, batch, timezone.now(), lease)]
        else:
            ids = _plain_claim(campaign_id, batch)
        claimed.extend(ids)
        empty = 0 if ids else empty + 1
    out.put((start, time.perf_counter(), claimed))


def _reset(campaign_id: int, n: int) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM leads_statuschange")
        cursor.execute("DELETE FROM leads_lead")
        phones = [(campaign_id, f"+1415{200 + i // 10_000:03d}{i % 10_000:04d}") for i in range(n)]
        cursor.executemany(
            "INSERT INTO leads_lead (campaign_id, phone, status, variables, attempts, created_at, updated_at) "
            "VALUES (%s, %s, 'created', '{}', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            phones,
        )
    # Fresh statistics, as autovacuum would give a table this size: without them PostgreSQL may read
    # the queue through an index that makes every claim skip all earlier claims' dead entries.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")


def run_case(url: str, kind: str, workers: int, n: int, batch: int, campaign_id: int) -> tuple[float, int]:
    _reset(campaign_id, n)
    from django.db import connection

    connection.close()  # the children open their own
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(workers), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(url, kind, campaign_id, batch, barrier, out))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    wall = max(end for _, end, _ in results) - min(start for start, _, _ in results)
    ids = [pk for *_, claimed in results for pk in claimed]
    doubles = len(ids) - len(set(ids))
    if len(set(ids)) != n:
        raise SystemExit(f"{kind}: claimed {len(set(ids))} of {n} leads")
    return n / wall, doubles


def bench_database(label: str, url: str, worker_counts: list[int], n: int, batch: int, repeat: int) -> None:
    from django.core.management import call_command

    from campaigns.models import Assistant, Campaign

    call_command("migrate", verbosity=0)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM leads_statuschange")
        cursor.execute("DELETE FROM leads_callattempt")
        cursor.execute("DELETE FROM leads_lead")
    Campaign.objects.all().delete()
    Assistant.objects.all().delete()
    campaign = Campaign.objects.create(name="Bench", assistant=Assistant.objects.create(name="Bench"))
    for workers in worker_counts:
        figures = {}
        for kind in ("plain UPDATE … RETURNING", "claim_due"):
            runs = [
                run_case(
                    url, "plain" if kind.startswith("plain") else "claim_due", workers, n, batch, campaign.pk
                )
                for _ in range(repeat)
            ]
            rate = statistics.median(r for r, _ in runs)
            figures[kind] = rate
            print(
                f"{label:<10} {workers} worker(s)  {kind:<26} {rate:>9,.0f} claims/s (median of {repeat}), "
                f"double claims: {sum(d for _, d in runs)}",
                flush=True,
            )
        ratio = figures["claim_due"] / figures["plain UPDATE … RETURNING"]
        print(f"{label:<10} {workers} worker(s)  claim_due / baseline = {ratio:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100, help="leads per claim (default 100)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["postgresql", "sqlite"], default=None)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DB")
    if url is None:
        # Each database in its own process: Django's settings are read once per process.
        for name, db_url, workers in (
            ("postgresql", PG_URL, "1,4"),
            ("sqlite", f"sqlite:///{Path(tempfile.gettempdir()) / 'leadmgr_runner_claims.sqlite3'}", "1"),
        ):
            if args.only and args.only != name:
                continue
            env = {**os.environ, "BENCH_DB": db_url, "BENCH_LABEL": name, "BENCH_WORKERS": workers}
            cmd = [sys.executable, __file__, "--leads", str(args.leads), "--batch", str(args.batch)]
            import subprocess

            subprocess.run([*cmd, "--repeat", str(args.repeat)], env=env, check=True)
        return
    if url.startswith("postgres"):
        _create_pg_database(url)
    _setup_django(url)
    workers = [int(w) for w in os.environ["BENCH_WORKERS"].split(",")]
    bench_database(os.environ["BENCH_LABEL"], url, workers, args.leads, args.batch, args.repeat)


def _create_pg_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


if __name__ == "__main__":
    main()
