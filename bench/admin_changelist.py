"""The Django admin's lead changelist at 1M leads against the same pages at 10k, in one run.

    .venv/bin/python bench/admin_changelist.py [--large 1000000] [--small 10000]

Each size runs in a subprocess on its own generated SQLite file (bench/data/, made once). Prints the
median server time (in-process test client, 7 runs) and the query count of each page, and the ratio
of the large figure to the small one.
"""

from __future__ import annotations

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
    from django.test import Client

    user, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client()
    client.force_login(user)
    return _harness.time_pages(client, {name: "/admin/leads/lead/" + query for name, query in PAGES.items()})


if __name__ == "__main__":
    _harness.small_against_large(__file__, measure, "admin changelist page")
