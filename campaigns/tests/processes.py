"""Shared set-up of the tests that run real worker processes against databases of their own.

``database_url(kind, tmp_path)`` names the database: a fresh SQLite file, or a PostgreSQL database
created here when missing, named after the configured DATABASE_URL's database (or the worktree) so
parallel runs never share one. ``run_job(module, *args)`` runs ``python -m module args`` with it and
returns the JSON its last line prints. ``overlaps()`` and ``double_claims()`` are read inside jobs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[2]
# bin/with-postgres points LEADMGR_TEST_PG_SERVER at its throwaway cluster when 5432 does not answer.
PG_SERVER = os.environ.get("LEADMGR_TEST_PG_SERVER") or "postgres://postgres@127.0.0.1:5432"


def pg_database_name(suffix: str = "conc") -> str:
    """``<configured database>_<suffix>``; from the worktree's name when DATABASE_URL is not PostgreSQL."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")) and urlparse(url).path.strip("/"):
        base = urlparse(url).path.strip("/")
    else:
        base = "leadmgr_" + re.sub(r"\W", "_", ROOT.name.lower())
    return f"{base}_{suffix}"[:63]


def ensure_pg_database(suffix: str = "conc") -> str:
    import psycopg

    name = pg_database_name(suffix)
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_SERVER}/{name}"


def database_url(kind: str, tmp_path: Path, suffix: str = "conc") -> str:
    if kind == "postgresql":
        return ensure_pg_database(suffix)
    return f"sqlite:///{tmp_path / 'runner.sqlite3'}"


def run_job(database_url: str, module: str, *args: object, timeout: float = 300) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker_command() -> list[str]:
    return [sys.executable, str(ROOT / "manage.py"), "run_campaigns"]


# --- read inside a job (Django set up) -------------------------------------------------------------


def overlaps() -> int:
    """Calls to one lead that overlap (or never ended): each lead's calls, in order, end before the next."""
    from leads.models import CallAttempt

    n = 0
    last: tuple[int, dt.datetime] | None = None
    for lead_id, started_at, ended_at in (
        CallAttempt.objects.order_by("lead_id", "started_at", "id")
        .values_list("lead_id", "started_at", "ended_at")
        .iterator(chunk_size=5000)
    ):
        if ended_at is None or (last and last[0] == lead_id and started_at < last[1]):
            n += 1
        last = (lead_id, ended_at)
    return n


def double_claims() -> int:
    """Two claims of one lead without an end between them in its history."""
    from leads.models import Status, StatusChange

    n = 0
    previous: tuple[int, str] | None = None
    for lead_id, to_status in (
        StatusChange.objects.order_by("lead_id", "at", "id")
        .values_list("lead_id", "to_status")
        .iterator(chunk_size=5000)
    ):
        if previous and previous[0] == lead_id and previous[1] == to_status == Status.PROCESSING:
            n += 1
        previous = (lead_id, to_status)
    return n
