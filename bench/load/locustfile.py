"""Signed-in operators working the lead manager, for locust (run by bench/load/run.py).

Each simulated operator signs in through /accounts/login/ (CSRF token from the form), walks once
through every page kind (so even a short run reports each one), then works at random with a pause
between clicks: the leads table and its deep pages, filters, searches and sorts, the bulk bar's
match count, lead pages, lead edits (the lead form GET, then its POST with one variable changed),
and campaign pages with the start-preview fragment htmx loads, refreshed a few times as an operator
watching a running campaign does. Request names are those of ``pages.PAGES``.

Settings come from the environment (the driver sets them): LOAD_USER_PREFIX, LOAD_USERS,
LOAD_PASSWORD, LOAD_MAX_LEAD_ID, LOAD_CAMPAIGN_IDS, LOAD_WAIT ("min,max" seconds between clicks),
LOAD_STOP_AFTER_TOUR ("1": stop once every user has visited every page), LOAD_REQUEST_LOG (a file
for one line per request — end time, name, milliseconds, failed — and a "spawned" line when the last
user has started, so the driver can tell the sign-in ramp from the steady load).
"""

from __future__ import annotations

import itertools
import os
import random
import re
import time
from html.parser import HTMLParser
from urllib.parse import urlencode

import gevent
from locust import HttpUser, between, constant, events, task

USER_PREFIX = os.environ.get("LOAD_USER_PREFIX", "load-operator-")
N_USERS = int(os.environ.get("LOAD_USERS", "50"))
PASSWORD = os.environ.get("LOAD_PASSWORD", "")
MAX_LEAD_ID = int(os.environ.get("LOAD_MAX_LEAD_ID", "1000"))
CAMPAIGN_IDS = [int(c) for c in os.environ.get("LOAD_CAMPAIGN_IDS", "1").split(",")]
STOP_AFTER_TOUR = os.environ.get("LOAD_STOP_AFTER_TOUR") == "1"
REQUEST_LOG = os.environ.get("LOAD_REQUEST_LOG")
WAIT = [float(w) for w in os.environ.get("LOAD_WAIT", "3,10").split(",")]

NAMES = ["Tanaka", "García", "Patel", "Sarah Johnson", "Müller", "Chen"]
COMPANIES = ["Northwind Traders", "Acme Analytics", "Summit Realty", "Orbit Fitness"]
STATUSES = ["created", "scheduled", "rescheduled", "completed", "max_retries", "processing"]
# How often an operator does each thing, relative to the others (each a method of Operator).
ACTIONS = {
    "table": 6,
    "deep_page": 1,
    "filter_campaign_status": 4,
    "filter_variable": 2,
    "search_name": 3,
    "search_phone": 2,
    "search_free_text": 1,
    "sorted_pages": 2,
    "lead_page": 5,
    "edit_lead": 2,
    "campaigns": 3,
}
SORTS = {
    "attempts": "leads: sorted by attempts",
    "next_attempt_at": "leads: sorted by next attempt",
    "campaign": "leads: sorted by campaign",
}
US_AREAS = ["212", "312", "415", "512", "617", "646", "702", "713", "801", "206", "303", "404", "602", "305"]
# One account per simulated operator, handed out in turn (locust starts users one by one).
_accounts = itertools.count(1)
_toured = 0
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


_request_log = open(REQUEST_LOG, "a", buffering=1 << 16) if REQUEST_LOG else None  # noqa: SIM115


@events.request.add_listener
def _log_request(name, response_time, exception, **kwargs) -> None:
    if _request_log is not None:
        _request_log.write(f"{time.time():.3f}\t{name}\t{response_time:.1f}\t{int(exception is not None)}\n")


@events.spawning_complete.add_listener
def _log_spawned(user_count, **kwargs) -> None:
    if _request_log is not None:
        _request_log.write(f"{time.time():.3f}\tspawned\t{user_count}\t0\n")


@events.quitting.add_listener
def _close_log(**kwargs) -> None:
    if _request_log is not None:
        _request_log.flush()


def demo_phone(index: int) -> str:
    """The number leads.demo.phone_for(index) gives lead ``index`` in the generated data."""
    area = US_AREAS[index % len(US_AREAS)]
    rest = index // len(US_AREAS)
    return f"+1{area}{200 + (rest // 10_000) % 800}{rest % 10_000:04d}"


class FormFields(HTMLParser):
    """The fields a browser would submit from the form with ``form_id`` (outside <template>s)."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.fields: list[tuple[str, str]] = []
        self._in_form = self._in_template = False
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == self.form_id:
            self._in_form = True
        elif tag == "template":
            self._in_template = True
        if not self._in_form or self._in_template:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button", "file"):
                self.fields.append((name, a.get("value") or ("on" if kind == "checkbox" else "")))
        elif tag == "select" and name:
            self._select, self._options = name, []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value") or "", "selected" in a))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, ""

    def handle_data(self, data):
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "template":
            self._in_template = False
        elif tag == "form" and self._in_form:
            self._in_form = False
        elif tag == "select" and self._select is not None:
            chosen = [v for v, selected in self._options if selected] or [v for v, _ in self._options[:1]]
            self.fields.extend((self._select, v) for v in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea, self._text))
            self._textarea = None


def form_fields(html: str, form_id: str) -> list[tuple[str, str]]:
    parser = FormFields(form_id)
    parser.feed(html)
    return parser.fields


class Operator(HttpUser):
    wait_time = constant(WAIT[0]) if WAIT[0] == WAIT[-1] else between(WAIT[0], WAIT[-1])

    def on_start(self) -> None:
        account = next(_accounts)
        self.username = f"{USER_PREFIX}{(account - 1) % N_USERS + 1:02d}"
        self.sign_in()
        # A first look around: every page kind once (each user starting elsewhere in the round), so
        # that even a short run reports every page; then clicks drawn by their weights.
        tour = [*ACTIONS, *(f"sorted_pages:{column}" for column in SORTS)]
        tour.remove("sorted_pages")
        start = (account - 1) * len(tour) // max(N_USERS, 1) % len(tour)
        self.tour = tour[start:] + tour[:start]

    @task
    def work(self) -> None:
        """One click: the next page of the first look around, else one drawn by weight."""
        touring = bool(self.tour)
        if touring:
            action, _, column = self.tour.pop(0).partition(":")
        else:
            action, column = random.choices(list(ACTIONS), weights=list(ACTIONS.values()))[0], ""
        if column:
            self.sorted_pages(column)
        else:
            getattr(self, action)()
        if touring and not self.tour:
            self.toured()

    def toured(self) -> None:
        """With LOAD_STOP_AFTER_TOUR (the smoke test), the run ends once every user has seen every
        page, however slow the machine: a fixed run time would be too short on a busy one."""
        global _toured
        _toured += 1
        if STOP_AFTER_TOUR and _toured >= N_USERS:
            gevent.spawn(self.environment.runner.quit)

    # --- helpers ----------------------------------------------------------------------------------

    def sign_in(self) -> None:
        with self.client.get("/accounts/login/", name="sign-in form", catch_response=True) as r:
            token = _CSRF.search(r.text or "")
            if r.status_code != 200 or not token:
                r.failure(f"no sign-in form (status {r.status_code})")
                return
        data = {"username": self.username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)}
        with self.client.post(
            "/accounts/login/", data=data, name="sign-in POST", allow_redirects=False, catch_response=True
        ) as r:
            if r.status_code != 302:
                r.failure(f"sign-in refused (status {r.status_code})")

    def get(self, url: str, name: str, **params) -> str:
        """GET a page; anything but 200 (a redirect to the sign-in page included) is a failure."""
        if params:
            url += "?" + urlencode(params, doseq=True)
        with self.client.get(url, name=name, allow_redirects=False, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"status {r.status_code}")
            return r.text or ""

    def table_page(self, name: str, **params) -> None:
        """A table page, then the match count the bulk bar loads with htmx when it appears."""
        self.get("/leads/", name, **params)
        filters = {k: v for k, v in params.items() if k not in ("page", "sort")}
        if filters and random.random() < 0.5:
            self.get("/leads/count/", "leads: match count (fragment)", **filters)

    def some_lead(self) -> int:
        return random.randint(1, MAX_LEAD_ID)

    # --- what operators do ------------------------------------------------------------------------

    def table(self) -> None:
        self.table_page("leads table", **({"page": random.randint(2, 5)} if random.random() < 0.5 else {}))

    def deep_page(self) -> None:
        self.table_page("leads table, deep page", page=random.randint(100, 4000))

    def filter_campaign_status(self) -> None:
        statuses = random.sample(STATUSES, random.randint(1, 2))
        params = {"campaign": random.choice(CAMPAIGN_IDS), "status": statuses}
        if random.random() < 0.3:
            params["page"] = random.randint(2, 20)
        self.table_page("leads: filter campaign + status", **params)

    def filter_variable(self) -> None:
        self.table_page("leads: filter variable name + value", var="company", value=random.choice(COMPANIES))

    def search_name(self) -> None:
        self.table_page("leads: search name", q=random.choice(NAMES))

    def search_phone(self) -> None:
        self.table_page("leads: search phone", q=demo_phone(self.some_lead()))

    def search_free_text(self) -> None:
        self.table_page("leads: search free text in variables", variables=random.choice(COMPANIES))

    def sorted_pages(self, column: str | None = None) -> None:
        column = column or random.choice(list(SORTS))
        self.table_page(SORTS[column], sort=random.choice([column, f"-{column}"]))

    def lead_page(self) -> None:
        self.get(f"/leads/{self.some_lead()}/", "lead page")

    def edit_lead(self) -> None:
        """The lead form, then its POST with one variable's value changed (variables may change even
        while a call is under way, so every edit must save: 302 to the lead page)."""
        pk = self.some_lead()
        html = self.get(f"/leads/{pk}/edit/", "lead edit form")
        fields = form_fields(html, "lead-form")
        if not fields:
            return
        values = dict(fields)
        names = [v for k, v in fields if re.fullmatch(r"vars-\d+-name", k)]
        if not names:
            return
        index = next(
            (k.split("-")[1] for k, v in fields if re.fullmatch(r"vars-\d+-name", k) and v != ""), "0"
        )
        key = f"vars-{index}-value"
        old = values.get(key, "")
        new = old[: -len(" (edited)")] if old.endswith(" (edited)") else f"{old} (edited)"
        data = [(k, new if k == key else v) for k, v in fields]
        data.append(("reason", "load test edit"))
        with self.client.post(
            f"/leads/{pk}/edit/", data=data, name="lead edit POST", allow_redirects=False, catch_response=True
        ) as r:
            if r.status_code != 302:
                problem = re.search(
                    r'class="(?:alert alert-danger|invalid-feedback)[^"]*"[^>]*>([^<]+)', r.text or ""
                )
                r.failure(f"status {r.status_code}: {problem.group(1) if problem else 'no redirect'}")

    def campaigns(self) -> None:
        """The campaign list, one campaign's page and its start preview, refreshed a few times."""
        self.get("/campaigns/", "campaign list")
        campaign = random.choice(CAMPAIGN_IDS)
        for refresh in range(random.randint(1, 3)):
            if refresh:
                self.wait()
            self.get(f"/campaigns/{campaign}/", "campaign page")
            self.get(f"/campaigns/{campaign}/start-preview/", "campaign start preview (fragment)")
