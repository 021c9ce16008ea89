"""Sign-in resists guessing: django-axes locks a username, and a client address, after
LEADMGR_LOGIN_FAILURE_LIMIT failures for LEADMGR_LOGIN_LOCKOUT_MINUTES, on both sign-in pages."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client, RequestFactory

from leadmgr import security
from leadmgr.testing import PASSWORD, make_user

ROOT = Path(__file__).resolve().parents[2]
LOCKED = "Too many failed sign-in attempts"
PAGES = {"site": "/accounts/login/", "admin": "/admin/login/"}


@pytest.fixture
def admin(db):
    return make_user("admin", superuser=True)


def sign_in(client: Client, page: str, username: str, password: str, ip: str = "10.0.0.1", **extra):
    return client.post(PAGES[page], {"username": username, "password": password}, REMOTE_ADDR=ip, **extra)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_the_defaults_are_five_failures_and_fifteen_minutes(settings):
    assert settings.LEADMGR_LOGIN_FAILURE_LIMIT == 5 and settings.AXES_FAILURE_LIMIT == 5
    cool_off = settings.AXES_COOLOFF_TIME
    assert cool_off == dt.timedelta(minutes=15)
    assert settings.LEADMGR_PROXY_COUNT == 0


@pytest.mark.parametrize("page", PAGES)
def test_fifty_wrong_passwords_lock_the_user_out_and_the_right_one_stays_locked(client, admin, page):
    statuses = [sign_in(client, page, "admin", f"guess-{i}").status_code for i in range(50)]
    assert statuses[:4] == [200] * 4
    assert set(statuses[4:]) == {429}
    response = sign_in(client, page, "admin", PASSWORD)
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert "15 minutes" in response.content.decode()
    assert not signed_in(client)


@pytest.mark.parametrize("page", PAGES)
def test_the_lock_is_per_username_whatever_the_address(client, admin, page):
    for i in range(5):
        sign_in(client, page, "admin", "wrong", ip=f"10.0.1.{i}")
    response = sign_in(Client(), page, "admin", PASSWORD, ip="10.0.2.1")
    assert response.status_code == 429
    assert LOCKED in response.content.decode()


@pytest.mark.parametrize("page", PAGES)
def test_the_lock_is_per_address_whatever_the_username(client, admin, page):
    for i in range(5):
        sign_in(client, page, f"someone-{i}", "wrong", ip="10.0.3.1")
    locked = sign_in(Client(), page, "admin", PASSWORD, ip="10.0.3.1")
    assert locked.status_code == 429
    other_address = Client()
    response = sign_in(other_address, page, "admin", PASSWORD, ip="10.0.3.2")
    assert response.status_code == 302 and signed_in(other_address)


def _without_tokens(html: str) -> str:
    """The page less what differs on every response (CSRF tokens) and the typed username."""
    html = re.sub(r'value="[^"]*"', "", html)
    return re.sub(r'"X-CSRFToken": "[^"]*"', "", html)


@pytest.mark.parametrize("page", PAGES)
def test_an_unknown_username_gets_the_same_answers_as_a_real_one(admin, page):
    real, unknown = Client(), Client()
    for _ in range(6):
        a = sign_in(real, page, "admin", "wrong", ip="10.0.4.1")
        b = sign_in(unknown, page, "nobody-here", "wrong", ip="10.0.4.2")
        assert a.status_code == b.status_code
        assert _without_tokens(a.content.decode()) == _without_tokens(b.content.decode())
    assert a.status_code == 429


def test_a_lockout_ends_after_the_cool_off(client, admin):
    for _ in range(5):
        sign_in(client, "site", "admin", "wrong")
    assert sign_in(client, "site", "admin", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16))
    response = sign_in(client, "site", "admin", PASSWORD)
    assert response.status_code == 302 and signed_in(client)


def test_a_success_before_the_limit_forgets_the_failures(client, admin):
    for _ in range(4):
        sign_in(client, "site", "admin", "wrong")
    assert sign_in(client, "site", "admin", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        assert sign_in(client, "site", "admin", "wrong").status_code == 200


def test_axes_reset_lifts_every_lockout(client, admin):
    for _ in range(5):
        sign_in(client, "site", "admin", "wrong")
    assert sign_in(client, "site", "admin", PASSWORD).status_code == 429
    call_command("axes_reset", verbosity=0)
    assert sign_in(client, "site", "admin", PASSWORD).status_code == 302


def test_forwarded_for_is_ignored_without_proxies(client, admin):
    """A client cannot dodge the address lock by writing its own X-Forwarded-For."""
    for i in range(5):
        sign_in(client, "site", f"user-{i}", "wrong", ip="10.0.5.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    response = sign_in(Client(), "site", "admin", PASSWORD, ip="10.0.5.1", HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert response.status_code == 429


def test_behind_one_proxy_the_address_is_the_one_the_proxy_saw(client, admin, settings):
    settings.LEADMGR_PROXY_COUNT = 1
    proxy = "10.0.6.1"
    for i in range(5):
        # The client forged a first entry; the proxy appended the address it really saw.
        sign_in(
            client, "site", f"user-{i}", "wrong", ip=proxy, HTTP_X_FORWARDED_FOR=f"6.6.6.{i}, 198.51.100.7"
        )
    same_client = Client()
    response = sign_in(same_client, "site", "admin", PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert response.status_code == 429
    other_client = Client()
    response = sign_in(other_client, "site", "admin", PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert response.status_code == 302 and signed_in(other_client)


@pytest.mark.parametrize(
    "count, forwarded, expected",
    [
        (0, "203.0.113.9", "10.9.9.9"),
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "1.1.1.1, 203.0.113.9", "203.0.113.9"),
        (2, "1.1.1.1, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "203.0.113.9", "10.9.9.9"),  # fewer hops than proxies: not through them
        (1, "", "10.9.9.9"),
    ],
)
def test_client_ip_trusts_only_the_configured_proxies(settings, count, forwarded, expected):
    settings.LEADMGR_PROXY_COUNT = count
    request = RequestFactory().get("/", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR=forwarded)
    assert security.client_ip(request) == expected


def test_the_readme_documents_axes_reset():
    assert "manage.py axes_reset" in (ROOT / "README.md").read_text()


def test_a_bad_lockout_setting_is_refused_at_start_up():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "leadmgr.settings",
            "LEADMGR_LOGIN_FAILURE_LIMIT": "0",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "LEADMGR_LOGIN_FAILURE_LIMIT" in result.stderr


@pytest.fixture(autouse=True)
def quick_hashing(settings):
    """Dozens of sign-ins per test: hash with a fast hasher (axes counts the same either way)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
