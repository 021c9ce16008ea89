"""The API against its own live schema: schemathesis sends generated requests (valid and not) to
every operation of /api/schema/ on a real HTTP server, as an admin's token; no answer may be a
server error, and every answer must conform to the schema (status code documented, content type,
headers, body). Derandomized with a small budget per operation, so a run takes about a minute and
is the same on every machine."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import schemathesis
import yaml
from django.core.serializers.json import DjangoJSONEncoder
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis import checks

from api import tokens
from campaigns.models import Campaign
from leadmgr.testing import make_assistant, make_campaign, make_lead, make_user
from leads.models import Status

# A real server thread reads the data: committed rows, put back as migrations left them afterwards
# (the roles' groups) for the tests that follow.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

MAX_EXAMPLES = 12
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


@dataclass
class World:
    key: str
    leads: list[int]
    campaigns: list[int]


@pytest.fixture
def world() -> World:
    """Data for the requests to meet: two campaigns (no required variable, so generated leads can be
    valid), leads in several statuses with contacts, and an admin's token."""
    admin = make_user("fuzz-admin", superuser=True)
    _, key = tokens.token_create(user=admin, name="schemathesis")
    assistant = make_assistant("Open", variables=[("company", "Acme", False)])
    spring = make_campaign(assistant=assistant)
    autumn = make_campaign("Autumn", assistant=assistant, state=Campaign.State.RUNNING)
    leads = [
        make_lead(spring, status=status, contacts=[f"+1415999{i:04d}"]).pk
        for i, status in enumerate([Status.CREATED, Status.PROCESSING, Status.COMPLETED, Status.SCHEDULED])
    ]
    return World(key, leads, [spring.pk, autumn.pk])


def realistic(case, world: World) -> None:
    """Point about half the generated ids and phones at real rows and valid numbers, so requests
    also get past "not found" and "not a phone number" into the code behind them (the other half,
    and every malformed value, stay as generated)."""
    ids = world.campaigns if "/campaigns/" in case.path else world.leads
    value = (case.path_parameters or {}).get("id")
    if isinstance(value, int) and value % 2 == 0:
        case.path_parameters["id"] = ids[value % len(ids)]
    if isinstance(case.body, dict):
        _realistic_lead(case.body, world)
        for item in case.body.get("items", []) if isinstance(case.body.get("items"), list) else []:
            if isinstance(item, dict):
                _realistic_lead(item, world)


def _realistic_lead(body: dict, world: World) -> None:
    for key in ("campaign", "campaign_id"):
        if isinstance(body.get(key), int) and body[key] % 2 == 0:
            body[key] = world.campaigns[body[key] % 2]
    phone = body.get("phone_number")
    if isinstance(phone, str) and len(phone) % 2 == 0:
        body["phone_number"] = f"+1415{300 + len(phone) % 600:03d}{abs(hash(phone)) % 10_000:04d}"
    contacts = body.get("secondary_contacts")
    for i, contact in enumerate(contacts if isinstance(contacts, list) else []):
        if isinstance(contact, dict) and isinstance(contact.get("phone_number"), str) and i % 2 == 0:
            contact["phone_number"] = f"+1628{200 + i:03d}{abs(hash(contact['phone_number'])) % 10_000:04d}"


def served_schema() -> dict:
    """What /api/schema/ serves (the same generator; a test below compares the two)."""
    return SchemaGenerator().get_schema(request=None, public=True)


# Loaded at collection: one parametrized test per operation.
schema = schemathesis.openapi.from_dict(json.loads(json.dumps(served_schema(), cls=DjangoJSONEncoder)))


def test_the_fuzzed_schema_is_the_served_one(client):
    served = yaml.safe_load(client.get("/api/schema/").content)
    assert json.loads(json.dumps(served, default=str)) == json.loads(
        json.dumps(served_schema(), cls=DjangoJSONEncoder)
    )


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_by_its_schema_and_never_5xx(case, world, live_server):
    realistic(case, world)
    case.call_and_validate(
        base_url=live_server.url, headers={"Authorization": f"Bearer {world.key}"}, checks=CHECKS
    )
