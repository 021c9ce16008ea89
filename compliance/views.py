"""Compliance pages: the do-not-call lists (Staff), a lead's opt-out (Operators), erasure and the
export log (admins). Changes are small POST-only views that call a service and redirect back."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns.models import Campaign
from leadmgr import access
from leads import selectors as lead_selectors
from leads.csv.errors import CSVFileError
from leads.phones import normalize_phone
from leads.selectors import parse_id

from . import dnc_csv, erasure, selectors, services
from .forms import SITE, EntryForm, EraseForm, ImportForm, OptOutForm, RemoveForm, scope_choices
from .models import DoNotCallEntry, Erasure, ExportRecord

PER_PAGE = 50
MAX_REJECTED_SHOWN = 200
M_ADDED = "{number} added to the {scope} do-not-call list."
M_REMOVED = "{number} removed from the {scope} do-not-call list."
M_OPTED_OUT = "Opted out: {numbers} will not be called again ({added} newly listed)."
M_ERASED = "Erased: {leads} lead(s) and {contacts} secondary contact(s) deleted; the number can never be added again."


def _require_admin(request: HttpRequest) -> None:
    if not request.user.is_superuser:
        raise Http404  # admins' pages: others are not told they exist


def _page(request: HttpRequest) -> int:
    page = parse_id(request.GET.get("page", "1"))
    return min(page or 1, 100_000)


@require_GET
def dnc_list(request: HttpRequest) -> HttpResponse:
    access.require(request, "compliance.view_donotcallentry")
    text = request.GET.get("q", "")[:64]
    scope = request.GET.get("scope", "")
    if scope not in ("", SITE) and parse_id(scope) is None:
        scope = ""
    removed = request.GET.get("removed") == "1"
    page = _page(request)
    entries = selectors.search_entries(text=text, campaign=scope, removed=removed)
    # One more than a page tells whether a next page exists: no COUNT over a million entries.
    rows = list(entries[(page - 1) * PER_PAGE : page * PER_PAGE + 1])
    query = {k: v for k, v in {"q": text, "scope": scope, "removed": "1" if removed else ""}.items() if v}
    return render(
        request,
        "compliance/dnc_list.html",
        {
            "entries": rows[:PER_PAGE],
            "page": page,
            "next_url": f"?{urlencode({**query, 'page': page + 1})}" if len(rows) > PER_PAGE else "",
            "previous_url": f"?{urlencode({**query, 'page': page - 1})}" if page > 1 else "",
            "q": text,
            "scope": scope,
            "removed": removed,
            "scopes": scope_choices(any_scope=True),
            "form": EntryForm(),
            "remove_form": RemoveForm(),
            "here": request.get_full_path(),
        },
    )


@require_POST
def dnc_add(request: HttpRequest) -> HttpResponse:
    access.require(request, "compliance.add_donotcallentry")
    form = EntryForm(request.POST)
    if form.is_valid():
        try:
            entry = services.dnc_add(
                number=form.cleaned_data["number"],
                campaign=form.cleaned_data["scope"],
                reason=form.cleaned_data["reason"],
                user=request.user,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, M_ADDED.format(number=entry.number, scope=entry.scope))
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("compliance:dnc_list")


def _get_dnc_entry_for_user(request: HttpRequest, pk: int, *, perm: str) -> DoNotCallEntry:
    """A listed number (not an erasure's hash-only entry): 403 without ``perm``, then 404."""
    access.require(request, perm)
    return get_object_or_404(DoNotCallEntry.objects.select_related("campaign"), pk=pk, number__isnull=False)


@require_POST
def dnc_remove(request: HttpRequest, pk: int) -> HttpResponse:
    entry = _get_dnc_entry_for_user(request, pk, perm="compliance.change_donotcallentry")
    form = RemoveForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(services.E_REMOVAL_REASON)
        services.dnc_remove(entry=entry, user=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, M_REMOVED.format(number=entry.number, scope=entry.scope))
    return redirect("compliance:dnc_list")


@require_http_methods(["GET", "POST"])
def dnc_import(request: HttpRequest) -> HttpResponse:
    access.require(request, "compliance.import_donotcallentry")
    form = ImportForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        try:
            result = dnc_csv.import_dnc(
                form.cleaned_data["file"],
                campaign=form.cleaned_data["scope"],
                region=form.cleaned_data["region"] or None,
                skip_invalid=form.cleaned_data["skip_invalid"],
                dry_run=form.cleaned_data["dry_run"],
                user=request.user,
            )
        except CSVFileError as exc:
            form.add_error("file", exc.message)
    status = 400 if request.method == "POST" and (form.errors or (result and result.rejected)) else 200
    return render(
        request,
        "compliance/dnc_import.html",
        {
            "form": form,
            "result": result,
            "rejected": result.rejected[:MAX_REJECTED_SHOWN] if result else [],
        },
        status=status,
    )


@require_GET
def dnc_export(request: HttpRequest) -> HttpResponse:
    access.require(request, "compliance.export_donotcallentry")
    scope = request.GET.get("scope", SITE)
    campaign = None
    if scope != SITE:
        campaign_id = parse_id(scope)
        campaign = Campaign.objects.filter(pk=campaign_id).first() if campaign_id else None
        if campaign is None:
            return HttpResponse("Choose the site-wide list or an existing campaign.", status=400)
    response = StreamingHttpResponse(dnc_csv.export_dnc(campaign), content_type="text/csv; charset=utf-8")
    name = f"do-not-call-{campaign.pk if campaign else 'site'}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- a lead's opt-out ----------------------------------------------------------------------------


def _get_lead_for_user(request: HttpRequest, pk: int, *, perm: str):
    """The lead: 404 for a user who may not see leads, 403 without ``perm``."""
    leads = lead_selectors.leads_for_user(request.user).select_related("campaign")
    return access.get_for_user(request, leads, pk, perm=perm)


@require_http_methods(["GET", "POST"])
def lead_opt_out(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the confirmation, listing the lead's numbers. POST: list the chosen ones site-wide."""
    lead = _get_lead_for_user(request, pk, perm="compliance.opt_out_lead")
    numbers = [lead.phone, *lead.contacts.order_by("position", "id").values_list("phone", flat=True)]
    form = OptOutForm(request.POST or None, numbers=numbers)
    if request.method == "POST" and form.is_valid():
        try:
            added = services.opt_out(
                lead=lead,
                numbers=form.cleaned_data["numbers"],
                user=request.user,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request, M_OPTED_OUT.format(numbers=", ".join(form.cleaned_data["numbers"]), added=added)
            )
            return redirect(reverse("leads:detail", args=[lead.pk]))
    listed = selectors.blocked_numbers(numbers, lead.campaign_id)
    return render(
        request,
        "compliance/opt_out.html",
        {"lead": lead, "form": form, "listed": listed},
        status=400 if request.method == "POST" else 200,
    )


# --- admins: erasure and the export log ----------------------------------------------------------


@require_http_methods(["GET", "POST"])
def erase(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    form = EraseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            done = erasure.erase_number(number=form.cleaned_data["number"], user=request.user, channel="web")
        except ValidationError as exc:
            form.add_error("number", exc)
        else:
            messages.success(
                request, M_ERASED.format(leads=done.leads_deleted, contacts=done.contacts_deleted)
            )
            return redirect("compliance:erase")
    return render(
        request,
        "compliance/erase.html",
        {"form": form, "erasures": Erasure.objects.select_related("performed_by")[:50]},
        status=400 if request.method == "POST" else 200,
    )


@require_GET
def export_log(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    page = _page(request)
    rows = list(ExportRecord.objects.select_related("user")[(page - 1) * PER_PAGE : page * PER_PAGE + 1])
    return render(
        request,
        "compliance/export_log.html",
        {
            "records": rows[:PER_PAGE],
            "next_url": f"?page={page + 1}" if len(rows) > PER_PAGE else "",
            "previous_url": f"?page={page - 1}" if page > 1 else "",
        },
    )


@require_GET
def phone_check(request: HttpRequest) -> HttpResponse:
    """htmx, the lead form: warn before saving that a number is listed, or already a lead elsewhere."""
    access.require(request, "leads.add_lead", "leads.change_lead", any_of=True)
    try:
        phone = normalize_phone(request.GET.get("phone", "")[:64])
    except ValidationError:
        return HttpResponse("")  # the form says what is wrong with it when saved
    campaign_id = parse_id(request.GET.get("campaign", ""))
    lead_id = parse_id(request.GET.get("lead", ""))
    source = selectors.blocked_numbers([phone], campaign_id).get(phone)
    elsewhere = [
        (name, pk)
        for cid, name, pk in lead_selectors.leads_elsewhere([phone]).get(phone, [])
        if pk != lead_id and cid != campaign_id
    ]
    return render(
        request,
        "compliance/_phone_check.html",
        {
            "phone": phone,
            "source": source,
            "reason": selectors.block_reason(source or ""),
            "elsewhere": elsewhere,
        },
    )
