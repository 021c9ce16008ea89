"""CSV pages for Staff: upload → preview → confirm, the rejected rows, a sample file, the export.

The preview is a dry run of the whole file; the uploaded file waits in ``LEADMGR_IMPORT_DIR`` under a
random token kept in the user's session, and confirming imports that same file with the same options,
writing only if the counts are still those previewed. Files from ``LEADMGR_IMPORT_BACKGROUND_BYTES``
on are previewed and imported by background jobs (``leads.jobs``), whose page shows their progress.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from campaigns.models import Campaign
from compliance.audit import audited, record_export

from . import jobs, selectors
from . import variables as lead_variables
from .csv import exporter, sample, xlsx
from .csv.errors import CSVFileError
from .csv.importer import ImportOptions, ImportResult, import_leads
from .csv_forms import UPDATE, ExportColumnsForm, ImportForm
from .filters import FILTER_PARAMS, LeadFilter
from .models import CsvJob, Lead
from .views import E_NOTHING_SELECTED

SESSION_KEY = "csv_imports"
# The export page says how many leads it will write, exactly up to here (opened once per export).
EXPORT_COUNT_CAP = 100_000
PREVIEW_ROWS = jobs.PREVIEW_ROWS
ERRORS_SHOWN = jobs.ERRORS_KEPT
UPLOAD_MAX_AGE = jobs.UPLOAD_MAX_AGE

E_UPLOAD_GONE = jobs.E_UPLOAD_GONE
E_ALREADY_IMPORTED = "This file was already imported: nothing more was written."
E_BEING_IMPORTED = "This file is being imported already: nothing more will be written from this confirm."
M_IMPORTED = "Imported {file}: {summary}"
W_CALLED_AT_ONCE = (
    "{n} leads will be called as soon as you confirm: campaign “{campaign}” is running and its "
    "calling window is open."
)

can_import = permission_required("leads.import_lead", raise_exception=True)
can_export = permission_required("leads.export_lead", raise_exception=True)


def _pending(request, token: str) -> dict | None:
    """The user's upload waiting for its confirmation, or None when it is gone."""
    record = request.session.get(SESSION_KEY, {}).get(token)
    if not record or record["user"] != request.user.pk or not os.path.exists(record["path"]):
        return None
    return record


def _run(record: dict, *, dry_run: bool, user, expect=None) -> ImportResult:
    campaign = Campaign.objects.filter(pk=record["campaign"]).first() if record["campaign"] else None
    options = ImportOptions(
        campaign=campaign,
        region=record["region"] or None,
        dry_run=dry_run,
        skip_invalid=record["skip_invalid"],
        update_existing=record["update_existing"],
        user=user,
        preview_rows=PREVIEW_ROWS if dry_run else 0,
        expect=expect,
    )
    with open(record["path"], "rb") as f:
        return import_leads(f, options, **jobs.source_options(record))


def _preview(request, token: str, record: dict, result, status: int = 200, *, errors=None, errors_total=None):
    """The preview page, from an ImportResult (in the request) or a background preview's summary."""
    if errors is None:
        all_errors = [e for r in result.rejected for e in r.errors]
        errors, errors_total = all_errors[:ERRORS_SHOWN], len(all_errors)
    can_confirm = result.rows > 0 and (not result.rejected or record["skip_invalid"])
    called = [
        W_CALLED_AT_ONCE.format(n=n, campaign=name) for name, n in sorted(result.called_at_once.items()) if n
    ]
    context = {
        "called_at_once": called if can_confirm else [],
        "token": token,
        "record": record,
        "result": result,
        "errors": errors,
        "errors_total": errors_total,
        "errors_shown": ERRORS_SHOWN,
        "can_confirm": can_confirm,
    }
    return render(request, "leads/import_preview.html", context, status=status)


def _preview_of_job(request, job: CsvJob, record: dict):
    summary = job.result
    counts = summary["counts"]
    result = SimpleNamespace(
        **{**counts, "rejected": counts["rejected"] > 0},
        rejected_count=counts["rejected"],
        preview=summary["preview"],
        source=summary.get("source", ""),
        called_at_once=summary.get("called_at_once", {}),
    )
    return _preview(
        request, job.token, record, result, errors=summary["errors"], errors_total=summary["errors_total"]
    )


def _upload_page(request, form, *, status: int = 200, error: str = ""):
    campaigns = Campaign.objects.order_by("name")
    done = []
    for token, record in request.session.get(SESSION_KEY, {}).items():
        if record.get("imported") and not record.get("announced") and record["user"] == request.user.pk:
            done.append({"token": token, **record})
            # Said once, on the page the import lands on; the download stays valid for the upload's life.
            record["announced"] = True
            request.session.modified = True
    context = {"form": form, "campaigns": campaigns, "done": done, "error": error}
    return render(request, "leads/import_upload.html", context, status=status)


@can_import
def import_upload(request):
    """GET: the upload form. POST: store the file, dry-run it, show the preview (writes nothing).
    A big file is previewed by a background job: the answer is its progress page."""
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        directory = jobs.upload_dir()
        jobs.purge_old_uploads(directory)
        token = secrets.token_urlsafe(16)
        suffix = xlsx.XLSX_SUFFIX if xlsx.is_xlsx(form.cleaned_data["file"].name) else ".csv"
        path = directory / f"{request.user.pk}-{token}{suffix}"
        with jobs.open_private(path) as out:
            for chunk in form.cleaned_data["file"].chunks():
                out.write(chunk)
        campaign = form.cleaned_data["campaign"]
        record = {
            "user": request.user.pk,
            "path": str(path),
            "name": form.cleaned_data["file"].name,
            "campaign": campaign.pk if campaign else None,
            "campaign_name": campaign.name if campaign else "",
            "region": form.cleaned_data["region"].strip().upper(),
            "update_existing": form.cleaned_data["duplicates"] == UPDATE,
            "skip_invalid": form.cleaned_data["skip_invalid"],
            "delimiter": form.cleaned_data["delimiter"],
            "sheet": form.cleaned_data["sheet"].strip(),
        }
        if jobs.is_background(path):
            job = jobs.create_preview(user=request.user, token=token, record=record)
            jobs.enqueue(job)
            record["job"] = job.pk
            request.session.setdefault(SESSION_KEY, {})[token] = record
            request.session.modified = True
            return redirect("leads:import-job", job.pk)
        try:
            result = _run(record, dry_run=True, user=request.user)
        except CSVFileError as exc:
            path.unlink(missing_ok=True)
            form.add_error("file", exc.message)
        else:
            record["counts"] = result.counts
            record["source"] = result.source
            jobs.save_rejected(record, result)
            request.session.setdefault(SESSION_KEY, {})[token] = record
            request.session.modified = True
            return _preview(request, token, record, result)
    return _upload_page(request, form)


def _already(request, job: CsvJob):
    """409: this upload is imported (or importing) already; the page links to it and its leads."""
    message = E_ALREADY_IMPORTED if job.state == CsvJob.State.DONE else E_BEING_IMPORTED
    return _job_page(request, job, status=409, notice=message)


@require_POST
@can_import
def import_confirm(request, token: str):
    """Import the previewed file with the previewed options, if it would still do what was shown.
    One import per upload: a second confirm (a double click, Back, two tabs) answers 409."""
    existing = jobs.import_of(request.user, token)
    if existing is not None:
        existing = jobs.refresh(existing)
        if existing.state != CsvJob.State.FAILED:
            return _already(request, existing)
    record = _pending(request, token)
    if record is None:
        return _upload_page(request, ImportForm(), status=404, error=E_UPLOAD_GONE)
    if "counts" not in record:  # previewed by a background job: its counts, once it finished
        preview = CsvJob.objects.filter(pk=record["job"], user=request.user, state=CsvJob.State.DONE).first()
        if preview is None:
            return redirect("leads:import-job", record["job"])
        record["counts"] = preview.result["counts"]
        request.session.modified = True
    try:
        job = jobs.claim_import(user=request.user, token=token, record=record)
    except IntegrityError:  # another request claimed it in the meantime
        other = jobs.import_of(request.user, token)
        if other is None:  # ... and has failed since: nothing written, confirm again
            return _upload_page(request, ImportForm(), status=409, error=jobs.E_CONFLICT)
        return _already(request, other)
    if jobs.is_background(record["path"]):
        jobs.enqueue(job)
        return redirect("leads:import-job", job.pk)
    return _import_outcome(request, token, record, jobs.execute(job))


def _import_outcome(request, token: str, record: dict, job: CsvJob):
    if job.state == CsvJob.State.DONE:
        messages.success(request, M_IMPORTED.format(file=record["name"], summary=job.result["summary"]))
        if job.result["counts"]["rejected"]:
            # Kept so the upload page can offer the rejected rows for download.
            record["imported"] = True
            record["counts"] = job.result["counts"]
        else:
            request.session[SESSION_KEY].pop(token, None)
        request.session.modified = True
        return redirect("leads:import")
    if job.result is None and job.error != jobs.E_CONFLICT:
        messages.error(request, job.error)  # the file itself cannot be read any more
        return redirect("leads:import")
    # The data changed since the preview, another import wrote the same leads, or a strict file has
    # errors: nothing was written; show the new preview.
    try:
        preview = _run(record, dry_run=True, user=request.user)
    except CSVFileError as exc:
        messages.error(request, exc.message)
        return redirect("leads:import")
    record["counts"] = preview.counts
    jobs.save_rejected(record, preview)
    request.session.modified = True
    if job.error != jobs.E_NOT_WRITTEN:
        messages.error(request, job.error)
        return _preview(request, token, record, preview, status=409)
    return _preview(request, token, record, preview, status=400)


def _job_for_user(request, pk: int) -> CsvJob:
    """The user's own job (404 for anyone else's), if the user may still import (or export)."""
    job = get_object_or_404(CsvJob, pk=pk, user=request.user)
    perm = "leads.export_lead" if job.kind == CsvJob.Kind.EXPORT_COLUMNS else "leads.import_lead"
    if not request.user.has_perm(perm):
        raise PermissionDenied
    return job


def _job_page(request, job: CsvJob, *, status: int = 200, notice: str = ""):
    read, total = jobs.read_progress(job)
    record = request.session.get(SESSION_KEY, {}).get(job.token) if job.token else None
    campaign_id = job.options.get("campaign")
    leads_url = reverse("leads:list") + (f"?campaign={campaign_id}" if campaign_id else "?sort=-created_at")
    context = {
        "job": job,
        "read": read,
        "total": total,
        "notice": notice,
        "leads_url": leads_url,
        "can_retry": job.kind == CsvJob.Kind.IMPORT
        and job.state == CsvJob.State.FAILED
        and record is not None
        and os.path.exists(record["path"]),
        "download_url": _export_download_url(job) if job.kind == CsvJob.Kind.EXPORT_COLUMNS else "",
    }
    return render(request, "leads/import_job.html", context, status=status)


def import_job(request, pk: int):
    """A background job's page: its progress while it runs, then its result (a preview, an import's
    summary, an export's download link) or why it stopped."""
    job = jobs.refresh(_job_for_user(request, pk))
    if job.kind == CsvJob.Kind.PREVIEW and job.state == CsvJob.State.DONE:
        record = _pending(request, job.token)
        if record is None:
            imported = jobs.import_of(request.user, job.token)
            if imported is not None:  # Back from the import's page: say where it went
                imported = jobs.refresh(imported)
                message = E_ALREADY_IMPORTED if imported.state == CsvJob.State.DONE else E_BEING_IMPORTED
                return _job_page(request, imported, notice=message)
            return _upload_page(request, ImportForm(), status=404, error=E_UPLOAD_GONE)
        if record.get("counts") != job.result["counts"]:
            record["counts"] = job.result["counts"]
            request.session.modified = True
        return _preview_of_job(request, job, record)
    return _job_page(request, job)


def import_job_progress(request, pk: int):
    """The progress bar alone, polled by the job page; once the job ends the page reloads."""
    job = jobs.refresh(_job_for_user(request, pk))
    if job.finished:
        return HttpResponseClientRefresh()
    read, total = jobs.read_progress(job)
    return render(request, "leads/_job_progress.html", {"job": job, "read": read, "total": total})


@can_import
def import_rejected(request, token: str):
    """The rejected rows of an upload as CSV, with a reason column."""
    record = request.session.get(SESSION_KEY, {}).get(token)
    path = record and record["user"] == request.user.pk and record["path"] + ".rejected"
    if not path or not os.path.exists(path):
        raise Http404(E_UPLOAD_GONE)
    stem = Path(record["name"]).stem or "leads"
    return FileResponse(
        open(path, "rb"),  # FileResponse closes it
        as_attachment=True,
        filename=f"{stem}-rejected.csv",
        content_type="text/csv; charset=utf-8",
    )


@can_import
def import_sample(request, campaign_id: int):
    """A CSV to start from, with the columns the campaign's assistant uses."""
    campaign = get_object_or_404(Campaign.objects.select_related("assistant"), pk=campaign_id)
    response = HttpResponse(sample.sample_csv(campaign), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="sample-{campaign.pk}.csv"'
    return response


@can_import
def import_sample_xlsx(request, campaign_id: int):
    """The same sample as an Excel workbook."""
    campaign = get_object_or_404(Campaign.objects.select_related("assistant"), pk=campaign_id)
    response = HttpResponse(sample.sample_xlsx(campaign), content_type=xlsx.XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="sample-{campaign.pk}.xlsx"'
    return response


def _variable_names(campaign: Campaign | None) -> list[str]:
    campaigns = [campaign] if campaign else Campaign.objects.select_related("assistant")
    names: list[str] = []
    for c in campaigns:
        for var in lead_variables.definitions(c.assistant):
            if var.name not in names:
                names.append(var.name)
    return names


@can_export
def export(request):
    """The leads table's filters in the query string. Without ``download=1``: choose columns and
    secondary contacts. With it: the CSV, streamed as it is read."""
    # The leads table's own filter set: the export means exactly the rows the table showed.
    lead_filter = LeadFilter(request.GET, queryset=Lead.objects.all())
    filters = lead_filter.form
    if not lead_filter.is_valid():
        if request.GET.get("download"):
            return HttpResponse(filters.errors.as_text(), status=400, content_type="text/plain")
        return render(request, "leads/export.html", {"filters": filters, "form": None}, status=400)
    campaign_id = filters.cleaned_data.get("campaign")
    campaign = Campaign.objects.select_related("assistant").get(pk=campaign_id) if campaign_id else None
    data = request.GET.copy()
    data.setlist("columns", [c for value in data.getlist("columns") for c in value.split(",") if c.strip()])
    form = ExportColumnsForm(
        data if request.GET.get("download") else None, variable_names=_variable_names(campaign)
    )
    # The rows checked in the table, when the bulk bar's Export was asked for those only.
    checked = request.GET.getlist("pk") if request.GET.get("all") != "1" else []
    ids = [pk for pk in map(selectors.parse_id, checked) if pk is not None]
    if request.GET.get("all") == "0" and not ids:
        return render(
            request,
            "leads/export.html",
            {"filters": filters, "form": None, "problem": E_NOTHING_SELECTED},
            status=400,
        )
    leads = selectors.filter_leads(lead_filter.qs, ids=ids)
    if request.GET.get("download"):
        return _download(request, lead_filter, leads, data, ids)
    hidden = [(name, value) for name in FILTER_PARAMS for value in request.GET.getlist(name) if value]
    hidden += [("pk", str(pk)) for pk in ids]
    n = selectors.count_capped(leads, EXPORT_COUNT_CAP)
    context = {
        "filters": filters,
        "form": form,
        "hidden": hidden,
        "description": lead_filter.description(),
        "n_checked": len(ids),
        "n_leads": min(n, EXPORT_COUNT_CAP),
        "capped": n > EXPORT_COUNT_CAP,
    }
    return render(request, "leads/export.html", context)


def _download(request, lead_filter: LeadFilter, leads, data, ids: list[int]):
    """The export's file: CSV streamed as it is read, or a workbook."""
    columns = data.getlist("columns") or None
    with_secondary = data.get("with_secondary") in ("1", "on", "true", "yes")
    fmt = "xlsx" if data.get("format") == "xlsx" else "csv"
    plan = None
    if not columns:
        # Every column: a scan of the set finds the variables before the header. Over
        # LEADMGR_EXPORT_BACKGROUND_ROWS leads it runs as a job; its page links the download.
        query = _export_query(request.GET, with_secondary)
        job = _export_scan_of(request, query)
        if job is not None:
            plan = jobs.export_plan(job)
        elif _more_than(leads, settings.LEADMGR_EXPORT_BACKGROUND_ROWS):
            arguments = {
                k: (v.isoformat() if hasattr(v, "isoformat") else v)
                for k, v in lead_filter.selector_arguments().items()
            } | {"ids": ids}
            params = {"filters": arguments, "with_secondary": with_secondary, "query": query, "format": fmt}
            job = jobs.create_export_scan(user=request.user, params=params)
            return redirect("leads:import-job", job.pk)
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    audit = {
        "user": request.user,
        "filters": {
            name: request.GET.getlist(name) for name in FILTER_PARAMS if any(request.GET.getlist(name))
        },
        "columns": columns,
        "channel": "web",
    }
    shape = {"columns": columns, "with_secondary": with_secondary, "plan": plan}
    if fmt == "xlsx":
        # A workbook is a zip whose directory comes last: it is built in a temporary file
        # (openpyxl's write-only mode, bounded memory), then sent.
        out = tempfile.TemporaryFile(dir=jobs.upload_dir())  # noqa: SIM115 (FileResponse closes it)
        record_export(rows=exporter.export_xlsx(leads, out, **shape), **audit)
        out.seek(0)
        return FileResponse(
            out,  # FileResponse closes it, and the file goes with it
            as_attachment=True,
            filename=f"leads-{stamp}.xlsx",
            content_type=xlsx.XLSX_CONTENT_TYPE,
        )
    chunks = audited(exporter.export_csv(leads, **shape), **audit)
    response = StreamingHttpResponse(
        exporter.iter_bytes(chunks, bom=True), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="leads-{stamp}.csv"'
    return response


def _export_query(params, with_secondary: bool) -> str:
    """The filter part of an export's query string (checked rows included), in one canonical order."""
    names = (*FILTER_PARAMS, "pk")
    pairs = sorted((name, value) for name in names for value in params.getlist(name) if value)
    if with_secondary:
        pairs.append(("with_secondary", "1"))
    return urlencode(pairs)


def _export_scan_of(request, query: str) -> CsvJob | None:
    """The finished column scan the download names (``plan=<job>``), if it scanned these leads."""
    pk = request.GET.get("plan", "")
    if not pk.isdigit():
        return None
    return CsvJob.objects.filter(
        pk=int(pk),
        user=request.user,
        kind=CsvJob.Kind.EXPORT_COLUMNS,
        state=CsvJob.State.DONE,
        options__query=query,
    ).first()


def _export_download_url(job: CsvJob) -> str:
    query = job.options.get("query", "")
    fmt = "&format=xlsx" if job.options.get("format") == "xlsx" else ""
    return reverse("leads:export") + f"?{query}{'&' if query else ''}download=1&plan={job.pk}{fmt}"


def _more_than(leads, n: int) -> bool:
    """Whether the set has more than ``n`` leads, reading at most n + 1 ids (never a full count)."""
    return leads.order_by().values_list("pk", flat=True)[n : n + 1].exists()
