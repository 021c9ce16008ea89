"""CSV pages for Staff: upload → preview → confirm, the rejected rows, a sample file, the export.

The preview is a dry run of the whole file; the uploaded file waits in ``LEADMGR_IMPORT_DIR`` under a
random token kept in the user's session, and confirming imports that same file with the same options,
writing only if the counts are still those previewed.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from campaigns.models import Campaign

from . import csvio
from . import variables as lead_variables
from .csv_forms import UPDATE, ExportColumnsForm, ImportForm
from .filters import FILTER_PARAMS, LeadFilter
from .models import Lead

SESSION_KEY = "csv_imports"
PREVIEW_ROWS = 20
ERRORS_SHOWN = 1000
UPLOAD_MAX_AGE = 24 * 3600  # seconds an uploaded file waits for its confirmation

E_UPLOAD_GONE = "That upload has expired or was already imported: upload the file again."
M_IMPORTED = "Imported {file}: {summary}"

can_import = permission_required("leads.import_lead", raise_exception=True)
can_export = permission_required("leads.export_lead", raise_exception=True)


def _upload_dir() -> Path:
    path = Path(settings.LEADMGR_IMPORT_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _purge_old_uploads(directory: Path) -> None:
    cutoff = time.time() - UPLOAD_MAX_AGE
    for entry in directory.glob("*.csv*"):
        if entry.stat().st_mtime < cutoff:
            entry.unlink(missing_ok=True)


def _pending(request, token: str) -> dict:
    record = request.session.get(SESSION_KEY, {}).get(token)
    if not record or record["user"] != request.user.pk or not os.path.exists(record["path"]):
        raise Http404(E_UPLOAD_GONE)
    return record


def _run(record: dict, *, dry_run: bool, user, expect=None) -> csvio.ImportResult:
    campaign = Campaign.objects.filter(pk=record["campaign"]).first() if record["campaign"] else None
    with open(record["path"], "rb") as f:
        return csvio.import_leads(
            f,
            campaign=campaign,
            region=record["region"] or None,
            dry_run=dry_run,
            skip_invalid=record["skip_invalid"],
            update_existing=record["update_existing"],
            user=user,
            preview_rows=PREVIEW_ROWS if dry_run else 0,
            expect=expect,
        )


def _save_rejected(record: dict, result: csvio.ImportResult) -> None:
    with open(record["path"] + ".rejected", "w", encoding="utf-8", newline="") as out:
        for chunk in csvio.rejected_csv(result):
            out.write(chunk)


def _preview(request, token: str, record: dict, result: csvio.ImportResult, status: int = 200):
    can_confirm = result.rows > 0 and (not result.rejected or record["skip_invalid"])
    context = {
        "token": token,
        "record": record,
        "result": result,
        "errors": [e for r in result.rejected for e in r.errors][:ERRORS_SHOWN],
        "errors_total": sum(len(r.errors) for r in result.rejected),
        "errors_shown": ERRORS_SHOWN,
        "can_confirm": can_confirm,
    }
    return render(request, "leads/import_preview.html", context, status=status)


@can_import
def import_upload(request):
    """GET: the upload form. POST: store the file, dry-run it, show the preview (writes nothing)."""
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        directory = _upload_dir()
        _purge_old_uploads(directory)
        token = secrets.token_urlsafe(16)
        path = directory / f"{request.user.pk}-{token}.csv"
        with open(path, "wb") as out:
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
        }
        try:
            result = _run(record, dry_run=True, user=request.user)
        except csvio.CSVFileError as exc:
            path.unlink(missing_ok=True)
            form.add_error("file", exc.message)
        else:
            record["counts"] = result.counts
            _save_rejected(record, result)
            request.session.setdefault(SESSION_KEY, {})[token] = record
            request.session.modified = True
            return _preview(request, token, record, result)
    campaigns = Campaign.objects.order_by("name")
    done = [
        {"token": token, **record}
        for token, record in request.session.get(SESSION_KEY, {}).items()
        if record.get("imported") and record["user"] == request.user.pk
    ]
    return render(request, "leads/import_upload.html", {"form": form, "campaigns": campaigns, "done": done})


@require_POST
@can_import
def import_confirm(request, token: str):
    """Import the previewed file with the previewed options, if it would still do what was shown."""
    record = _pending(request, token)
    expect = {k: record["counts"][k] for k in ("created", "updated", "skipped", "rejected")}
    try:
        result = _run(record, dry_run=False, user=request.user, expect=expect)
    except csvio.CSVFileError as exc:
        messages.error(request, exc.message)
        return redirect("leads:import")
    if not result.written:
        # The data changed since the preview (or a strict file has errors): show the new preview.
        preview = _run(record, dry_run=True, user=request.user)
        record["counts"] = preview.counts
        _save_rejected(record, preview)
        request.session.modified = True
        if result.error:
            messages.error(request, result.error)
        return _preview(request, token, record, preview, status=409 if result.error else 400)
    Path(record["path"]).unlink(missing_ok=True)
    messages.success(request, M_IMPORTED.format(file=record["name"], summary=result.summary()))
    if result.rejected:
        # Kept so the upload page can offer the rejected rows for download.
        record["imported"] = True
        record["counts"] = result.counts
    else:
        request.session[SESSION_KEY].pop(token, None)
    request.session.modified = True
    return redirect("leads:import")


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
    response = HttpResponse(csvio.sample_csv(campaign), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="sample-{campaign.pk}.csv"'
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
    leads = lead_filter.qs
    if request.GET.get("download"):
        columns = data.getlist("columns") or None
        with_secondary = data.get("with_secondary") in ("1", "on", "true", "yes")
        chunks = csvio.export_csv(leads, columns=columns, with_secondary=with_secondary)
        response = StreamingHttpResponse(
            csvio.iter_bytes(chunks, bom=True), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="leads-{stamp}.csv"'
        return response
    hidden = [(name, value) for name in FILTER_PARAMS for value in request.GET.getlist(name) if value]
    return render(request, "leads/export.html", {"filters": filters, "form": form, "hidden": hidden})
