"""The API's lead lists at a large size against the same requests at 10k, in one run.

    .venv/bin/python bench/api_list.py [--large 1000000] [--small 10000]

Each size runs in a subprocess on its own generated SQLite file (bench/data/, made once). Every
request goes through the whole stack with a bearer token (Django's test client, in-process):
median server time of 7 runs and the query count, and the ratio of the large figure to the small.
Targets (the API issue): list at 1M leads, first page and a cursor deep in the set, filtered:
≤ 50 ms median, ≤ 6 queries.
"""

from __future__ import annotations

import base64
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
    from django.db.models import Max, Min
    from django.test import Client

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
    return _harness.time_pages(client, pages)


if __name__ == "__main__":
    _harness.small_against_large(__file__, measure, "API request")
