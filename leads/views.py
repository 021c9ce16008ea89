"""The operator web UI for leads: the table, bulk actions, the lead form and the lead page.

A view reaches one lead only through ``_get_lead_for_user`` (404 for a user who may not see leads,
then 403 without the permission of its action); pages without a lead check theirs with
``access.require``. Changes are POST-only and redirect back to where the operator was.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import unquote, urlsplit

from django.contrib import messages
from django.db.models import F, Func, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_filters.views import FilterView
from django_tables2 import SingleTableMixin

from campaigns import live as campaign_live
from campaigns.models import Campaign
from leadcounts import selectors as lead_counts
from leadmgr import access
from leadmgr.pagination import DeferredJoinLazyPaginator

from . import lifecycle, selectors, services, validation
from . import variables as lead_variables
from .filters import FILTER_PARAMS, LeadFilter
from .forms import LeadEditor, StatusForm, VariableFormSet, parse_prefilled, prefill, raw_values
from .models import Lead, SecondaryContact, Status
from .tables import LeadTable

log = logging.getLogger(__name__)

# The bulk bar's count of the leads a filter matches is exact up to here, then "more than 1000": it
# loads with every filtered table page, and counting the matches of a common word in the variables
# reads every one of them (the delete and status confirmations count exactly before they act).
MATCH_COUNT_CAP = 1_000
E_NOTHING_SELECTED = "Check some leads, or choose all leads matching the filter, first."
E_BAD_FILTER = "The filter is not valid: fix it in the table first."
M_DELETED = "Deleted {leads} lead(s) and {contacts} secondary contact(s)."
M_STATUS_CHANGED = "{changed} lead(s) set to {label}."
M_STATUS_REFUSED = "{n} lead(s) left unchanged: {reason}"
M_SAVED = "Lead {phone} saved."
M_STATUS_SET = "{phone} is now {label}."
M_PAST_END = "There is no page {asked}: showing the last page, {last}."
PAGE_SIZES = (25, 50, 100, 200)  # what the page-size select offers (any 1..200 works in the URL)


def _next_url(request: HttpRequest, default: str) -> str:
    """Where to go back to: ``next`` when it is a path on this site, else the leads table
    (``default`` when no ``next`` was given)."""
    url = request.POST.get("next") or request.GET.get("next")
    if not url:
        return default
    return url if _is_site_path(url) else reverse("leads:list")


def _is_site_path(url: str) -> bool:
    """A path of one of this site's pages (with a query, perhaps): never another host, a scheme,
    or an address no page answers."""
    if not url.startswith("/") or not url_has_allowed_host_and_scheme(url, allowed_hosts=set()):
        return False
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return False
    try:
        resolve(unquote(parts.path))
    except Resolver404:
        return False
    return True


def _get_lead_for_user(request: HttpRequest, pk: int, *, perm: str, assistant: bool = False) -> Lead:
    """The lead: 404 for a user who may not see leads, 403 without ``perm``. ``assistant``: with its
    campaign's assistant and variables (the lead page and form show them)."""
    leads = selectors.leads_for_user(request.user).select_related("campaign")
    if assistant:
        leads = leads.select_related("campaign__assistant").prefetch_related("campaign__assistant__variables")
    return access.get_for_user(request, leads, pk, perm=perm)


def _filter_query(request: HttpRequest) -> str:
    """The table's filter parameters alone (no page, sort or selection), as a query string."""
    query = request.GET.copy()
    for key in list(query):
        if key not in FILTER_PARAMS:
            del query[key]
    return query.urlencode()


class LeadListView(SingleTableMixin, FilterView):
    table_class = LeadTable
    filterset_class = LeadFilter
    template_name = "leads/lead_list.html"
    # Pagination on the table only: LazyPaginator then reads one row past the page instead of
    # counting the whole result (see PERFORMANCE.md); deep pages skip rows on the index alone.
    table_pagination = {"paginator_class": DeferredJoinLazyPaginator, "per_page": 25}

    def dispatch(self, request, *args, **kwargs):
        access.require(request, "leads.view_lead")
        return super().dispatch(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Lead]:
        # Counted per row shown (a correlated subquery after LIMIT), never for the whole result.
        contacts = (
            SecondaryContact.objects.filter(lead=OuterRef("pk"))
            .order_by()
            .values(n=Func(F("pk"), function="COUNT"))
        )
        return (
            selectors.leads_for_user(self.request.user)
            .select_related("campaign")
            .annotate(n_contacts=Subquery(contacts))
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["filter_query"] = _filter_query(self.request)
        page = getattr(context.get("table"), "page", None)
        context["page_sizes"] = PAGE_SIZES
        context["per_page"] = getattr(getattr(page, "paginator", None), "per_page", PAGE_SIZES[0])
        asked = getattr(getattr(page, "paginator", None), "past_end", None)
        if asked is not None:
            messages.info(self.request, M_PAST_END.format(asked=asked, last=page.number))
        return context


@require_GET
def lead_match_count(request: HttpRequest) -> HttpResponse:
    """How many leads the table's filter matches (loaded after the page, capped)."""
    access.require(request, "leads.view_lead")
    filterset = LeadFilter(request.GET, queryset=selectors.leads_for_user(request.user))
    by_status = filterset.by_campaign_and_status() if filterset.is_valid() else None
    if by_status is not None:  # from the maintained counts: a few rows read at any size
        n = lead_counts.leads_with(*by_status)
    else:
        n = selectors.count_capped(filterset.qs, MATCH_COUNT_CAP) if filterset.is_valid() else 0
    return render(
        request, "leads/_match_count.html", {"n": min(n, MATCH_COUNT_CAP), "capped": n > MATCH_COUNT_CAP}
    )


def _selection(request: HttpRequest) -> tuple[QuerySet[Lead], str | None]:
    """The leads a bulk action means: the checked rows, or all rows matching the table's filter."""
    filterset = LeadFilter(request.GET, queryset=selectors.leads_for_user(request.user))
    if not filterset.is_valid():
        return Lead.objects.none(), E_BAD_FILTER
    leads = filterset.qs
    if request.GET.get("all") == "1":
        return leads, None
    ids = [pk for pk in map(selectors.parse_id, request.GET.getlist("pk")) if pk is not None]
    if not ids:
        return Lead.objects.none(), E_NOTHING_SELECTED
    return leads.filter(pk__in=ids), None


def _table_url(request: HttpRequest) -> str:
    query = _filter_query(request)
    return _next_url(request, reverse("leads:list") + (f"?{query}" if query else ""))


def _bulk_target(request: HttpRequest, perm: str) -> tuple[QuerySet[Lead], str, HttpResponse | None]:
    """What every bulk action starts with: the permission, the selection, the way back.

    The third value is the response to return at once (back to the table with the problem) or None.
    """
    access.require(request, perm)
    leads, problem = _selection(request)
    back = _table_url(request)
    if problem:
        messages.error(request, problem)
        return leads, back, redirect(back)
    return leads, back, None


@require_http_methods(["GET", "POST"])
def bulk_delete(request: HttpRequest) -> HttpResponse:
    """Delete the selection: a confirmation page with the counts, then one database-level delete."""
    leads, back, refused = _bulk_target(request, "leads.bulk_delete_lead")
    if refused:
        return refused
    if request.method == "POST":
        n_leads, n_contacts = services.leads_delete(leads)
        log.info("%s deleted %d leads and %d contacts", request.user, n_leads, n_contacts)
        messages.success(request, M_DELETED.format(leads=n_leads, contacts=n_contacts))
        return redirect(back)
    n_leads = leads.count()
    n_contacts = selectors.contact_count(leads)
    context = {
        "n_leads": n_leads,
        "n_contacts": n_contacts,
        "back": back,
        "all": request.GET.get("all") == "1",
    }
    return render(request, "leads/bulk_delete_confirm.html", context)


@require_http_methods(["GET", "POST"])
def bulk_status(request: HttpRequest) -> HttpResponse:
    """Change the selection's status through the lifecycle; report changed and refused leads."""
    leads, back, refused = _bulk_target(request, "leads.change_lead")
    if refused:
        return refused
    form = StatusForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        target = form.cleaned_data["target"]
        try:
            result = lifecycle.bulk_set_status(leads, target, user=request.user, **form.change())
        except lifecycle.TransitionError as exc:
            form.add_error(None, exc.message)
        else:
            if result.changed:
                messages.success(
                    request, M_STATUS_CHANGED.format(changed=result.changed, label=Status(target).label)
                )
            for reason, n in result.refused.items():
                messages.warning(request, M_STATUS_REFUSED.format(n=n, reason=reason))
            return redirect(back)
    context = {"form": form, "n_leads": leads.count(), "back": back}
    return render(request, "leads/bulk_status.html", context)


def _editor_context(editor: LeadEditor, **extra) -> dict:
    return {
        "editor": editor,
        "form": editor.form,
        "required_names": editor.required_names,
        "campaign": editor.campaign,
        "variable_template_form": VariableFormSet(prefix="__vp__").empty_form,
        **extra,
    }


def _lead_form(request: HttpRequest, editor: LeadEditor, lead: Lead | None = None) -> HttpResponse:
    """The lead form; a valid post is one service call (its refusal shown on the form's fields)."""
    if request.method == "POST" and editor.is_valid():
        try:
            if lead is None:
                result = services.lead_create(**editor.arguments())
            else:
                result = services.lead_update(lead=lead, user=request.user, **editor.arguments())
        except (validation.LeadInvalid, lifecycle.TransitionError) as exc:
            editor.add_errors(exc)
        else:
            messages.success(request, M_SAVED.format(phone=result.lead.phone))
            for warning in result.warnings:
                messages.warning(request, warning)
            return redirect(result.lead)
    return render(request, "leads/lead_form.html", _editor_context(editor, lead=lead))


@require_http_methods(["GET", "POST"])
def lead_create(request: HttpRequest) -> HttpResponse:
    access.require(request, "leads.add_lead")
    return _lead_form(request, LeadEditor(request.POST or None))


@require_http_methods(["GET", "POST"])
def lead_edit(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _get_lead_for_user(request, pk, perm="leads.change_lead", assistant=True)
    return _lead_form(request, LeadEditor(request.POST or None, lead=lead), lead)


@require_GET
def lead_form_variables(request: HttpRequest) -> HttpResponse:
    """htmx: the variables section for the chosen campaign, pre-filled, with the move check."""
    access.require(request, "leads.add_lead", "leads.change_lead", any_of=True)
    campaign_id = selectors.parse_id(request.GET.get("campaign", ""))
    campaign = (
        Campaign.objects.select_related("assistant")
        .prefetch_related("assistant__variables")
        .filter(pk=campaign_id)
        .first()
        if campaign_id is not None
        else None
    )
    current = raw_values(request.GET, "vars")
    lead = None
    lead_id = selectors.parse_id(request.GET.get("lead", ""))
    if lead_id is not None:
        lead = selectors.leads_for_user(request.user).filter(pk=lead_id).first()
    context: dict = {"campaign": campaign, "required_names": set()}
    rows = [{"name": k, "value": v} for k, v in current.items()]
    if campaign is not None:
        rows, filled = prefill(campaign.assistant, current, parse_prefilled(request.GET.get("prefilled")))
        context["prefilled_json"] = json.dumps(filled)
        context["required_names"] = set(lead_variables.required_names(campaign.assistant))
        values = {r["name"]: r["value"] for r in rows}
        if lead is not None and lead.campaign_id != campaign.pk:
            context["move_check"] = lead_variables.check_move(values, campaign.assistant)
    context["variables"] = VariableFormSet(prefix="vars", initial=rows)
    return render(request, "leads/_variables.html", context)


BUTTON_LABELS = {Status.CREATED: "Reset to Created", Status.SCHEDULED: "Schedule"}


def status_actions(lead: Lead) -> list[dict]:
    """The lead page's status buttons: what each does, and a question where the lead leaves the queue."""
    actions = []
    for target in lifecycle.allowed_manual_targets(lead.status):
        label = Status(target).label
        confirm = None
        if not lifecycle.is_queued(target):
            confirm = lifecycle.CONFIRM_LEAVING_QUEUE.format(phone=lead.phone, label=label)
        actions.append(
            {
                "value": target,
                "button": BUTTON_LABELS.get(target, label),
                "explained": lifecycle.MANUAL_EXPLAINED[target],
                "confirm": confirm,
            }
        )
    return actions


@require_GET
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _get_lead_for_user(request, pk, perm="leads.view_lead", assistant=True)
    assistant = lead.campaign.assistant
    template = assistant.message_template
    contacts = list(lead.contacts.all())
    removed = lead.removed_variables
    primary_values = lead_variables.effective(assistant, lead.variables, removed=removed)
    # Shown in the assistant's order, then the lead's own extra variables.
    order = {v.name: i for i, v in enumerate(lead_variables.definitions(assistant))}
    shown = dict(sorted(primary_values.items(), key=lambda item: order.get(item[0], len(order))))
    messages_rendered = [("Primary", lead.phone, lead_variables.render_message(template, primary_values))]
    for i, contact in enumerate(contacts, start=1):
        values = lead_variables.effective(assistant, lead.variables, contact.variables, removed)
        messages_rendered.append(
            (f"Secondary {i}", contact.phone, lead_variables.render_message(template, values))
        )
    context = {
        "lead": lead,
        "assistant": assistant,
        "effective": shown,
        "required_names": set(lead_variables.required_names(assistant)),
        "contacts": contacts,
        "rendered": messages_rendered,
        "history": lead.history.select_related("user").order_by("at", "id"),
        "calls": lead.calls.order_by("started_at", "id"),
        "status_actions": status_actions(lead),
        "next_call": campaign_live.next_call(lead),
    }
    return render(request, "leads/lead_detail.html", context)


@require_POST
def lead_status(request: HttpRequest, pk: int) -> HttpResponse:
    """A quick manual override from the lead page or the table; back to where the operator was."""
    lead = _get_lead_for_user(request, pk, perm="leads.change_lead")
    back = _next_url(request, lead.get_absolute_url())
    form = StatusForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    target = form.cleaned_data["target"]
    try:
        lifecycle.set_status(lead, target, user=request.user, **form.change())
    except lifecycle.TransitionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, M_STATUS_SET.format(phone=lead.phone, label=Status(target).label))
    return redirect(back)
