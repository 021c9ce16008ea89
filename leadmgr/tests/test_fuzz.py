"""No request ends in a server error: extreme values at every URL the resolver knows (issue 11).

The URLs come from ``get_resolver()``, so pages added later are fuzzed too; path converters are
filled with real ids and extreme ones. Every role (anonymous, no role, Operators, Staff, admin)
sends GET and POST with random and extreme values in every known query parameter and form
field; the answer must be below 500, and a streamed answer must stream to its end.
Hypothesis is derandomized with a fixed budget, so the run is the same on every machine.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import RunnerHeartbeat
from campaigns.providers import signing
from leadmgr.testing import make_campaign, make_lead, make_user
from leads import csv_forms, forms, roles
from leads.filters import FILTER_PARAMS
from webhooks import forms as webhook_forms
from webhooks import services as webhook_services

SECRET = "fuzz-provider-secret"
CALLBACK = "/campaigns/callbacks/http/"
INT64 = 2**63

EXTREMES = [
    "",
    "0",
    "-1",
    "1",
    str(2**31),
    str(INT64 - 1),
    str(INT64),
    str(-INT64 - 1),
    str(2**64),
    "9" * 40,
    "1e309",
    "NaN",
    "-0",
    "\x00",
    "a\x00b",
    "\u0663",  # Arabic-Indic 3
    "\u00b2",  # superscript 2
    "\uff11",  # full-width 1
    "[" * 12_000,
    "{" * 5_000,
    '{"a": ' * 3_000,
    "x" * 10_000,
    "9999-12-31",
    "0001-01-01",
    "9999-12-31T23:59",
    "0001-01-01T00:00",
    "10000-01-01",
    "2026-02-30",
    "Chlo\u00e9 \U0001f600 \u202e",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "%",
    "_",
    "a__b",
    "a__contains",
    "on",
    "true",
    "created",
    "processing",
    "completed",
    "scheduled",
    "/leads/",
    "//evil.example/",
    "https://evil.example/",
    "null",
    "{}",
    "[]",
    '{"customer_name": "x"}',
    "-created_at",
    "phone",
    "1,2,3",
    " ",
]

# Every parameter the pages read: the filter, paging and sorting, the bulk and export options,
# the lead form with its formsets, the status, import and export forms, sign-in.
FORM_FIELDS = [
    *forms.LeadForm.base_fields,
    *forms.StatusForm.base_fields,
    *csv_forms.ImportForm.base_fields,
    *csv_forms.ExportColumnsForm.base_fields,
    *webhook_forms.SubscriptionForm.base_fields,
]
PARAMS = sorted(
    {
        *FILTER_PARAMS,
        *FORM_FIELDS,
        *(f"vars-{i}" for i in ("TOTAL_FORMS", "INITIAL_FORMS", "0-name", "0-value", "0-DELETE", "1-name")),
        *(
            f"contacts-{i}"
            for i in ("TOTAL_FORMS", "INITIAL_FORMS", "0-phone", "0-id", "0-ORDER", "0-DELETE")
        ),
        "contacts-0-vars-TOTAL_FORMS",
        "contacts-0-vars-0-name",
        "page",
        "per_page",
        "sort",
        "pk",
        "all",
        "next",
        "download",
        "columns",
        "with_secondary",
        "lead",
        "prefilled",
        "username",
        "password",
        "old_password",
        "new_password1",
        "new_password2",
        "email",
        "o",
        "p",
        "q",
        "e",
        "_changelist_filters",
        "action",
        "_selected_action",
    }
)

ROLES = ["anonymous", "no_role", "operator", "staff", "admin"]


def _routes(patterns, prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def all_routes() -> list[str]:
    return sorted(set(_routes(get_resolver().url_patterns)))


CONVERTER = re.compile(r"<(?:(\w+):)?\w+>")
REGEX_GROUP = re.compile(r"\(\?P<\w+>[^)]*\)")


def fill(route: str, value: str) -> str:
    """A URL for ``route`` with every path parameter set to ``value`` (regex routes: a fixed app)."""
    if route.startswith("^") or "(?P<" in route or route.endswith("$"):
        route = REGEX_GROUP.sub("leads", route.replace("^", "").replace("$", ""))
    return "/" + CONVERTER.sub(
        lambda m: value if m.group(1) in ("int", None, "str", "path", "slug") else "1", route
    )


class World:
    """The data, the signed-in clients and the routes the fuzz runs against."""

    def __init__(self) -> None:
        self.campaign = make_campaign()
        self.lead = make_lead(self.campaign, contacts=["+14155550901"], variables={"customer_name": "A"})
        # A webhook subscription for its pages: its id (1, as the lead's) is among the ids below.
        self.subscription = webhook_services.subscription_create(
            url="https://crm.example/", events=["call.ended"]
        )
        self.users = {
            "no_role": make_user("fuzz-nobody"),
            "operator": make_user("fuzz-operator", group=roles.OPERATORS),
            "staff": make_user("fuzz-staff", group=roles.STAFF),
            "admin": make_user("fuzz-admin", superuser=True),
        }
        self.clients: dict[str, Client] = {}
        for role in ROLES:
            self.clients[role] = self.client(role)
        self.routes = all_routes()
        self.ids = [
            str(self.lead.pk),
            str(self.campaign.pk),
            str(self.campaign.assistant_id),
            "0",
            str(INT64 - 1),
            str(INT64),
            "9" * 30,
            "x",
            "a" * 300,
            "\u00e9",
        ]
        self.requests = 0

    def client(self, role: str) -> Client:
        client = Client(raise_request_exception=False)
        if role != "anonymous":
            client.force_login(self.users[role])
        return client

    def send(self, role: str, method: str, url: str, params: list[tuple[str, str]]) -> None:
        # Signing out ends the client's session: those requests get a client of their own.
        client = self.client(role) if "logout" in url else self.clients[role]
        data: dict[str, list[str]] = {}
        for name, value in params:
            data.setdefault(name, []).append(value)
        if method == "GET":
            response = client.get(url, data)
        elif url == CALLBACK:
            body = json.dumps(dict(params), ensure_ascii=bool(len(params) % 2)).encode(
                "utf-8", "surrogatepass"
            )
            response = self.callback(client, body)
        else:
            response = client.post(url, data)
        self.requests += 1
        if response.streaming:
            b"".join(response.streaming_content)  # an error while streaming fails the test here
        assert response.status_code < 500, (role, method, url, params[:5], response.status_code)

    @staticmethod
    def callback(client: Client, body: bytes):
        stamp = int(time.time())
        headers = {
            signing.TIMESTAMP_HEADER: str(stamp),
            signing.SIGNATURE_HEADER: signing.sign(SECRET, stamp, body),
        }
        return client.post(CALLBACK, data=body, content_type="application/json", headers=headers)


@pytest.fixture
def world(db, settings) -> World:
    settings.LEADMGR_PROVIDER_SECRET = SECRET
    # A fast hasher: the personas and every sign-in attempt hash a password.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # A healthy site: /healthz/detail answers 503 by design when a check fails (no live runner, a
    # full disk), so the world has a runner seen throughout the run and no free-space floor; any
    # 5xx left is a bug.
    settings.LEADMGR_HEALTH_MIN_FREE_MB = 0
    now = timezone.now()
    RunnerHeartbeat.objects.create(
        worker_id="fuzz:1", started_at=now, last_seen=now + dt.timedelta(hours=1), last_pass_at=now
    )
    return World()


@pytest.fixture
def provider_secret(db, settings) -> None:
    settings.LEADMGR_PROVIDER_SECRET = SECRET


values = st.one_of(
    st.sampled_from(EXTREMES),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(max_size=40),
)
params = st.lists(st.tuples(st.sampled_from(PARAMS), values), max_size=8)


def test_every_route_answers_every_role_below_500_with_extreme_values(world):
    """A sweep: each route, each role, GET and POST, every parameter at one extreme value."""
    bundles = [EXTREMES[i :: len(ROLES)] for i in range(len(ROLES))]
    for route in world.routes:
        for i, role in enumerate(ROLES):
            value = world.ids[(i + len(route)) % len(world.ids)]
            url = fill(route, value)
            bundle = bundles[(i + len(route)) % len(bundles)]
            extreme = [(name, bundle[j % len(bundle)]) for j, name in enumerate(PARAMS)]
            for method in ("GET", "POST"):
                world.send(role, method, url, extreme)
    assert world.requests == 2 * len(ROLES) * len(world.routes)


CALLBACK_BODIES = [
    b"[" * 10_000,
    b"{" * 10_000,
    json.dumps({"call_id": INT64, "outcome": "completed"}).encode(),
    json.dumps({"call_id": -INT64 - 1, "outcome": "completed"}).encode(),
    json.dumps({"call_id": 10**400, "outcome": "completed"}).encode(),
    json.dumps({"call_id": 1, "outcome": "completed", "detail": "\x00", "provider_ref": "\x00"}).encode(),
    b'{"call_id": 1, "outcome": "failed", "detail": "\\ud800", "provider_ref": "\\udfff"}',
    b'{"call_id": 1e400, "outcome": "completed"}',
    b'{"call_id": 1, "outcome": ["completed"]}',
    b'{"call_id": 1, "outcome": {"a": 1}, "detail": 5}',
    b"\xff\xfe\x00",
    b"",
]


@pytest.mark.parametrize("body", CALLBACK_BODIES)
def test_signed_extreme_callbacks_answer_below_500(provider_secret, campaign, body):
    make_lead(campaign)
    response = World.callback(Client(raise_request_exception=False), body)
    assert response.status_code < 500, body[:80]


@settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    route=st.integers(min_value=0),
    role=st.sampled_from(ROLES),
    method=st.sampled_from(["GET", "POST"]),
    path_value=st.integers(min_value=0),
    params=params,
)
def test_random_requests_answer_below_500(world, route, role, method, path_value, params):
    url = fill(world.routes[route % len(world.routes)], world.ids[path_value % len(world.ids)])
    world.send(role, method, url, params)
