"""A real ``db_worker`` killed with SIGKILL in the middle of an import: nothing is written, and the
job's page says that the job stopped and wrote nothing.

Runs in subprocesses against a database of its own: a SQLite file, or on PostgreSQL (when the suite
runs there) a database named after the test database, created and dropped here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
ROWS = 40_000  # a few seconds of import: long enough to be caught mid-way, short enough to be quick

SETUP = f"""
import json
from leadmgr.testing import make_campaign, make_user, next_phone
from leads import jobs, roles
from leads.models import CsvJob

campaign = make_campaign()
user = make_user("importer", group=roles.STAFF)
directory = jobs.upload_dir()
path = directory / "big.csv"
with jobs.open_private(path, "w") as out:
    out.write("phone,customer_name\\n")
    for i in range({ROWS}):
        out.write(f"{{next_phone()}},Lead {{i}}\\n")
record = {{"user": user.pk, "path": str(path), "name": "big.csv", "campaign": campaign.pk,
          "campaign_name": campaign.name, "region": "", "update_existing": False, "skip_invalid": False}}
preview = jobs.execute(jobs.create_preview(user=user, token="tok", record=record))
record["counts"] = preview.result["counts"]
job = jobs.claim_import(user=user, token="tok", record=record)
jobs.enqueue(job)
print(json.dumps({{"job": job.pk, "user": user.pk, "rows": record["counts"]["rows"]}}))
"""

CHECK = """
import json
from django.test import Client
from django.contrib.auth.models import User
from leads.models import CsvJob, Lead

client = Client(HTTP_HOST="localhost")
client.force_login(User.objects.get(username="importer"))
job = CsvJob.objects.get(kind="import")
page = client.get(f"/leads/import/jobs/{job.pk}/").content.decode()
job.refresh_from_db()
print(json.dumps({"leads": Lead.objects.count(), "state": job.state, "error": job.error, "page": page}))
"""


def _manage(env: dict, *args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def own_database(tmp_path):
    """DATABASE_URL of a database for the subprocesses alone, migrated."""
    if connection.vendor == "postgresql":
        import psycopg

        params = connection.settings_dict
        name = f"{connection.creation._get_test_db_name()}_kill"[:63]
        dsn = f"host={params['HOST'] or '127.0.0.1'} port={params['PORT'] or 5432} user={params['USER']} dbname=postgres"
        if params.get("PASSWORD"):
            dsn += f" password={params['PASSWORD']}"
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
        password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
        url = f"postgres://{params['USER']}{password}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{name}"
        yield url
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        yield f"sqlite:///{tmp_path / 'kill.sqlite3'}"


def test_a_worker_killed_mid_import_writes_nothing_and_the_page_says_so(own_database, tmp_path):
    from leads import jobs

    env = {
        **os.environ,
        "DATABASE_URL": own_database,
        "LEADMGR_IMPORT_DIR": str(tmp_path / "uploads"),
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "leadmgr.settings",
    }
    _manage(env, "migrate", "--noinput")
    setup = json.loads(_manage(env, "shell", "-c", SETUP).strip().splitlines()[-1])
    progress = tmp_path / "uploads" / f"job-{setup['job']}.progress"

    worker = subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        read = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                read = json.loads(progress.read_text())["read"]
            except (FileNotFoundError, ValueError):
                read = 0
            if read > 0:
                break
            assert worker.poll() is None, "the worker ended before the import started"
            time.sleep(0.02)
        assert 0 < read < setup["rows"], "the import was not caught mid-way"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=30)

    outcome = json.loads(_manage(env, "shell", "-c", CHECK).strip().splitlines()[-1])
    assert outcome["leads"] == 0
    assert (outcome["state"], outcome["error"]) == ("failed", jobs.E_STOPPED)
    assert jobs.E_STOPPED in outcome["page"]
