from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from leadmgr import checks
from leadmgr import settings as project_settings

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k3y-" + "x7Qp9" * 12,
    "ALLOWED_HOSTS": "leads.example.com",
    "DATABASE_URL": "sqlite:////tmp/leadmgr-deploy-check.sqlite3",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # A production-like environment: none of the test run's own switches (the browser tests set
    # DJANGO_ALLOW_ASYNC_UNSAFE for Playwright, which check --deploy rightly refuses).
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in PRODUCTION and not k.startswith("SECURE_") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_is_clean_with_production_values():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_debug_off_with_the_development_secret_fails_loudly():
    env = PRODUCTION | {"SECRET_KEY": ""}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "leadmgr.E001" in result.stderr
    assert checks.E_DEV_SECRET in result.stderr


def test_debug_off_without_allowed_hosts_fails_loudly():
    result = manage("check", env=PRODUCTION | {"ALLOWED_HOSTS": ""})
    assert result.returncode != 0
    assert "leadmgr.E002" in result.stderr


def test_an_unknown_default_region_is_refused(settings):
    settings.LEADMGR_DEFAULT_REGION = "XX"
    errors = checks.check_default_region(None)
    assert [e.id for e in errors] == ["leadmgr.E003"]
    assert errors[0].msg == "LEADMGR_DEFAULT_REGION 'XX' is not a region phonenumbers knows (try US, GB, DE)."


@pytest.mark.parametrize(
    "raw, expected", [("1", True), ("yes", True), ("OFF", False), ("0", False), ("", True)]
)
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("LEADMGR_TEST_FLAG", raw)
    assert project_settings.env_bool("LEADMGR_TEST_FLAG", True) is expected


def test_env_helpers_refuse_malformed_values_naming_the_variable(monkeypatch):
    monkeypatch.setenv("LEADMGR_TEST_FLAG", "maybe")
    monkeypatch.setenv("LEADMGR_TEST_INT", "ten")
    with pytest.raises(ImproperlyConfigured, match="LEADMGR_TEST_FLAG must be one of"):
        project_settings.env_bool("LEADMGR_TEST_FLAG", False)
    with pytest.raises(ImproperlyConfigured, match="LEADMGR_TEST_INT must be a whole number; got 'ten'"):
        project_settings.env_int("LEADMGR_TEST_INT", 0)


def test_a_bad_database_url_is_refused_at_start_up():
    result = manage("check", env={"DATABASE_URL": "nonsense://"})
    assert result.returncode != 0
    assert "DATABASE_URL is not a database URL" in result.stderr


def setup_django(
    env: dict[str, str], code: str = "import django; django.setup()"
) -> subprocess.CompletedProcess:
    """Import the settings the way a WSGI server does: no manage.py, no system checks."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in PRODUCTION and not k.startswith("SECURE_") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean | {"DJANGO_SETTINGS_MODULE": "leadmgr.settings"} | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_values_set_django_up():
    result = setup_django(PRODUCTION)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(None, id="unset"),
        pytest.param("", id="empty"),
        pytest.param(project_settings.DEVELOPMENT_SECRET_KEY, id="development-key"),
    ],
)
def test_debug_off_refuses_to_start_without_a_real_secret_key(secret):
    env = dict(PRODUCTION)
    if secret is None:
        del env["SECRET_KEY"]
    else:
        env["SECRET_KEY"] = secret
    result = setup_django(env)
    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured" in result.stderr
    assert checks.E_DEV_SECRET in result.stderr
    assert "SECRET_KEY" in checks.E_DEV_SECRET


def test_debug_off_refuses_to_start_without_allowed_hosts():
    result = setup_django(PRODUCTION | {"ALLOWED_HOSTS": ""})
    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured" in result.stderr
    assert checks.E_NO_HOSTS in result.stderr
    assert "ALLOWED_HOSTS" in checks.E_NO_HOSTS


def test_the_wsgi_application_refuses_the_development_key():
    """What gunicorn loads: it imports leadmgr.wsgi and never runs the system checks."""
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = setup_django(env, code="import leadmgr.wsgi")
    assert result.returncode != 0
    assert checks.E_DEV_SECRET in result.stderr


def test_debug_on_still_starts_with_the_development_key():
    result = setup_django({"DEBUG": "1", "DATABASE_URL": PRODUCTION["DATABASE_URL"]})
    assert result.returncode == 0, result.stderr


def test_production_keeps_database_connections_and_development_does_not():
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "d = settings.DATABASES['default']; print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])"
    )
    assert setup_django(PRODUCTION, code).stdout.split() == ["60", "True"]
    assert setup_django(PRODUCTION | {"CONN_MAX_AGE": "0"}, code).stdout.split() == ["0", "True"]
    development = {"DEBUG": "1", "DATABASE_URL": PRODUCTION["DATABASE_URL"]}
    assert setup_django(development, code).stdout.split() == ["0", "True"]
