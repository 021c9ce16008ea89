"""The pages the load test's operators visit, by the name their requests are reported under.

Kept apart from the locustfile (which imports locust, and with it gevent's monkey-patching) so the
driver and the tests can read the list without loading locust.
"""

from __future__ import annotations

PAGES = (
    "sign-in form",
    "sign-in POST",
    "leads table",
    "leads table, deep page",
    "leads: filter campaign + status",
    "leads: filter variable name + value",
    "leads: search name",
    "leads: search phone",
    "leads: search free text in variables",
    "leads: sorted by attempts",
    "leads: sorted by next attempt",
    "leads: sorted by campaign",
    "leads: match count (fragment)",
    "lead page",
    "lead edit form",
    "lead edit POST",
    "campaign list",
    "campaign page",
    "campaign start preview (fragment)",
)
