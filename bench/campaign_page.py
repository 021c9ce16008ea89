"""The campaign page, its refreshing fragment and the campaign list, at 10k and 1M leads in one
campaign, in the same run.

    .venv/bin/python bench/campaign_page.py [--runs 15] [--big 1000000]

Generates ``bench/data/campaign-10000.sqlite3`` and ``bench/data/campaign-1000000.sqlite3`` on first
use (reused afterwards; about two minutes for 1M): one running campaign holding every lead (statuses
in a realistic mix, 20 calls under way, 2,000 ended calls, a live runner's heartbeat), plus 199 small
campaigns so the list shows 200. Each data set is measured in a child process of the same run: the
median server time of ``/campaigns/<id>/``, ``/campaigns/<id>/live/`` and ``/campaigns/`` over
``--runs`` after warm-up, in-process (``django.test.Client``, a signed-in superuser), with its query
count. Printed with t(big)/t(10k). Targets (issue 13): page and fragment ≤ 50 ms and ≤ 8 queries at
1M, t(1M)/t(10k) ≤ 1.5; the list with 200 campaigns ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _harness

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
STATUSES = (
    ["created"] * 50 + ["scheduled"] * 5 + ["rescheduled"] * 15 + ["completed"] * 20 + ["max_retries"] * 10
)


def generate(n: int, path: Path) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from campaigns.models import Campaign, RunnerHeartbeat
    from leadmgr.testing import make_assistant
    from leads import demo
    from leads.models import CallAttempt, Lead

    call_command("migrate", verbosity=0)
    assistant = make_assistant()
    everyday = {"calling_days": [0, 1, 2, 3, 4, 5, 6], "window_start": dt.time(8), "window_end": dt.time(20)}
    big = Campaign.objects.create(
        name="Big", assistant=assistant, state="running", concurrency_limit=20, **everyday
    )
    for i in range(199):
        small = Campaign.objects.create(name=f"Small {i:03d}", assistant=assistant, state="paused")
        Lead.objects.create(campaign=small, phone=demo.phone_for(90_000_000 + i))
    rng = random.Random(7)
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    sql = (
        f"INSERT INTO {Lead._meta.db_table} (campaign_id, phone, status, variables, attempts, next_attempt_at,"
        " created_at, updated_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)"
    )
    done = 0
    while done < n:
        rows = []
        for i in range(done, min(n, done + 10_000)):
            status = rng.choice(STATUSES)
            at = (
                None
                if status in ("created", "completed", "max_retries")
                else now + dt.timedelta(minutes=rng.randint(1, 5000))
            )
            values = json.dumps({"customer_name": rng.choice(demo.FIRST)})
            rows.append(
                (
                    big.pk,
                    demo.phone_for(i),
                    status,
                    values,
                    0 if status == "created" else 1,
                    adapt(at),
                    adapt(now),
                    adapt(now),
                )
            )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, rows)
        done += len(rows)
    busy = list(Lead.objects.filter(campaign=big, status="created").order_by("pk")[:20])
    Lead.objects.filter(pk__in=[lead.pk for lead in busy]).update(status="processing", attempts=1)
    ended = (
        Lead.objects.filter(campaign=big, status="completed").order_by("pk").values_list("pk", "phone")[:2000]
    )
    CallAttempt.objects.bulk_create(
        [
            CallAttempt(
                lead_id=pk, attempt_number=1, phone=p, started_at=now, ended_at=now, outcome="completed"
            )
            for pk, p in ended
        ]
        + [CallAttempt(lead_id=lead.pk, attempt_number=1, phone=lead.phone, started_at=now) for lead in busy]
    )
    RunnerHeartbeat.objects.create(
        worker_id="bench:1", started_at=now, last_seen=now + dt.timedelta(days=3650), last_pass_at=now
    )
    from leadcounts import services

    services.fold_deltas()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def measure(runs: int, warmup: int) -> dict:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from campaigns.models import Campaign

    user = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", password="x"
    )
    client = Client()
    client.force_login(user)
    pk = Campaign.objects.get(name="Big").pk
    results = {}
    for name, url in (
        ("page", f"/campaigns/{pk}/"),
        ("fragment", f"/campaigns/{pk}/live/"),
        ("list", "/campaigns/"),
    ):
        for _ in range(warmup):
            assert client.get(url).status_code == 200
        times = []
        for _ in range(runs):
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        results[name] = {"ms": statistics.median(times), "queries": len(ctx.captured_queries)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path = Path(args.child)
        os.environ["DEBUG"] = "0"
        _harness.setup_django(f"sqlite:///{path}")
        if not path.with_suffix(".done").exists():
            print(f"generating {path.name} (once) …", file=sys.stderr)
            generate(int(path.stem.split("-")[1]), path)
            path.with_suffix(".done").touch()
        print(json.dumps(measure(args.runs, args.warmup)))
        return
    DATA.mkdir(parents=True, exist_ok=True)
    figures = {}
    for n in (10_000, args.big):
        path = DATA / f"campaign-{n}.sqlite3"
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(path),
                "--runs",
                str(args.runs),
                "--warmup",
                str(args.warmup),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        figures[n] = json.loads(done.stdout.strip().splitlines()[-1])
    small, big = figures[10_000], figures[args.big]
    print(f"campaign pages, SQLite, median of {args.runs} (ms; queries)")
    for name in ("page", "fragment", "list"):
        s, b = small[name], big[name]
        print(
            f"  {name:9s} 10k {s['ms']:6.1f} ms ({s['queries']})   {args.big:,} {b['ms']:6.1f} ms ({b['queries']})"
            f"   ratio {b['ms'] / s['ms']:.2f}×"
        )


if __name__ == "__main__":
    main()
