"""manage.py copy_database: SQLite → PostgreSQL with COPY; the copy dumps exactly as the original."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from leadmgr.storage import copy as dbcopy

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, database_url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DATABASE_URL")}
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env | {"DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done


def dump(database_url: str) -> list[dict]:
    done = manage("dumpdata", "--natural-foreign", "--indent", "0", database_url=database_url)
    assert done.returncode == 0, done.stderr[-3000:]
    return sorted(json.loads(done.stdout), key=lambda o: (o["model"], str(o["pk"])))


@pytest.fixture
def target(postgres_server):
    name = f"leadmgr_copy_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{postgres_server}/{name}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def source(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'source.sqlite3'}"
    assert manage("migrate", "--noinput", database_url=url).returncode == 0
    seeded = manage("seed_demo", "--leads", "120", database_url=url)
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    return url


def test_the_copy_holds_every_row_as_the_source_and_its_ids_go_on(source, target):
    done = manage("copy_database", "--from", source, "--to", target, database_url=source)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Copied" in done.stdout
    original, copy = dump(source), dump(target)
    assert {o["model"] for o in original} >= {"leads.lead", "leads.secondarycontact", "leads.statuschange"}
    assert copy == original
    with psycopg.connect(target) as conn:
        top = conn.execute("SELECT MAX(id) FROM leads_lead").fetchone()[0]
        campaign = conn.execute("SELECT id FROM campaigns_campaign LIMIT 1").fetchone()[0]
        new_id = conn.execute(
            "INSERT INTO leads_lead (campaign_id, phone, status, variables, attempts, created_at, updated_at)"
            " VALUES (%s, '+14155559999', 'created', '{}', 0, now(), now()) RETURNING id",
            [campaign],
        ).fetchone()[0]
    assert new_id == top + 1  # the sequence was moved past the copied ids
    # The search works on the copy (its indexes were rebuilt by the second migrate).
    indexes = psycopg.connect(target).execute(
        "SELECT count(*) FROM pg_indexes WHERE tablename = 'leads_lead' AND indexdef LIKE '%%gin_trgm_ops%%'"
    )
    assert indexes.fetchone()[0] >= 1


def test_it_refuses_a_target_with_data_unless_replace(source, target):
    assert manage("copy_database", "--from", source, "--to", target, database_url=source).returncode == 0
    again = manage("copy_database", "--from", source, "--to", target, database_url=source)
    assert again.returncode == 1
    assert dbcopy.E_NOT_EMPTY in again.stderr
    replaced = manage("copy_database", "--from", source, "--to", target, "--replace", database_url=source)
    assert replaced.returncode == 0, replaced.stderr[-3000:]
    assert dump(target) == dump(source)


def test_it_names_a_wrong_url():
    with pytest.raises(dbcopy.CopyError, match="--to must be a PostgreSQL URL"):
        dbcopy.copy_database(f"sqlite:///{__file__}", "mysql://x")
    with pytest.raises(dbcopy.CopyError, match="does not exist"):
        dbcopy.copy_database("sqlite:///nowhere/db.sqlite3", "postgres://x")
