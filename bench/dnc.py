"""Calling compliance at scale (SQLite, fresh files in a temp dir, one run):

    .venv/bin/python bench/dnc.py                       # 1M-number list, 100k-lead import, 20k-lead runner
    .venv/bin/python bench/dnc.py --numbers 200000 --leads 20000 --calls 5000 --skip-erasure

1. ``import_dnc`` of N numbers (a CSV file, the command as run by hand): numbers/s (target >= 20,000).
2. ``import_leads`` of L leads into a database holding that list (1% of the leads listed) against the
   same import into a database without a list: rows/s and the ratio (target >= 0.9).
3. The runner over C due leads (``run_campaigns --once`` in-process, instant simulated results)
   with the list and frequency caps on, against no list and no caps: leads/s and the ratio
   (target >= 0.8).
4. ``erase_number`` of a number that is a lead in 3 campaigns among ``--erase-leads`` (1M) leads
   written by one INSERT … SELECT: seconds (target <= 1).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness

ROOT = _harness.ROOT


def numbers(n: int, start: int = 0) -> list[str]:
    """n distinct valid US numbers (area codes that phonenumbers knows, exchanges 200-999)."""
    areas = ["212", "213", "312", "415", "503", "617", "646", "702", "718", "917"]
    out = []
    i = start
    while len(out) < n:
        area = areas[i % len(areas)]
        rest = i // len(areas)
        out.append(f"+1{area}{200 + (rest // 10_000) % 800:03d}{rest % 10_000:04d}")
        i += 1
    return out


def cpu_seconds() -> float:
    """CPU time of this process and its reaped workers: the machine's other load does not count."""
    usage = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return sum(u.ru_utime + u.ru_stime for u in usage)


def child(stage: str, url: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", stage, url, *args],
        capture_output=True,
        text=True,
        env=os.environ | {"DATABASE_URL": url},
        check=False,
    )
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- stages, each in a child process with Django set up on its own database -----------------------


def stage_import_dnc(path: str) -> dict:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    started, cpu = time.perf_counter(), cpu_seconds()
    call_command("import_dnc", path, verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    from compliance.models import DoNotCallEntry

    return {"seconds": seconds, "cpu": cpu, "entries": DoNotCallEntry.objects.count()}


def stage_import_leads(path: str) -> dict:
    from django.core.management import call_command

    from leadmgr.testing import make_campaign

    call_command("migrate", verbosity=0)
    from leadmgr.testing import make_assistant

    make_campaign("Bench", assistant=make_assistant("Bench", variables=[("customer_name", "", False)]))
    started, cpu = time.perf_counter(), cpu_seconds()
    with contextlib.suppress(SystemExit):  # exit 1 only when a row is rejected; none is
        call_command("import_leads", path, "--campaign", "Bench", stdout=open(os.devnull, "w"))  # noqa: SIM115
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    from leads.models import Lead

    return {"seconds": seconds, "cpu": cpu, "leads": Lead.objects.count()}


def stage_runner(calls: str, compliance_on: str) -> dict:
    import datetime as dt

    from django.core.management import call_command

    from campaigns.models import Campaign
    from campaigns.providers.simulated import SimulatedProvider
    from campaigns.runner import Runner
    from compliance.models import CallingRules
    from leadmgr.testing import make_campaign
    from leads.models import Lead

    call_command("migrate", verbosity=0)
    n = int(calls)
    rules = {"floor_start": dt.time(0), "floor_end": dt.time(23, 59, 59, 999999)}
    if compliance_on == "1":
        rules |= {"max_dials_per_day": 3, "max_dials_per_week": 10, "min_gap": dt.timedelta(hours=1)}
    CallingRules.objects.update_or_create(pk=1, defaults=rules)
    campaign = make_campaign(
        "Runner bench",
        state=Campaign.State.RUNNING,
        calling_days=list(range(7)),
        window_start=dt.time(0),
        window_end=dt.time(23, 59, 59, 999999),
        concurrency_limit=10_000,
        max_retries=0,
    )
    # Lead numbers come after the list's: none of them is listed, so both runs dial every lead.
    Lead.objects.bulk_create(
        [
            Lead(campaign=campaign, phone=p, variables={"customer_name": "x"})
            for p in numbers(n, start=5_000_000)
        ],
        batch_size=5000,
    )
    runner = Runner(SimulatedProvider(mix={"no_answer": 1}, seed=1, speedup=0))
    started, cpu = time.perf_counter(), cpu_seconds()
    report = runner.run_once()
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return {"seconds": seconds, "cpu": cpu, "claimed": report.claimed, "dials": report.dials}


def stage_erase(n: str) -> dict:
    from django.core.management import call_command
    from django.db import connection

    from campaigns.models import Campaign
    from compliance.erasure import erase_number
    from leadmgr.testing import make_campaign, make_lead
    from leads.models import Lead

    call_command("migrate", verbosity=0)
    campaigns = [make_campaign(f"Erase {i}") for i in range(3)]
    # N leads over the three campaigns, written by one INSERT … SELECT (SQLite's recursive CTE):
    # the erasure's cost is in finding and deleting, not in what the leads hold.
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < %s) "
            "INSERT INTO leads_lead (campaign_id, phone, status, variables, attempts, created_at, updated_at) "
            "SELECT %s + i % 3, '+1212' || (2000000 + i / 3), 'created', '{\"customer_name\": \"x\"}', 0, "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00' FROM n",
            [int(n), min(c.pk for c in campaigns)],
        )
    target = "+14155550199"
    for campaign in Campaign.objects.filter(pk__in=[c.pk for c in campaigns]):
        make_lead(campaign, phone=target)
    connection.cursor().execute("ANALYZE")
    total = Lead.objects.count()
    started = time.perf_counter()
    erasure = erase_number(number=target, channel="command")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "leads": total, "deleted": erasure.leads_deleted}


# --- the run ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--numbers", type=int, default=1_000_000)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--erase-leads", type=int, default=1_000_000)
    parser.add_argument("--skip-erasure", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="leadmgr-dnc-bench-"))
    try:
        listed = numbers(args.numbers)
        dnc_csv = tmp / "dnc.csv"
        dnc_csv.write_text("phone,reason\n" + "".join(f"{n},bench\n" for n in listed))
        with_list = f"sqlite:///{tmp / 'with.sqlite3'}"
        dnc = child("import_dnc", with_list, str(dnc_csv))
        rate = args.numbers / dnc["seconds"]
        print(
            f"import_dnc: {args.numbers:,} numbers in {dnc['seconds']:.1f} s = {rate:,.0f} numbers/s "
            f"(target >= 20,000; {dnc['entries']:,} entries); by CPU time {args.numbers / dnc['cpu']:,.0f}/s"
        )

        # 1% of the leads are listed numbers; the rest are new.
        lead_numbers = listed[: args.leads // 100] + numbers(args.leads - args.leads // 100, start=5_000_000)
        leads_csv = tmp / "leads.csv"
        leads_csv.write_text("phone,customer_name\n" + "".join(f"{n},Bench\n" for n in lead_numbers))
        without_list = f"sqlite:///{tmp / 'without.sqlite3'}"
        base = child("import_leads", without_list, str(leads_csv))
        withl = child("import_leads", with_list, str(leads_csv))
        base_rate, with_rate = args.leads / base["seconds"], args.leads / withl["seconds"]
        print(
            f"import_leads of {args.leads:,} rows: without a list {base_rate:,.0f} rows/s, with the "
            f"{args.numbers:,}-number list {with_rate:,.0f} rows/s = {with_rate / base_rate:.2f}x "
            f"(target >= 0.9; {withl['leads']:,} leads written, {base['leads']:,} without the list); "
            f"by CPU time {base['cpu'] / withl['cpu']:.2f}x"
        )

        off = child("runner", f"sqlite:///{tmp / 'runner-off.sqlite3'}", str(args.calls), "0")
        on_url = f"sqlite:///{tmp / 'runner-on.sqlite3'}"
        shutil.copy(tmp / "with.sqlite3", tmp / "runner-on.sqlite3")  # the 1M list (and its leads)
        on = child("runner", on_url, str(args.calls), "1")
        off_rate, on_rate = off["claimed"] / off["seconds"], on["claimed"] / on["seconds"]
        print(
            f"runner over {args.calls:,} due leads: no list, no caps {off_rate:,.0f} leads/s; "
            f"{args.numbers:,}-number list and caps on {on_rate:,.0f} leads/s = {on_rate / off_rate:.2f}x "
            f"(target >= 0.8; dials {on['dials']:,} vs {off['dials']:,}); by CPU time {off['cpu'] / on['cpu']:.2f}x"
        )

        if not args.skip_erasure:
            erase = child("erase", f"sqlite:///{tmp / 'erase.sqlite3'}", str(args.erase_leads))
            print(
                f"erase_number across {erase['leads']:,} leads (the number in 3 campaigns): "
                f"{erase['seconds'] * 1000:.0f} ms, {erase['deleted']} leads deleted (target <= 1 s)"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        stage, url, *rest = sys.argv[2:]
        _harness.setup_django(url)
        result = {
            "import_dnc": stage_import_dnc,
            "import_leads": stage_import_leads,
            "runner": stage_runner,
            "erase": stage_erase,
        }[stage](*rest)
        print(json.dumps(result))
    else:
        main()
