"""bin/serve (make serve): the production set-up starts, serves, and stops cleanly on SIGTERM.

One start-up test, on the suite's own database: a SQLite file in the SQLite pass, a PostgreSQL
database of its own (named after the test database) in the PostgreSQL pass.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 300  # a loaded machine: migrate + collectstatic + gunicorn can be slow
# What a production shell would not have: the test run's switches and the settings bin/serve decides.
_NOT_INHERITED = {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "HOST"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED and not k.startswith("SECURE_")}
    return env | {
        "PY": sys.executable,
        "STATIC_ROOT": str(tmp_path / "static"),
        "LEADMGR_SECRET_KEY_FILE": str(tmp_path / "secret_key"),
        "WEB_CONCURRENCY": "2",
        **extra,
    }


def fetch(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def database_url(tmp_path, django_db_setup):
    """A database of the suite's kind, empty, for the served site."""
    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'served.sqlite3'}"
        return
    params = connection.settings_dict
    name = f"{params['NAME']}_serve"[:63]
    server = (
        f"postgres://{params['USER'] or 'postgres'}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}"
    )
    with psycopg.connect(
        f"{server}/postgres", autocommit=True, password=params.get("PASSWORD") or None
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{server}/{name}"
    with psycopg.connect(
        f"{server}/postgres", autocommit=True, password=params.get("PASSWORD") or None
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_serve_starts_serves_hashed_static_files_and_stops_on_sigterm(tmp_path, database_url):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("w+")
    process = subprocess.Popen(
        ["bin/serve"],
        cwd=ROOT,
        env=serve_env(tmp_path, HOST=f"127.0.0.1:{port}", DATABASE_URL=database_url),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()[-4000:]
            try:
                if fetch(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-4000:]
            time.sleep(1)

        status, headers, body = fetch(f"{base}/healthz", **{"X-Request-ID": "probe-1"})
        assert (status, body, headers["X-Request-ID"]) == (200, b"ok\n", "probe-1")

        status, headers, body = fetch(f"{base}/accounts/login/")
        assert status == 200 and b'name="password"' in body
        # The page links the hashed names collectstatic made.
        css = re.search(rb'href="(/static/vendor/bootstrap/bootstrap\.min\.[0-9a-f]{12}\.css)"', body)
        assert css, body[:2000]
        status, headers, body = fetch(f"{base}{css.group(1).decode()}", **{"Accept-Encoding": "gzip"})
        assert status == 200
        assert "max-age=315360000" in headers["Cache-Control"] and "immutable" in headers["Cache-Control"]
        assert headers.get("Content-Encoding") == "gzip"
        assert fetch(f"{base}/static/css/leadmgr.css")[0] == 200  # the plain name, uncached

        assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # made once, for its owner only

        # The workers start beside gunicorn: SIGTERM once each says it runs (its handler is set by
        # then; a busy machine once stopped the runner before, and its summary was never written).
        started = ("Running campaigns with the", "Delivering webhooks (")
        while not all(line in (tmp_path / "serve.log").read_text() for line in started):
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-4000:]
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0, (tmp_path / "serve.log").read_text()[-4000:]
        output = (tmp_path / "serve.log").read_text()
        assert "GET /accounts/login/ 200" in output  # one line per request
        assert "Shutting down: Master" in output  # gunicorn stopped gracefully
        assert "Claimed 0 lead(s)" in output  # the runner ran beside it and stopped with its summary
        assert "Delivered 0 event(s)" in output  # so did the webhook delivery worker
        # Nothing of the group is left behind.
        time.sleep(1)
        with pytest.raises(ProcessLookupError):
            os.killpg(process.pid, 0)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_serve_refuses_debug(tmp_path):
    done = subprocess.run(
        ["bin/serve"],
        cwd=ROOT,
        env=serve_env(tmp_path, DEBUG="1"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "DEBUG=1 refused" in done.stderr


def test_serve_guesses_nothing_on_a_public_address(tmp_path):
    done = subprocess.run(
        ["bin/serve"],
        cwd=ROOT,
        env=serve_env(
            tmp_path, HOST=f"0.0.0.0:{free_port()}", DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}"
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "SECRET_KEY" in done.stdout + done.stderr
    assert "ALLOWED_HOSTS" in done.stdout + done.stderr
    assert not (tmp_path / "secret_key").exists()
    assert "Applying" not in done.stdout  # refused before migrate
