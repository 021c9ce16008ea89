"""The load test's database work, run by bench/load/run.py in a process of its own (Django's settings
are read once per process): ``setup`` before the run, ``check`` after it. Prints one JSON line.

    DATABASE_URL=... python bench/load/dbtasks.py setup --users 50 --password ... --concurrency 100
    DATABASE_URL=... python bench/load/dbtasks.py check --since <iso> --until <iso>
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _harness

_harness.setup_django()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from campaigns.models import Assistant, Campaign  # noqa: E402
from compliance.models import CallingRules  # noqa: E402
from leads import demo, roles  # noqa: E402
from leads.models import CallAttempt, Lead, Status, StatusChange  # noqa: E402

USER_PREFIX = "load-operator-"
RUNNING = "Spring demo follow-up"
IMPORT_CAMPAIGNS = {"idle": "Load import (idle)", "loaded": "Load import (under load)"}


def setup(users: int, password: str, concurrency: int) -> dict:
    """Operators, the running campaign's limit, the import targets; what the locustfile needs."""
    call_command("migrate", verbosity=0)
    campaigns = demo.ensure_demo_campaigns()
    operators = Group.objects.get(name=roles.OPERATORS)
    hashed = make_password(password)  # one hash for all: 50 PBKDF2 runs would only slow the set-up
    with transaction.atomic():
        User.objects.filter(username__startswith=USER_PREFIX).delete()
        made = User.objects.bulk_create(
            User(username=f"{USER_PREFIX}{i:02d}", password=hashed, is_active=True)
            for i in range(1, users + 1)
        )
        operators.user_set.add(*made)
        running = Campaign.objects.get(name=RUNNING)
        Campaign.objects.filter(pk=running.pk).update(
            state=Campaign.State.RUNNING, concurrency_limit=concurrency, **demo.DEMO_RUNNING_FIELDS
        )
        # The load runs at any hour of the real clock, and measures serving and dialling, not the
        # legal calling-hours floor (08:00-21:00 callee time by default): lift the floor, as the
        # runner's process tests do, so the running campaign's all-day window is what applies.
        CallingRules.objects.update_or_create(
            pk=1,
            defaults={
                "floor_days": list(range(7)),
                "floor_start": dt.time(0, 0),
                "floor_end": dt.time(23, 59, 59, 999999),
            },
        )
        sales = Assistant.objects.get(name="Sales Qualifier")
        for name in IMPORT_CAMPAIGNS.values():
            Campaign.objects.get_or_create(name=name, defaults={"assistant": sales})
    due = Lead.objects.filter(campaign=running, status__in=[Status.CREATED, Status.SCHEDULED]).count()
    return {
        "user_prefix": USER_PREFIX,
        "max_lead_id": Lead.objects.order_by("-id").values_list("id", flat=True).first() or 0,
        "leads": Lead.objects.count() if connection.vendor == "sqlite" else _estimate_leads(),
        "campaign_ids": [c.pk for c in campaigns],
        "running_campaign": running.pk,
        "due_leads": due,
        "import_campaigns": IMPORT_CAMPAIGNS,
    }


def _estimate_leads() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM leads_lead")
        return cursor.fetchone()[0]


def check(since: dt.datetime, until: dt.datetime) -> dict:
    """After every worker stopped: claims and dials in the window, double dials, stuck leads."""
    lead, calls, history = Lead._meta.db_table, CallAttempt._meta.db_table, StatusChange._meta.db_table
    with connection.cursor() as cursor:
        # A double dial: a call to a lead that starts before the lead's previous call ended, or a call
        # that never ended (every runner has stopped by now, releasing or finishing what it held).
        cursor.execute(
            f"""SELECT COUNT(*) FILTER (WHERE ended_at IS NULL),
                       COUNT(*) FILTER (WHERE previous_end IS NOT NULL AND started_at < previous_end)
                FROM (SELECT ended_at, started_at,
                             LAG(ended_at) OVER (PARTITION BY lead_id ORDER BY started_at, id) AS previous_end
                      FROM {calls}) AS c"""
        )
        never_ended, overlapping = (n or 0 for n in cursor.fetchone())
        # Two claims of one lead with no end between them in its history.
        cursor.execute(
            f"""SELECT COUNT(*) FROM (
                    SELECT to_status, LAG(to_status) OVER (PARTITION BY lead_id ORDER BY at, id) AS previous
                    FROM {history}) AS h
                WHERE to_status = %s AND previous = %s""",
            [Status.PROCESSING, Status.PROCESSING],
        )
        double_claims = cursor.fetchone()[0]
        cursor.execute(f"SELECT COUNT(*) FROM {lead} WHERE status = %s", [Status.PROCESSING])
        processing_left = cursor.fetchone()[0]
    window = StatusChange.objects.filter(at__gte=since, at__lt=until)
    claims = window.filter(to_status=Status.PROCESSING, automatic=True).count()
    dials = CallAttempt.objects.filter(started_at__gte=since, started_at__lt=until).count()
    results = CallAttempt.objects.filter(ended_at__gte=since, ended_at__lt=until).count()
    imported = {
        key: Lead.objects.filter(campaign__name=name).count() for key, name in IMPORT_CAMPAIGNS.items()
    }
    seconds = (until - since).total_seconds()
    return {
        "seconds": seconds,
        "claims": claims,
        "claims_per_s": claims / seconds if seconds else 0.0,
        "dials": dials,
        "results": results,
        "double_dials": overlapping + never_ended,
        "overlapping_calls": overlapping,
        "calls_never_ended": never_ended,
        "double_claims": double_claims,
        "processing_left": processing_left,
        "imported": imported,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="task", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--users", type=int, required=True)
    s.add_argument("--password", required=True)
    s.add_argument("--concurrency", type=int, required=True)
    c = sub.add_parser("check")
    c.add_argument("--since", type=dt.datetime.fromisoformat, required=True)
    c.add_argument("--until", type=dt.datetime.fromisoformat, required=True)
    args = parser.parse_args()
    if args.task == "setup":
        out = setup(args.users, args.password, args.concurrency)
    else:
        out = check(args.since, args.until)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
