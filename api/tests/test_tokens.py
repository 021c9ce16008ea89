"""API tokens: created (key shown once, stored hashed), used as Bearer, listed, revoked."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from api import tokens
from api.models import ApiToken
from api.tests.helpers import ApiClient, api_client

pytestmark = pytest.mark.django_db

LEADS = "/api/v1/leads/"


def test_the_key_is_stored_only_as_its_sha256(operator):
    token, key = tokens.token_create(user=operator, name="CRM sync")
    stored = ApiToken.objects.get(pk=token.pk)
    assert key.startswith("lm_") and len(key) > 40
    assert stored.key_hash == tokens.hash_key(key)
    assert key not in {stored.key_hash, stored.prefix, stored.name}
    assert stored.prefix == key[:10]


def test_a_bearer_token_acts_as_its_user(operator):
    response = api_client(operator).get(LEADS)
    assert response.status_code == 200
    assert response.json() == {"next": None, "previous": None, "results": []}


def test_anonymous_gets_401_problem_with_a_challenge(db):
    response = ApiClient().get(LEADS)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    body = response.json()
    assert body["status"] == 401 and body["type"] == "about:blank" and body["title"] == "Unauthorized"
    assert body["errors"] == []


@pytest.mark.parametrize("header", ["Bearer lm_nope", "Bearer", "Bearer a b", "Bearer \u00e9t\u00e9"])
def test_a_wrong_key_gets_401(db, header):
    response = ApiClient().get(LEADS, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["detail"] in (
        "The API token is not valid: it is unknown, revoked, or its user is inactive.",
    )


def test_a_revoked_token_gets_401(operator):
    token, key = tokens.token_create(user=operator, name="old")
    assert tokens.token_revoke(user=operator, token_id=token.pk) is True
    assert ApiClient(key).get(LEADS).status_code == 401


def test_an_inactive_users_token_gets_401(operator):
    client = api_client(operator)
    operator.is_active = False
    operator.save()
    assert client.get(LEADS).status_code == 401


def test_a_role_without_the_permission_gets_403(outsider):
    response = api_client(outsider).get(LEADS)
    assert response.status_code == 403
    assert (
        response.json()["detail"] == "Your role does not allow this: it needs the permission leads.view_lead."
    )


def test_last_used_is_written_at_most_once_a_minute(operator, django_assert_num_queries):
    token, key = tokens.token_create(user=operator, name="x")
    client = ApiClient(key)
    client.get(LEADS)
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    client.get(LEADS)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - dt.timedelta(minutes=2))
    client.get(LEADS)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first


def test_the_command_prints_the_key_alone_on_its_last_line(operator):
    out = io.StringIO()
    call_command("create_api_token", operator.username, "--name", "nightly sync", stdout=out)
    key = out.getvalue().splitlines()[-1]
    token = ApiToken.objects.get(user=operator)
    assert token.name == "nightly sync"
    assert token.key_hash == tokens.hash_key(key)
    assert ApiClient(key).get(LEADS).status_code == 200


def test_the_command_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("create_api_token", "ghost")


def test_the_tokens_page_creates_shows_the_key_once_and_revokes(client, operator):
    client.force_login(operator)
    response = client.post(reverse("api:token-create"), {"name": "CRM sync"}, follow=True)
    assert response.status_code == 200
    key = response.context["new_key"]
    token = ApiToken.objects.get(user=operator)
    assert token.key_hash == tokens.hash_key(key)
    assert key in response.content.decode()
    again = client.get(reverse("api:tokens"))
    assert key not in again.content.decode()  # shown once
    assert "CRM sync" in again.content.decode() and "never" in again.content.decode()
    client.post(reverse("api:token-revoke", args=[token.pk]))
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert ApiClient(key).get(LEADS).status_code == 401


def test_the_tokens_page_lists_only_ones_own_tokens(client, operator, staff):
    tokens.token_create(user=staff, name="staff's token")
    mine, _ = tokens.token_create(user=operator, name="mine")
    client.force_login(operator)
    page = client.get(reverse("api:tokens")).content.decode()
    assert "mine" in page and "staff&#x27;s token" not in page
    theirs = ApiToken.objects.get(user=staff)
    client.post(reverse("api:token-revoke", args=[theirs.pk]))
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None


def test_a_token_needs_a_name(client, operator):
    client.force_login(operator)
    response = client.post(reverse("api:token-create"), {"name": "  "}, follow=True)
    assert ApiToken.objects.count() == 0
    assert tokens.E_NAME_EMPTY in response.content.decode()


def test_the_top_bar_links_the_tokens_page(client, operator):
    client.force_login(operator)
    assert 'href="/api/tokens/"' in client.get("/leads/").content.decode()


def test_the_tokens_page_needs_sign_in(client, db):
    response = client.get(reverse("api:tokens"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_admin_revokes_tokens_in_the_admin(client, admin_user, operator):
    token, key = tokens.token_create(user=operator, name="laptop")
    client.force_login(admin_user)
    page = client.get("/admin/api/apitoken/")
    assert page.status_code == 200 and "laptop" in page.content.decode()
    assert tokens.hash_key(key) not in page.content.decode()
    client.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert ApiClient(key).get(LEADS).status_code == 401
