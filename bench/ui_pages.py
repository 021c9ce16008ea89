"""The leads table at 1M leads against the same pages at 10k, and bulk delete of 100k leads.

    .venv/bin/python bench/ui_pages.py                 # generates bench/data/{10k,1m}.sqlite3 once
    .venv/bin/python bench/ui_pages.py --runs 30 --skip-delete

Each page is fetched in-process with django.test.Client as a signed-in superuser: the figure is the
server's time for the whole request (view, queries, template), median of --runs after warm-up, and
the number of queries. The two data sets run in child processes of the same run, one after the
other, so a busy machine moves both. Bulk delete runs on a throwaway copy of the 1M file: the
leads table filtered to ~100k leads, "all matching the filter", confirmed (the POST), timed with its
Python peak memory (tracemalloc) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
SETS = {"10k": 10_000, "1m": 1_000_000}
TARGETS_MS = {
    "page 1": 50,
    "deep page": 100,
    "filtered + sorted": 150,
    "search": 150,
    "search, one phone": 150,
    "search, no match": 150,
    "variable search": 150,
    "variable text": 150,
    # Every sort and filter the table offers (issue 14).
    "variable search by phone": 150,
    "status filter": 150,
    "sort by attempts": 150,
    "sort by next attempt": 150,
    "sort by next attempt, desc": 150,
    "filtered, next attempt asc": 150,
    "sort by phone": 150,
    "sort by campaign": 150,
}
MAX_QUERIES = 6


def ensure_data(name: str) -> Path:
    path = DATA / f"{name}.sqlite3"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        print(f"generating {path} ({SETS[name]:,} leads, about 90 s per million)…", file=sys.stderr)
        env = os.environ | {"DATABASE_URL": f"sqlite:///{path}"}
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "generate.py"), str(SETS[name])], env=env, check=True
        )
    return path


def child(args) -> None:
    """Runs inside a child process with DATABASE_URL set: measure and print JSON."""
    import _harness  # bench/ is on sys.path when a script in it runs

    _harness.setup_django()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from campaigns.models import Campaign

    settings.ALLOWED_HOSTS = ["*"]
    settings.DEBUG = False
    call_command("migrate", verbosity=0)  # the UI's indexes, on a file generated before them
    user = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", "", "bench"
    )
    client = Client()
    client.force_login(user)
    campaign = Campaign.objects.order_by("pk").first()

    def measure(url: str, method: str = "get") -> dict:
        times = []
        queries = 0
        for i in range(args.warmup + args.runs):
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                response = getattr(client, method)(url)
                elapsed = time.perf_counter() - started
            assert response.status_code in (200, 302), (url, response.status_code)
            if i >= args.warmup:
                times.append(elapsed * 1000)
                queries = len(ctx)
        return {"url": url, "ms": statistics.median(times), "queries": queries}

    if args.mode == "migrate":
        print("{}")
    elif args.mode == "pages":
        deep = 4_000 if args.size == "1m" else 400  # offset 100k at 1M; the last page at 10k
        pages = {
            "page 1": "/leads/",
            "deep page": f"/leads/?page={deep}",
            "filtered + sorted": f"/leads/?campaign={campaign.pk}&status=created&status=rescheduled&sort=-next_attempt_at",
            "search": "/leads/?q=Tanaka",
            "search, one phone": "/leads/?q=%2B15122000000",
            "search, no match": "/leads/?q=Zzyzx",
            "variable search": "/leads/?var=company&value=Northwind",
            "variable text": "/leads/?variables=Missed%20the%20last",
            "variable search by phone": "/leads/?var=company&value=Northwind&sort=phone",
            "status filter": "/leads/?status=rescheduled",
            "sort by attempts": "/leads/?sort=-attempts",
            "sort by next attempt": "/leads/?sort=next_attempt_at",
            "sort by next attempt, desc": "/leads/?sort=-next_attempt_at",
            "filtered, next attempt asc": f"/leads/?campaign={campaign.pk}&status=created&status=rescheduled&sort=next_attempt_at",
            "sort by phone": "/leads/?sort=phone",
            "sort by campaign": "/leads/?sort=campaign",
            "match count (htmx)": f"/leads/count/?campaign={campaign.pk}&status=created",
        }
        print(json.dumps({name: measure(url) for name, url in pages.items()}))
    else:
        import tracemalloc

        url = f"/leads/delete/?all=1&campaign={campaign.pk}&status=created"
        from leads.models import Lead, SecondaryContact

        n = Lead.objects.filter(campaign=campaign, status="created").count()
        c = SecondaryContact.objects.filter(lead__campaign=campaign, lead__status="created").count()
        confirm = measure(url)  # the confirmation page counts, it does not list
        from django.db import transaction

        # A shared database (--postgres) keeps its data: the delete is measured inside a transaction,
        # then undone. The SQLite copy is thrown away, so the POST runs as it does in production.
        with transaction.atomic() if args.rollback else contextlib.nullcontext():
            tracemalloc.start()
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                response = client.post(url)
                elapsed = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert response.status_code == 302
            assert not Lead.objects.filter(campaign=campaign, status="created").exists()
            if args.rollback:
                transaction.set_rollback(True)
        import resource

        print(
            json.dumps(
                {
                    "leads": n,
                    "contacts": c,
                    "confirm_ms": confirm["ms"],
                    "confirm_queries": confirm["queries"],
                    "delete_s": elapsed,
                    "queries": len(ctx),
                    "peak_mb": peak / 2**20,
                    "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                }
            )
        )


def run_child(path: Path | str, *extra: str) -> dict:
    url = path if isinstance(path, str) else f"sqlite:///{path}"
    env = os.environ | {"DATABASE_URL": url}
    out = subprocess.run(
        [sys.executable, __file__, "--child", *extra], env=env, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--skip-delete", action="store_true")
    parser.add_argument("--skip-pages", action="store_true")
    parser.add_argument("--delete-runs", type=int, default=3, help="bulk deletes, each on a fresh copy")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also time the bulk delete on this PostgreSQL database (1M leads from generate.py; rolled back)",
    )
    parser.add_argument("--rollback", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="pages", help=argparse.SUPPRESS)
    parser.add_argument("--size", default="1m", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if not args.skip_pages:
        pages(args)
    if not args.skip_delete:
        bulk_delete(args)


def pages(args) -> None:
    common = ["--runs", str(args.runs), "--warmup", str(args.warmup)]
    results = {name: run_child(ensure_data(name), "--size", name, *common) for name in SETS}
    print(f"leads table, median of {args.runs} requests (ms) and queries; target ≤ {MAX_QUERIES} queries")
    print(f"{'page':<22}{'10k ms':>9}{'1M ms':>9}{'1M/10k':>8}{'queries':>9}{'target':>8}")
    for name, small in results["10k"].items():
        big = results["1m"][name]
        target = TARGETS_MS.get(name)
        verdict = (
            ""
            if target is None
            else ("ok" if big["ms"] <= target and big["queries"] <= MAX_QUERIES else "MISS")
        )
        print(
            f"{name:<22}{small['ms']:>9.1f}{big['ms']:>9.1f}{big['ms'] / small['ms']:>7.1f}×"
            f"{big['queries']:>9}{(str(target) + ' ' + verdict) if target else '':>10}"
        )


def bulk_delete(args) -> None:
    """Median of --delete-runs: each run deletes on a fresh copy, first raw, then through the web."""
    source = ensure_data("1m")
    run_child(source, "--mode", "migrate")  # the UI's indexes, before the copies are taken
    copy = DATA / "1m-delete.sqlite3"
    baselines, webs = [], []
    try:
        for _ in range(args.delete_runs):
            baselines.append(raw_delete_baseline(source, copy))
            snapshot(source, copy)
            webs.append(run_child(copy, "--mode", "delete", "--runs", "3", "--warmup", "1"))
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
    d = webs[0] | {
        key: statistics.median(w[key] for w in webs) for key in ("delete_s", "maxrss_mb", "confirm_ms")
    }
    baseline = statistics.median(baselines)
    print(
        f"bulk delete (web, all matching the filter), median of {args.delete_runs}: {d['leads']:,} leads + "
        f"{d['contacts']:,} contacts in {d['delete_s']:.2f} s (runs: "
        f"{', '.join(f'{w["delete_s"]:.2f}' for w in webs)}), {d['queries']} queries, Python peak "
        f"{d['peak_mb']:.1f} MB (process max RSS {d['maxrss_mb']:.0f} MB); target ≤ 1.5 s, ≤ 100 MB"
    )
    print(
        f"  baseline, the DB_CASCADE DELETE in plain sqlite3 on an identical copy: {baseline:.2f} s "
        f"(runs: {', '.join(f'{b:.2f}' for b in baselines)}; web/raw {d['delete_s'] / baseline:.2f}×); "
        f"confirmation page {d['confirm_ms']:.0f} ms, {d['confirm_queries']} queries"
    )
    if args.postgres:
        postgres_delete(args)


def postgres_delete(args) -> None:
    """The same delete on PostgreSQL, rolled back, alternating with the raw DB_CASCADE statement."""
    baselines, webs = [], []
    for _ in range(args.delete_runs):
        baselines.append(raw_postgres_baseline(args.postgres))
        webs.append(
            run_child(args.postgres, "--mode", "delete", "--rollback", "--runs", "3", "--warmup", "1")
        )
    p = webs[0] | {"delete_s": statistics.median(w["delete_s"] for w in webs)}
    baseline = statistics.median(baselines)
    print(
        f"bulk delete on PostgreSQL (rolled back), median of {args.delete_runs}: {p['leads']:,} leads + "
        f"{p['contacts']:,} contacts in {p['delete_s']:.2f} s (runs: "
        f"{', '.join(f'{w["delete_s"]:.2f}' for w in webs)}), {p['queries']} queries, Python peak "
        f"{p['peak_mb']:.1f} MB"
    )
    print(
        f"  baseline, the DB_CASCADE DELETE through plain psycopg, rolled back: {baseline:.2f} s "
        f"(runs: {', '.join(f'{b:.2f}' for b in baselines)}; web/raw {p['delete_s'] / baseline:.2f}×)"
    )


def snapshot(source: Path, copy: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    # Write the copy out now: else the delete's checkpoint (an fsync of the file) would wait for
    # the whole fresh copy to reach the disk, a cost no production database pays.
    os.sync()


def raw_delete_baseline(source: Path, copy: Path) -> float:
    """One DELETE with the database's cascades (DB_CASCADE), the web's pragmas, straight through sqlite3."""
    snapshot(source, copy)
    db = sqlite3.connect(copy, isolation_level=None)
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    campaign = db.execute("SELECT MIN(id) FROM campaigns_campaign").fetchone()[0]
    started = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    db.execute("DELETE FROM leads_lead WHERE campaign_id = ? AND status = 'created'", (campaign,))
    db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    return elapsed


def raw_postgres_baseline(url: str) -> float:
    """One DELETE with the database's cascades (DB_CASCADE) through psycopg, rolled back."""
    import psycopg

    with psycopg.connect(url) as db:
        campaign = db.execute("SELECT MIN(id) FROM campaigns_campaign").fetchone()[0]
        started = time.perf_counter()
        db.execute("DELETE FROM leads_lead WHERE campaign_id = %s AND status = 'created'", (campaign,))
        elapsed = time.perf_counter() - started
        db.rollback()
    return elapsed


if __name__ == "__main__":
    main()
