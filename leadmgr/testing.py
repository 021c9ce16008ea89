"""Test personas (operator, staff, admin, outsider) and factories, shared by all apps' tests."""

from __future__ import annotations

import datetime as dt
import itertools
import shutil

import pytest
from django.contrib.auth.models import Group, User
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIServer
from django.test import Client
from django.test.testcases import LiveServerThread

from campaigns.models import Assistant, AssistantVariable, Campaign
from leads import roles
from leads.models import Lead, SecondaryContact

PASSWORD = "correct-horse-battery-staple"
_numbers = itertools.count(1000)

# A campaign window open at every moment of every day (the end is exclusive): make_campaign(**ALL_DAY).
ALL_DAY = {
    "calling_days": [0, 1, 2, 3, 4, 5, 6],
    "window_start": dt.time(0, 0),
    "window_end": dt.time(23, 59, 59, 999999),
}


def next_phone() -> str:
    """A fresh valid San Francisco number (+1 415 2xx xxxx)."""
    n = next(_numbers)
    return f"+1415{200 + (n // 10_000) % 800:03d}{n % 10_000:04d}"


def ensure_roles() -> None:
    """The Operators and Staff groups with their permissions, as migration leads.0002_roles makes
    them: a transactional test's flush takes data-migration rows away for the tests after it."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Permission

    if Group.objects.filter(name__in=roles.ROLE_PERMISSIONS).count() == len(roles.ROLE_PERMISSIONS):
        return
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    for name, perms in roles.ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def make_user(username: str, *, group: str | None = None, superuser: bool = False) -> User:
    user = User.objects.create_user(username, password=PASSWORD, is_staff=superuser, is_superuser=superuser)
    if group:
        ensure_roles()
        user.groups.add(Group.objects.get(name=group))
    return user


def make_assistant(name: str = "Sales Qualifier", variables=None, template: str = "") -> Assistant:
    """variables: [(name, default, required), ...]; by default customer_name (required) and company."""
    assistant = Assistant.objects.create(
        name=name, message_template=template or "Hi {{customer_name}} from {{company}}."
    )
    if variables is None:
        variables = [("customer_name", "", True), ("company", "Acme", False)]
    for position, (var, default, required) in enumerate(variables):
        AssistantVariable.objects.create(
            assistant=assistant, name=var, default=default, required=required, position=position
        )
    return assistant


def make_campaign(name: str = "Spring", assistant: Assistant | None = None, **fields) -> Campaign:
    assistant = assistant or Assistant.objects.filter(name="Sales Qualifier").first() or make_assistant()
    fields.setdefault("retry_interval", dt.timedelta(minutes=60))
    return Campaign.objects.create(name=name, assistant=assistant, **fields)


def make_lead(campaign: Campaign, phone: str | None = None, contacts=(), **fields) -> Lead:
    fields.setdefault("variables", {"customer_name": "Sarah Johnson"})
    lead = Lead.objects.create(campaign=campaign, phone=phone or next_phone(), **fields)
    for position, contact in enumerate(contacts):
        SecondaryContact.objects.create(lead=lead, phone=contact, position=position)
    return lead


def open_legal_hours() -> None:
    """Open the site's legal calling floor (compliance.hours, 08:00–21:00 in the callee's zone by
    default) at every moment of every day.

    For a test or scenario that dials at the real time of day and does not test calling hours: with
    an ``ALL_DAY`` campaign it passes at any hour. Without it, a test that dials the San Francisco
    numbers of ``next_phone`` passes only from 16:00 to 05:00 UTC.
    """
    from compliance.models import CallingRules

    CallingRules.objects.update_or_create(
        pk=1,
        defaults={
            "floor_days": ALL_DAY["calling_days"],
            "floor_start": dt.time(0, 0),
            "floor_end": ALL_DAY["window_end"],
        },
    )


@pytest.fixture
def any_hour(db) -> None:
    """The legal floor open all day (``open_legal_hours``): the test dials at the real time of day."""
    open_legal_hours()


@pytest.fixture
def campaign(db) -> Campaign:
    return make_campaign()


@pytest.fixture
def lead(campaign) -> Lead:
    return make_lead(campaign)


@pytest.fixture
def operator(db) -> User:
    return make_user("olivia", group=roles.OPERATORS)


@pytest.fixture
def staff(db) -> User:
    return make_user("sam", group=roles.STAFF)


@pytest.fixture
def admin_user(db) -> User:
    return make_user("ada", superuser=True)


@pytest.fixture
def outsider(db) -> User:
    return make_user("oscar")


# The role matrix's personas: every URL and action is tried as each of them.
PERSONAS = ["anonymous", "outsider", "operator", "staff", "admin"]


@pytest.fixture
def as_persona(db, settings):
    """``as_persona(name)``: a client signed in as that persona (``anonymous``: signed out); the
    users are ``as_persona.users``."""
    # Several users per case over hundreds of cases: the production hasher would dominate the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    users = {
        "outsider": make_user("oscar"),
        "operator": make_user("olivia", group=roles.OPERATORS),
        "staff": make_user("sam", group=roles.STAFF),
        "admin": make_user("ada", superuser=True),
    }

    def client_for(persona: str) -> Client:
        client = Client()
        if persona != "anonymous":
            client.force_login(users[persona])
        return client

    client_for.users = users
    return client_for


def set_sqlite_statistics(tables: dict[str, dict[str, str]]) -> None:
    """Replace the ``sqlite_stat1`` rows of each table (index name → stat) and have the planner
    read them again; ``{}`` leaves a table with no statistics."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table, rows in tables.items():
            cursor.execute("DELETE FROM sqlite_stat1 WHERE tbl = %s", [table])
            for index, stat in rows.items():
                cursor.execute("INSERT INTO sqlite_stat1 VALUES (%s, %s, %s)", [table, index, stat])
        cursor.execute("ANALYZE sqlite_schema")  # the planner reads sqlite_stat1 again


DEFAULT_PG_SERVER = "postgres://postgres@127.0.0.1:5432"
NO_PG_SERVER = (
    "no PostgreSQL server (127.0.0.1:5432 does not answer and initdb/pg_ctl are not installed): "
    "this test needs one; make test-postgres runs it"
)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The URL (without a database) of a PostgreSQL server for tests that make databases of their own:
    bin/with-postgres's throwaway cluster, else the one on 127.0.0.1:5432. Without one the test skips,
    or fails when LEADMGR_REQUIRE_POSTGRES=1 (.ci/run), so CI never passes with them left out."""
    import os

    import psycopg

    url = os.environ.get("LEADMGR_TEST_PG_SERVER") or DEFAULT_PG_SERVER
    try:
        psycopg.connect(f"{url}/postgres", connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        if os.environ.get("LEADMGR_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"LEADMGR_REQUIRE_POSTGRES=1 but {url} does not answer: {exc}")
        pytest.skip(NO_PG_SERVER)
    return url


# --- the browser tests' Chromium (Debian's, through Playwright) ----------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium():
    """One browser for the whole run, defined here once: Playwright's sync API refuses to start a
    second instance while the first runs, which a session fixture defined in each app's browser
    conftest would do."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class SerialLiveServer(WSGIServer):
    """The live server, one request at a time, for a test database in memory.

    Django shares the test's in-memory SQLite connection with the live server (the only way its
    threads see the test's data), and its threaded server would then run two requests on that one
    connection at once: a page whose htmx parts load together (the campaign page's live part and
    its test-call panel) failed with sqlite3's "bad parameter or other API misuse". Requests
    handled in turn on the server's thread are safe; browsers wait a few milliseconds more.
    """

    def __init__(self, *args, connections_override=None, **kwargs):
        super().__init__(*args, **kwargs)


def live_server_for(*args, connections_override=None, **kwargs) -> WSGIServer:
    """The live server's class choice (``LiveServerThread.server_class``): serial when Django hands
    it the test's shared in-memory connection, else the threaded server Django would use."""
    if connections_override:
        return SerialLiveServer(*args, **kwargs)
    return ThreadedWSGIServer(*args, connections_override=connections_override, **kwargs)


def serve_one_request_at_a_time_on_memory_databases() -> None:
    LiveServerThread.server_class = staticmethod(live_server_for)
