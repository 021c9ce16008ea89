"""/healthz (anonymous, database only) and /healthz/detail (superusers: a list of checks)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from leadmgr import health

ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    prelude = (
        "import django, json, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'leadmgr.settings'; django.setup()\n"
        "from django.test.utils import setup_test_environment; setup_test_environment()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", prelude + code],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_healthz_answers_200_without_sign_in_and_says_nothing_else(client, db, django_assert_num_queries):
    with django_assert_num_queries(1):  # SELECT 1
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert "no-store" in response["Cache-Control"]


def test_healthz_is_not_redirected_to_https_for_a_plain_http_load_balancer(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/accounts/login/").status_code == 301


def test_healthz_answers_503_when_the_database_is_unreachable():
    # A real PostgreSQL URL on a port where nothing listens; the short connect timeout keeps a
    # black-holed host from hanging the check as well.
    url = f"postgres://postgres@127.0.0.1:{closed_port()}/leadmgr_healthz"
    done = run_python(
        "from django.test import Client\n"
        "from django.conf import settings\n"
        "r = Client().get('/healthz')\n"
        "print(json.dumps([r.status_code, r.content.decode(), settings.DATABASES['default']['OPTIONS']]))",
        DATABASE_URL=url,
    )
    status, body, options = json.loads(done.stdout.strip().splitlines()[-1])
    assert status == 503
    assert body == "unavailable\n"
    assert options["connect_timeout"] == 5


def test_detail_is_for_superusers_only(client, operator, staff):
    for user in (operator, staff):
        client.force_login(user)
        assert client.get("/healthz/detail").status_code == 404
    client.logout()
    assert client.get("/healthz/detail").status_code == 302  # to sign-in


def a_live_runner() -> None:
    from django.utils import timezone

    from campaigns.models import RunnerHeartbeat

    now = timezone.now()
    RunnerHeartbeat.objects.create(
        worker_id="test:1", started_at=now, last_seen=now, last_pass_at=now, calls_held=2
    )


def test_detail_lists_each_check_for_an_admin(
    client, admin_user, settings, tmp_path, django_assert_num_queries
):
    settings.LEADMGR_IMPORT_DIR = tmp_path / "uploads"  # not made yet: its nearest parent's disk counts
    settings.LEADMGR_HEALTH_MIN_FREE_MB = 0
    a_live_runner()
    client.force_login(admin_user)
    # session, user, SELECT 1, "is there a django_migrations table", the applied migrations,
    # the live runners and their last pass, the waiting background jobs
    with django_assert_num_queries(8):
        response = client.get("/healthz/detail")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    names = [c["name"] for c in body["checks"]]
    assert names == ["database", "migrations", "upload_space", "runners", "job_backlog"]
    assert all(c["ok"] for c in body["checks"])
    assert str(tmp_path / "uploads") in body["checks"][2]["detail"]
    assert body["checks"][3]["detail"].startswith("1 alive, 2 calls held")
    assert body["checks"][4]["detail"] == "0 jobs waiting"


def test_detail_reports_no_live_runner_as_failing(client, admin_user, settings):
    settings.LEADMGR_HEALTH_MIN_FREE_MB = 0
    client.force_login(admin_user)
    response = client.get("/healthz/detail")
    assert response.status_code == 503
    body = response.json()
    assert [c["name"] for c in body["checks"] if not c["ok"]] == ["runners"]
    assert "0 alive" in [c for c in body["checks"] if c["name"] == "runners"][0]["detail"]


def test_detail_answers_503_naming_the_failing_check(client, admin_user, settings):
    settings.LEADMGR_HEALTH_MIN_FREE_MB = 10**12  # more than any disk
    a_live_runner()
    client.force_login(admin_user)
    response = client.get("/healthz/detail")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    failing = [c["name"] for c in body["checks"] if not c["ok"]]
    assert failing == ["upload_space"]


def test_the_migrations_check_names_what_is_not_applied(tmp_path):
    done = run_python(
        "from django.core.management import call_command\n"
        "call_command('migrate', 'contenttypes', verbosity=0)\n"
        "from leadmgr import health\n"
        "print(json.dumps(health.check_migrations().as_dict()))",
        DATABASE_URL=f"sqlite:///{tmp_path / 'half.sqlite3'}",
    )
    check = json.loads(done.stdout.strip().splitlines()[-1])
    assert check["ok"] is False
    assert "not applied" in check["detail"] and "auth.0001_initial" in check["detail"]


def test_a_new_check_is_one_function_in_the_list(client, admin_user, monkeypatch):
    monkeypatch.setattr(
        health,
        "DETAIL_CHECKS",
        [*health.DETAIL_CHECKS, lambda: health.Check("runner", False, "no heartbeat")],
    )
    client.force_login(admin_user)
    response = client.get("/healthz/detail")
    assert response.status_code == 503
    assert response.json()["checks"][-1] == {"name": "runner", "ok": False, "detail": "no heartbeat"}
