"""Health checks: ``/healthz`` for load balancers, ``/healthz/detail`` for admins.

Each detailed check is a small function returning a ``Check``; add one to ``DETAIL_CHECKS`` to
show it (runner heartbeats, a background-job backlog, ...). A check never raises: it reports.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

from leadmgr import storage


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def database_reachable(alias: str = DEFAULT_DB_ALIAS) -> bool:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return False
    return True


def check_database() -> Check:
    if database_reachable():
        return Check("database", True, f"{storage.engine_name(connections[DEFAULT_DB_ALIAS])} answers")
    return Check("database", False, "the database does not answer")


def check_migrations() -> Check:
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError:
        return Check("migrations", False, "could not read the applied migrations")
    if plan:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in plan[:5])
        return Check("migrations", False, f"{len(plan)} not applied: {names}")
    return Check("migrations", True, "all applied")


def upload_dir() -> Path:
    # LEADMGR_UPLOAD_DIR where the project has it, else where imports wait between preview and confirm.
    return Path(getattr(settings, "LEADMGR_UPLOAD_DIR", None) or settings.LEADMGR_IMPORT_DIR)


def check_upload_space() -> Check:
    path = upload_dir()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None:
        return Check("upload_space", False, f"{path} does not exist")
    free_mb = shutil.disk_usage(existing).free // (1024 * 1024)
    minimum = settings.LEADMGR_HEALTH_MIN_FREE_MB
    ok = free_mb >= minimum
    return Check("upload_space", ok, f"{free_mb} MB free for {path} (at least {minimum} MB wanted)")


def check_runners() -> Check:
    from campaigns.selectors import live_runners

    try:
        live = live_runners()
    except DatabaseError:
        return Check("runners", False, "could not read the runner heartbeats")
    last = live.last_pass_at.isoformat() if live.last_pass_at else "never"
    detail = f"{live.count} alive, {live.calls_held} calls held, last pass {last}"
    return Check("runners", live.count > 0, detail)


def check_job_backlog() -> Check:
    from django_tasks_db.models import DBTaskResult

    try:
        waiting = DBTaskResult.objects.ready().count()
    except DatabaseError:
        return Check("job_backlog", False, "could not read the background-job queue")
    return Check("job_backlog", waiting <= settings.LEADMGR_HEALTH_MAX_JOB_BACKLOG, f"{waiting} jobs waiting")


DETAIL_CHECKS: list[Callable[[], Check]] = [
    check_database,
    check_migrations,
    check_upload_space,
    check_runners,
    check_job_backlog,
]


def run_detail_checks() -> list[Check]:
    return [check() for check in DETAIL_CHECKS]
