"""The Django admin's lead changelist at 1M leads against the same pages at 10k, in one run.

    .venv/bin/python bench/admin_changelist.py [--large 1000000] [--small 10000]

Each size runs in a subprocess on its own generated SQLite file (bench/data/, made once). Prints the
median server time (in-process test client, 7 runs) and the query count of each page, and the ratio
of the large figure to the small one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness

PAGES = {
    "page 1": "",
    "deep page (p=150)": "?p=150",
    "campaign + status": "?campaign__id__exact=1&status__exact=rescheduled",
    "search variables": "?q=Dentistry",
    "search phone": "?q=4155",
}


def measure(database_url: str) -> dict:
    _harness.setup_django(database_url)
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client()
    client.force_login(user)
    results = {}
    for name, query in PAGES.items():
        url = "/admin/leads/lead/" + query

        def get(url=url):
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

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
    print(f"{'admin changelist page':<22} {args.small:>10,} leads {args.large:>12,} leads   ratio  queries")
    for name in PAGES:
        small, large = figures[args.small][name], figures[args.large][name]
        print(
            f"{name:<22} {small['ms']:>13.1f} ms {large['ms']:>13.1f} ms {large['ms'] / small['ms']:>6.1f}x"
            f"  {large['queries']}"
        )


if __name__ == "__main__":
    main()
