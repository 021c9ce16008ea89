"""The import flow's safety: background jobs with progress, one import per upload, private upload
files, a size limit, NUL bytes refused with their line."""

from __future__ import annotations

import os
import stat
import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from leadmgr.middleware import E_UPLOAD_TOO_LARGE
from leadmgr.testing import make_lead, next_phone
from leads import csv_views, jobs
from leads.csv import errors
from leads.models import CsvJob, Lead

P1, P2 = "+14155550100", "+14155550101"


@pytest.fixture(autouse=True)
def upload_dir(settings, tmp_path):
    settings.LEADMGR_IMPORT_DIR = tmp_path / "uploads"
    return settings.LEADMGR_IMPORT_DIR


def upload(client, text: str | bytes, name: str = "leads.csv", **fields):
    data = text.encode("utf-8") if isinstance(text, str) else text
    payload = {"file": SimpleUploadedFile(name, data, "text/csv"), "duplicates": "skip"}
    payload.update(fields)
    return client.post("/leads/import/", payload)


def token_of(client) -> str:
    [token] = client.session[csv_views.SESSION_KEY]
    return token


def run_worker() -> int:
    """What ``manage.py db_worker`` does with each queued task, in this process and transaction."""
    worker = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    )
    n = 0
    for task_result in DBTaskResult.objects.ready():
        task_result.claim("test-worker")
        worker.run_task(task_result)
        n += 1
    return n


def csv_of(n: int) -> str:
    return "phone,customer_name\n" + "".join(f"{next_phone()},Lead {i}\n" for i in range(n))


# --- NUL bytes ----------------------------------------------------------------------------------

NUL_FILE = (
    "phone,customer_name\n"
    + "".join(f"+1415555{i:04d},Name {i}\n" for i in range(400))
    + "+14155559999,Bad\x00name\n"
)


def test_a_nul_byte_after_the_first_8_kb_is_refused_with_its_line_at_preview(client, staff, campaign):
    assert NUL_FILE.index("\x00") > 8192
    client.force_login(staff)
    response = upload(client, NUL_FILE, campaign=campaign.pk)
    assert response.context["form"].errors == {"file": [errors.E_FILE_NUL.format(line=402)]}
    assert Lead.objects.count() == 0


def test_a_nul_byte_after_the_first_8_kb_is_refused_by_the_command(campaign, tmp_path):
    path = tmp_path / "nul.csv"
    path.write_text(NUL_FILE)
    with pytest.raises(CommandError) as caught:
        call_command("import_leads", str(path), "--campaign", campaign.name)
    assert str(caught.value) == f"{path}: {errors.E_FILE_NUL.format(line=402)}"
    assert Lead.objects.count() == 0


# --- Upload files and their limit ---------------------------------------------------------------


def test_uploads_wait_in_a_private_directory_as_private_files(client, staff, campaign, upload_dir):
    upload_dir.mkdir(mode=0o755)
    os.chmod(upload_dir, 0o755)  # as an older version left it: tightened
    client.force_login(staff)
    upload(client, f"phone,customer_name\n{P1},Sarah\n", campaign=campaign.pk)
    assert stat.S_IMODE(upload_dir.stat().st_mode) == 0o700
    files = list(upload_dir.iterdir())
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)


def test_a_file_over_the_size_limit_is_refused_on_the_form(client, staff, campaign, settings, upload_dir):
    settings.LEADMGR_MAX_UPLOAD_MB = 1
    client.force_login(staff)
    # Just over the limit: within the middleware's slack, so the form says it.
    response = upload(client, b"phone\n" + b"+14155550100\n" * (1024 * 1024 // 13 + 10), campaign=campaign.pk)
    assert response.context["form"].errors == {"file": [E_UPLOAD_TOO_LARGE.format(limit=1)]}
    assert not upload_dir.exists() or list(upload_dir.iterdir()) == []


def test_a_body_over_the_size_limit_is_refused_with_413_before_it_is_read(client, staff, settings):
    settings.LEADMGR_MAX_UPLOAD_MB = 1
    client.force_login(staff)
    response = client.generic(
        "POST", "/leads/import/", b"x" * (2 * 1024 * 1024), content_type="multipart/form-data; boundary=x"
    )
    assert response.status_code == 413
    assert E_UPLOAD_TOO_LARGE.format(limit=1) in response.content.decode()


# --- One import per upload ----------------------------------------------------------------------


def test_confirming_again_after_back_says_already_imported_with_a_link(client, staff, campaign):
    client.force_login(staff)
    upload(client, f"phone,customer_name\n{P1},Sarah\n{P2},John\n", campaign=campaign.pk)
    token = token_of(client)
    assert client.post(f"/leads/import/{token}/confirm/").status_code == 302
    response = client.post(f"/leads/import/{token}/confirm/")  # Back, then Confirm again
    assert response.status_code == 409
    page = response.content.decode()
    assert csv_views.E_ALREADY_IMPORTED in page
    assert f'href="/leads/?campaign={campaign.pk}"' in page
    assert Lead.objects.count() == 2


def test_confirming_an_expired_upload_is_a_page_that_says_so(client, staff):
    client.force_login(staff)
    response = client.post("/leads/import/no-such-token/confirm/")
    assert response.status_code == 404
    assert jobs.E_UPLOAD_GONE in response.content.decode()
    assert 'action="/leads/import/"' in response.content.decode() or "<form" in response.content.decode()


def _confirm_at_once(clients_and_tokens) -> list[int]:
    statuses: list[int] = []
    barrier = threading.Barrier(len(clients_and_tokens))

    def confirm(c: Client, token: str) -> None:
        try:
            barrier.wait(timeout=30)
            statuses.append(c.post(f"/leads/import/{token}/confirm/").status_code)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=confirm, args=pair) for pair in clients_and_tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return sorted(statuses)


# Two requests in flight at once need a database that takes two connections: SQLite's in-memory
# test database is one shared cache that refuses a second writer at once, where a file waits.
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent requests need PostgreSQL (or a SQLite file)"
)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_same_upload_confirmed_twice_at_once_imports_once_and_answers_409(staff, campaign):
    first = Client()
    first.force_login(staff)
    upload(first, csv_of(300), campaign=campaign.pk)
    token = token_of(first)
    second = Client()
    second.cookies = first.cookies  # the same browser session, two requests in flight
    assert _confirm_at_once([(first, token), (second, token)]) == [302, 409]
    assert Lead.objects.count() == 300


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_uploads_of_the_same_leads_confirmed_at_once_import_once_and_answer_409(staff, campaign):
    text = csv_of(300)
    pairs = []
    for _ in range(2):
        c = Client()
        c.force_login(staff)
        upload(c, text, campaign=campaign.pk)
        pairs.append((c, token_of(c)))
    # PostgreSQL: the second insert waits for the first's and fails (IntegrityError); SQLite: the
    # second waits for the write lock and finds the leads there. Either way: 409, never a 500.
    assert _confirm_at_once(pairs) == [302, 409]
    assert Lead.objects.count() == 300


# --- Background jobs ----------------------------------------------------------------------------


@pytest.fixture
def background(settings):
    settings.LEADMGR_IMPORT_BACKGROUND_BYTES = 1


def test_a_big_file_is_previewed_and_imported_by_background_jobs(client, staff, campaign, background):
    client.force_login(staff)
    make_lead(campaign, phone=P1)
    response = upload(
        client,
        f"phone,customer_name\n{P1},Sarah\n{P2},John\n+1415,X\n",
        campaign=campaign.pk,
        skip_invalid="on",
    )
    preview_job = CsvJob.objects.get(kind=CsvJob.Kind.PREVIEW)
    assert response.status_code == 302 and response["Location"] == f"/leads/import/jobs/{preview_job.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "Waiting for a worker" in page and 'hx-trigger="every 1s"' in page

    assert run_worker() == 1
    response = client.get(f"/leads/import/jobs/{preview_job.pk}/")
    assert response.status_code == 200
    assert response.context["result"].created == 1 and response.context["result"].skipped == 1
    page = response.content.decode()
    assert "Nothing has been written yet." in page and "Import 1 new" in page
    assert Lead.objects.count() == 1

    response = client.post(f"/leads/import/{token_of(client)}/confirm/")
    import_job = CsvJob.objects.get(kind=CsvJob.Kind.IMPORT)
    assert response["Location"] == f"/leads/import/jobs/{import_job.pk}/"
    assert Lead.objects.count() == 1  # not in the request
    assert run_worker() == 1
    page = client.get(response["Location"]).content.decode()
    assert "Imported leads.csv: 3 rows: 1 created, 0 updated, 1 skipped" in page
    assert set(Lead.objects.values_list("phone", flat=True)) == {P1, P2}
    import_job.refresh_from_db()
    assert (import_job.state, import_job.rows_read, import_job.rows_total) == ("done", 3, 3)


def test_the_progress_fragment_shows_rows_read_of_total_in_five_queries(
    client, staff, campaign, background, django_assert_num_queries
):
    client.force_login(staff)
    upload(client, csv_of(5), campaign=campaign.pk)
    job = CsvJob.objects.get()
    job.state = CsvJob.State.RUNNING
    job.save()
    with jobs._held(job):  # a live worker holds the lock
        jobs._Progress(job, 5)(3)
        # the session, the user, the job, the user's permissions and its groups' (has_perm)
        with django_assert_num_queries(5):
            response = client.get(f"/leads/import/jobs/{job.pk}/progress/")
    page = response.content.decode()
    assert response.status_code == 200
    assert '<span id="job-rows-read">3</span> rows read of about <span id="job-rows-total">5</span>' in page
    assert 'value="3" max="5"' in page


def test_the_progress_fragment_reloads_the_page_once_the_job_ended(client, staff, campaign, background):
    client.force_login(staff)
    upload(client, csv_of(2), campaign=campaign.pk)
    run_worker()
    job = CsvJob.objects.get()
    response = client.get(f"/leads/import/jobs/{job.pk}/progress/")
    assert response.status_code == 200 and response["HX-Refresh"] == "true"


def test_a_running_import_whose_worker_is_gone_reports_that_it_wrote_nothing(
    client, staff, campaign, background
):
    client.force_login(staff)
    upload(client, csv_of(3), campaign=campaign.pk)
    run_worker()
    token = token_of(client)
    client.post(f"/leads/import/{token}/confirm/")
    job = CsvJob.objects.get(kind=CsvJob.Kind.IMPORT)
    # What a killed worker leaves: the row "running", nobody holding its lock, no lead written.
    CsvJob.objects.filter(pk=job.pk).update(state=CsvJob.State.RUNNING)
    page = client.get(f"/leads/import/jobs/{job.pk}/").content.decode()
    assert jobs.E_STOPPED in page and "Confirm again" in page
    assert Lead.objects.count() == 0
    # Confirming again runs it once more.
    DBTaskResult.objects.all().delete()
    response = client.post(f"/leads/import/{token}/confirm/")
    assert response.status_code == 302
    run_worker()
    assert Lead.objects.count() == 3


def test_another_users_job_is_not_found(client, staff, campaign, background, django_user_model):
    client.force_login(staff)
    upload(client, csv_of(2), campaign=campaign.pk)
    job = CsvJob.objects.get()
    from leadmgr.testing import make_user
    from leads import roles

    client.force_login(make_user("other", group=roles.STAFF))
    assert client.get(f"/leads/import/jobs/{job.pk}/").status_code == 404
    assert client.get(f"/leads/import/jobs/{job.pk}/progress/").status_code == 404


def test_a_big_every_column_export_finds_its_columns_in_a_job_first(client, staff, campaign, settings):
    settings.LEADMGR_EXPORT_BACKGROUND_ROWS = 2
    for i in range(3):
        make_lead(campaign, variables={"customer_name": f"N{i}", f"extra_{i}": "x"})
    client.force_login(staff)
    response = client.get(f"/leads/export/?campaign={campaign.pk}&download=1")
    job = CsvJob.objects.get(kind=CsvJob.Kind.EXPORT_COLUMNS)
    assert response.status_code == 302 and response["Location"] == f"/leads/import/jobs/{job.pk}/"
    assert run_worker() == 1
    page = client.get(response["Location"]).content.decode()
    url = f"/leads/export/?campaign={campaign.pk}&amp;download=1&amp;plan={job.pk}"
    assert "Scanned 3 leads" in page and url in page
    body = b"".join(client.get(url.replace("&amp;", "&")).streaming_content).decode("utf-8-sig")
    header = body.splitlines()[0].split(",")
    assert {"customer_name", "extra_0", "extra_1", "extra_2"} <= set(header)
    assert len(body.splitlines()) == 4


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_an_integrity_error_from_another_writer_answers_409_with_a_message(staff, campaign):
    """Another writer inserts one of the file's phones after the preview and commits while this
    import waits on it: the import's insert fails (IntegrityError) and the answer is a 409."""
    from django.db import connections, transaction

    c = Client()
    c.force_login(staff)
    upload(c, f"phone,customer_name\n{P1},Sarah\n{P2},John\n", campaign=campaign.pk)
    token = token_of(c)
    inserted, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        try:
            with transaction.atomic():
                make_lead(campaign, phone=P2)
                inserted.set()
                release.wait(timeout=60)
        finally:
            connection.close()

    writer = threading.Thread(target=other_writer)
    writer.start()
    assert inserted.wait(timeout=30)
    answer: list = []

    def confirm() -> None:
        try:
            answer.append(c.post(f"/leads/import/{token}/confirm/"))
        finally:
            connection.close()

    confirming = threading.Thread(target=confirm)
    confirming.start()
    # Wait until the import's insert waits for the other writer's row, then let that one commit.
    deadline = time.monotonic() + 60
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                break
            time.sleep(0.05)
    release.set()
    writer.join(timeout=60)
    confirming.join(timeout=60)
    [response] = answer
    assert response.status_code == 409
    assert jobs.E_CONFLICT in response.content.decode()
    assert list(Lead.objects.values_list("phone", flat=True)) == [P2]  # the other writer's only
