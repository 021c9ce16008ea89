"""The API's lead lists at a large size against the same requests at 10k, in one run.

    .venv/bin/python bench/api_list.py [--large 1000000] [--small 10000]

Each size runs in a subprocess on its own generated SQLite file (bench/data/, made once). Every
request goes through the whole stack with a bearer token (Django's test client, in-process):
median server time of 7 runs and the query count, and the ratio of the large figure to the small.
Targets (the API issue): list at 1M leads, first page and a cursor deep in the set, filtered:
≤ 50 ms median, ≤ 6 queries.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness


def cursor(position: int) -> str:
    """A cursor of DRF's CursorPagination (ordering -id): the page of leads with ids below ``position``."""
    return base64.b64encode(urlencode({"p": position}).encode()).decode()


def measure(database_url: str) -> dict:
    _harness.setup_django(database_url)
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Max, Min
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from api import tokens
    from leads.models import Lead

    call_command("migrate", verbosity=0)  # a file generated before the api app lacks its tables
    user, _ = User.objects.get_or_create(username="bench-api", defaults={"is_superuser": True})
    _, key = tokens.token_create(user=user, name="bench")
    low, high = Lead.objects.aggregate(lo=Min("id"), hi=Max("id")).values()
    deep = cursor(low + (high - low) // 20)  # 95 % of the way down, newest first
    campaign = Lead.objects.filter(status="rescheduled").values_list("campaign_id", flat=True).first()
    pages = {
        "first page": "/api/v1/leads/",
        "deep cursor": f"/api/v1/leads/?cursor={deep}",
        "campaign + status": f"/api/v1/leads/?campaign={campaign}&status=rescheduled",
        "campaign + status, deep": f"/api/v1/leads/?campaign={campaign}&status=rescheduled&cursor={deep}",
        "Autocalls list (capped total)": f"/api/user/leads?campaign_id={campaign}&status=rescheduled",
    }
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    results = {}
    for name, url in pages.items():

        def get(url=url):
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code, response.content[:300])

        ms = _harness.median_ms(get)
        with CaptureQueriesContext(connection) as queries:
            get()
        results[name] = {"ms": ms, "queries": len(queries)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    figures = {}
    for n in (args.small, args.large):
        url = _harness.sqlite_with_leads(n)
        out = subprocess.run(
            [sys.executable, __file__, "--measure", url], check=True, capture_output=True, text=True
        ).stdout
        figures[n] = json.loads(out.strip().splitlines()[-1])
    print(f"{'API request':<30} {args.small:>10,} leads {args.large:>12,} leads   ratio  queries")
    for name in figures[args.small]:
        small, large = figures[args.small][name], figures[args.large][name]
        print(
            f"{name:<30} {small['ms']:>13.1f} ms {large['ms']:>13.1f} ms {large['ms'] / small['ms']:>6.1f}x"
            f"  {large['queries']}"
        )


if __name__ == "__main__":
    main()
