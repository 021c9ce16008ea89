"""CSV work that may outlive a request: previews, imports and the export's column scan.

Each piece of work is a ``CsvJob`` row. Small uploads run theirs in the request (``execute``), big
ones on the task queue (``run_csv_job``, Django's tasks framework with the database backend, run by
``manage.py db_worker``). Either way ``execute`` does the work:

- it holds an exclusive ``flock`` on the job's lock file while it runs, so a reader can tell a
  running job from one whose process died (``refresh``): the kernel drops the lock with the process;
- it writes its progress (rows read of rows total) to a small file every batch (``read_progress``),
  the only place another process can see it during a SQLite import, whose transaction holds the
  write lock;
- an import marks its row done inside the import's own transaction (``ImportOptions``'
  ``on_written``): a row still "running" whose lock is free wrote nothing, whatever killed it.

Files live in ``LEADMGR_IMPORT_DIR`` (0700; files 0600), which every web process and worker share.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import QuerySet
from django.tasks import task
from django.utils import timezone

from campaigns.models import Campaign

from . import selectors
from .csv import exporter, importer, xlsx
from .csv.errors import CSVFileError
from .csv.importer import ImportOptions, ImportResult
from .models import CsvJob, Lead

PREVIEW_ROWS = 20
ERRORS_KEPT = 1000
UPLOAD_MAX_AGE = 24 * 3600  # seconds an uploaded file waits for its confirmation

E_STOPPED = (
    "The job stopped before it finished (its worker process ended): nothing was written. "
    "Confirm again to run it once more."
)
E_STOPPED_PREVIEW = (
    "The preview stopped before it finished (its worker process ended): upload the file again."
)
E_STOPPED_EXPORT = (
    "The column scan stopped before it finished (its worker process ended): start the export again."
)
E_CONFLICT = (
    "Another import wrote some of these leads at the same moment, so nothing was written from this "
    "file: preview it again to see what is left to import."
)
E_NOT_WRITTEN = "Nothing was written: the file has rejected rows (see the preview)."
E_UPLOAD_GONE = "That upload has expired or was already imported: upload the file again."


# --- Files ------------------------------------------------------------------------------------


def upload_dir() -> Path:
    """The shared directory of uploads and job files: created 0700, tightened if it is looser."""
    path = Path(settings.LEADMGR_IMPORT_DIR)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if stat.S_IMODE(info.st_mode) & 0o077 and info.st_uid == os.getuid():
        path.chmod(0o700)
    return path


def open_private(path: Path | str, mode: str = "wb"):
    """A new file readable and writable by this user only (0600), whatever the umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""}))


def purge_old_uploads(directory: Path) -> None:
    cutoff = time.time() - UPLOAD_MAX_AGE
    for entry in directory.iterdir():
        with contextlib.suppress(FileNotFoundError):
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                entry.unlink(missing_ok=True)


def _job_file(job: CsvJob, suffix: str) -> Path:
    return upload_dir() / f"job-{job.pk}.{suffix}"


def count_lines(path: Path | str) -> int:
    """Physical lines of a file (the total a progress bar counts towards; 50 MB in ~30 ms)."""
    n = 0
    last = b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


class _Progress:
    """Rows read of rows total, written (atomically) to the job's progress file."""

    def __init__(self, job: CsvJob, total: int | None):
        self.path = _job_file(job, "progress")
        self.total = total
        self(0)

    def __call__(self, rows: int) -> None:
        tmp = self.path.with_suffix(".progress-tmp")
        with open_private(tmp, "w") as out:
            json.dump({"read": rows, "total": self.total}, out)
        os.replace(tmp, self.path)


def read_progress(job: CsvJob) -> tuple[int, int | None]:
    """(rows read, rows total) of a job, from its progress file (or its row once finished)."""
    if job.finished:
        return job.rows_read, job.rows_total or job.rows_read
    try:
        data = json.loads(_job_file(job, "progress").read_text())
    except (FileNotFoundError, ValueError):
        return 0, job.rows_total
    return int(data.get("read") or 0), data.get("total") or job.rows_total


@contextlib.contextmanager
def _held(job: CsvJob) -> Iterator[None]:
    """The job's lock, held while the job runs; the kernel releases it when the process dies."""
    with open_private(_job_file(job, "lock")) as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _lock_is_free(job: CsvJob) -> contextlib.AbstractContextManager[bool]:
    @contextlib.contextmanager
    def probe() -> Iterator[bool]:
        path = _job_file(job, "lock")
        if not path.exists():
            yield True
            return
        with open(path, "rb") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    return probe()


def refresh(job: CsvJob) -> CsvJob:
    """The job as it stands: a "running" job whose process died is marked failed (it wrote nothing)."""
    if job.state != CsvJob.State.RUNNING:
        return job
    with _lock_is_free(job) as free:
        if not free:
            return job
        # We hold the lock: no process runs the job. Only a row still "running" is stale (the
        # job may have finished between our read and the lock).
        message = {
            CsvJob.Kind.IMPORT: E_STOPPED,
            CsvJob.Kind.PREVIEW: E_STOPPED_PREVIEW,
            CsvJob.Kind.EXPORT_COLUMNS: E_STOPPED_EXPORT,
        }[job.kind]
        read, _ = read_progress(job)
        try:
            CsvJob.objects.filter(pk=job.pk, state=CsvJob.State.RUNNING).update(
                state=CsvJob.State.FAILED, error=message, rows_read=read, finished_at=timezone.now()
            )
        except OperationalError:
            # SQLite busy with another long write: say so now, record it at the next look.
            job.state, job.error, job.rows_read = CsvJob.State.FAILED, message, read
            return job
    job.refresh_from_db()
    return job


# --- Starting jobs ------------------------------------------------------------------------------


def is_background(path: Path | str) -> bool:
    return os.path.getsize(path) >= settings.LEADMGR_IMPORT_BACKGROUND_BYTES


def create_preview(*, user, token: str, record: dict) -> CsvJob:
    return CsvJob.objects.create(
        kind=CsvJob.Kind.PREVIEW, user=user, token=token, name=record["name"], options=record
    )


def claim_import(*, user, token: str, record: dict) -> CsvJob:
    """The import's row; raises IntegrityError when this upload is already imported or importing."""
    with transaction.atomic():
        return CsvJob.objects.create(
            kind=CsvJob.Kind.IMPORT,
            user=user,
            token=token,
            name=record["name"],
            options=record,
            rows_total=record.get("counts", {}).get("rows"),
        )


def import_of(user, token: str) -> CsvJob | None:
    """The import of an upload that wrote or may still write (not a failed one)."""
    return (
        CsvJob.objects.filter(kind=CsvJob.Kind.IMPORT, token=token, user=user)
        .exclude(state=CsvJob.State.FAILED)
        .first()
    )


def enqueue(job: CsvJob) -> None:
    run_csv_job.enqueue(job.pk)


def create_export_scan(*, user, params: dict) -> CsvJob:
    job = CsvJob.objects.create(kind=CsvJob.Kind.EXPORT_COLUMNS, user=user, options=params)
    enqueue(job)
    return job


@task()
def run_csv_job(job_id: int) -> str:
    """The queue's entry point (``manage.py db_worker``)."""
    job = CsvJob.objects.get(pk=job_id)
    execute(job)
    return job.state


# --- Running them -------------------------------------------------------------------------------


def execute(job: CsvJob) -> CsvJob:
    """Run a queued job to its end (in the request or a worker); returns it with its outcome."""
    with _held(job):
        started = CsvJob.objects.filter(pk=job.pk, state=CsvJob.State.QUEUED).update(
            state=CsvJob.State.RUNNING, started_at=timezone.now()
        )
        job.refresh_from_db()
        if not started:
            return job  # run already (a second delivery of the same task)
        try:
            if job.kind == CsvJob.Kind.PREVIEW:
                _run_preview(job)
            elif job.kind == CsvJob.Kind.IMPORT:
                _run_import(job)
            else:
                _run_export_scan(job)
        except CSVFileError as exc:
            _fail(job, exc.message)
        except IntegrityError:
            _fail(job, E_CONFLICT)
        except FileNotFoundError:
            _fail(job, E_UPLOAD_GONE)
    # The job has its final state: a reader that finds no lock file finds no "running" row either.
    for suffix in ("progress", "lock"):
        _job_file(job, suffix).unlink(missing_ok=True)
    job.refresh_from_db()
    return job


def _fail(job: CsvJob, message: str, result: dict | None = None) -> None:
    CsvJob.objects.filter(pk=job.pk).update(
        state=CsvJob.State.FAILED, error=message, result=result, finished_at=timezone.now()
    )


def _import(job: CsvJob, *, dry_run: bool, progress, expect=None, on_written=None) -> ImportResult:
    record = job.options
    campaign = Campaign.objects.filter(pk=record["campaign"]).first() if record.get("campaign") else None
    options = ImportOptions(
        campaign=campaign,
        region=record.get("region") or None,
        dry_run=dry_run,
        skip_invalid=record.get("skip_invalid", False),
        update_existing=record.get("update_existing", False),
        user=job.user,
        preview_rows=PREVIEW_ROWS if dry_run else 0,
        expect=expect,
        progress=progress,
        on_written=on_written,
    )
    with open(record["path"], "rb") as f:
        return importer.import_leads(f, options, **source_options(record))


def source_options(record: dict) -> dict:
    """How an upload is read: the file's format from its stored name, the delimiter and sheet chosen."""
    return {
        "filename": record["path"],
        "delimiter": record.get("delimiter") or None,
        "sheet": record.get("sheet") or None,
    }


def save_rejected(record: dict, result: ImportResult) -> None:
    with open_private(record["path"] + ".rejected", "w") as out:
        for chunk in importer.rejected_csv(result):
            out.write(chunk)


def preview_summary(result: ImportResult) -> dict:
    """What the preview page shows, as JSON (a background preview keeps it in its row)."""
    errors = [e for r in result.rejected for e in r.errors]
    return {
        "counts": result.counts,
        "source": result.source,
        "called_at_once": result.called_at_once,
        "preview": [
            {
                "line": r.line,
                "action": r.action,
                "phone": r.phone,
                "campaign": {"name": r.campaign.name},
                "status": r.status,
                "next_attempt_at": r.next_attempt_at.isoformat() if r.next_attempt_at else "",
                "variables": r.variables,
                "contacts": [{"phone": c.phone, "variables": c.variables} for c in r.contacts],
            }
            for r in result.preview
        ],
        "errors": [{"line": e.line, "column": e.column, "message": e.message} for e in errors[:ERRORS_KEPT]],
        "errors_total": len(errors),
    }


def _run_preview(job: CsvJob) -> None:
    path = job.options["path"]
    lines = (xlsx.count_rows(path) or 1) if xlsx.is_xlsx(path) else count_lines(path)
    total = max(lines - 1, 0)
    CsvJob.objects.filter(pk=job.pk).update(rows_total=total)
    result = _import(job, dry_run=True, progress=_Progress(job, total))
    save_rejected(job.options, result)
    CsvJob.objects.filter(pk=job.pk).update(
        state=CsvJob.State.DONE,
        result=preview_summary(result),
        rows_read=result.rows,
        rows_total=result.rows,
        finished_at=timezone.now(),
    )


def _run_import(job: CsvJob) -> None:
    record = job.options
    expect = {k: record["counts"][k] for k in ("created", "updated", "skipped", "rejected")}

    def done(result: ImportResult) -> None:
        # Inside the import's transaction: "done" commits with the leads, or neither does.
        CsvJob.objects.filter(pk=job.pk).update(
            state=CsvJob.State.DONE,
            result={"counts": result.counts, "summary": result.summary()},
            rows_read=result.rows,
            rows_total=result.rows,
            finished_at=timezone.now(),
        )

    result = _import(
        job,
        dry_run=False,
        progress=_Progress(job, record["counts"].get("rows")),
        expect=expect,
        on_written=done,
    )
    if result.written:
        if result.rejected:
            save_rejected(record, result)
        Path(record["path"]).unlink(missing_ok=True)
        return
    message = result.error or E_NOT_WRITTEN
    _fail(job, message, {"counts": result.counts, "summary": result.summary()})


# --- The export's column scan -------------------------------------------------------------------

SCAN_BATCH = 20_000


def export_leads_query(filters: dict) -> QuerySet[Lead]:
    """The leads an export scan reads: ``selectors.filter_leads`` with the stored arguments."""
    kwargs = dict(filters)
    for day in ("created_from", "created_to"):
        if kwargs.get(day):
            kwargs[day] = dt.date.fromisoformat(kwargs[day])
    return selectors.filter_leads(Lead.objects.all(), **kwargs)


def _run_export_scan(job: CsvJob) -> None:
    leads = export_leads_query(job.options["filters"])
    total = leads.count()
    CsvJob.objects.filter(pk=job.pk).update(rows_total=total)
    progress = _Progress(job, total)
    plan = exporter.plan_export(
        leads,
        with_secondary=job.options.get("with_secondary", False),
        progress=progress,
        batch_size=SCAN_BATCH,
    )
    CsvJob.objects.filter(pk=job.pk).update(
        state=CsvJob.State.DONE,
        result={
            "core": plan.core,
            "variables": plan.variables,
            "contacts": plan.contacts,
            "contact_variables": plan.contact_variables,
        },
        rows_read=total,
        finished_at=timezone.now(),
    )


def export_plan(job: CsvJob) -> exporter.ExportPlan:
    return exporter.ExportPlan(**job.result)
