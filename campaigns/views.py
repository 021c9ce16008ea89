"""Campaign pages (the list and one campaign, with leads per status and the start preview) and the
http provider's callback endpoint."""

from __future__ import annotations

import datetime as dt
import hashlib
from html import escape

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leadcounts import selectors as counts_selectors
from leadmgr import access
from leadmgr.forms import typed_rows
from leads import selectors as lead_selectors
from leads import variables as lead_variables
from leads.models import Lead, Status
from leads.tables import STATUS_BADGES

from . import callbacks, controls, live, outlook, page, preview, results, selectors, services
from .forms import AssistantForm, CampaignForm, VariableDefinitionFormSet, definition_rows
from .models import Assistant, Campaign
from .providers import signing


def status_bars(campaign_id: int, counts: dict[str, int]) -> dict:
    """The chart's data: one bar per status with its share and a link into the leads table."""
    total = sum(counts.values())
    # An id and a status slug need no quoting: the links are formatted, not urlencoded (the list
    # builds 1,400 of them).
    table = f"{reverse('leads:list')}?campaign={int(campaign_id)}"
    bars = [
        {
            "status": status,
            "label": Status(status).label,
            "n": n,
            "percent": round(100 * n / total, 1) if total else 0,
            "badge": STATUS_BADGES[status],
            "url": f"{table}&status={status}",
        }
        for status, n in counts.items()
    ]
    return {"total": total, "bars": bars, "url": table}


def list_row_html(campaign: Campaign, chart: dict, detail_url: str) -> str:
    """One campaign's row of the list, built here with one escape per text: 200 rows through the
    template engine (or format_html per cell) cost several times the 50 ms the page may take."""
    cells = "".join(
        f'<td class="text-end" data-status="{bar["status"]}"><a href="{escape(bar["url"])}" data-count>'
        f"{bar['n']:,}</a></td>"
        for bar in chart["bars"]
    )
    return mark_safe(
        f'<tr data-campaign="{campaign.pk}"><td><a href="{escape(detail_url)}">{escape(campaign.name)}</a> '
        f'<span class="badge text-bg-light">{escape(campaign.get_state_display())}</span></td>'
        f'<td class="small">{escape(campaign.assistant.name)}</td>{cells}'
        f'<td class="text-end"><a href="{escape(chart["url"])}" data-total>{chart["total"]:,}</a></td></tr>'
    )


@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    access.require(request, "campaigns.view_campaign")
    campaigns = list(lead_selectors.campaigns_for_user(request.user).select_related("assistant"))
    counts = counts_selectors.status_counts_by_campaign()
    empty = dict.fromkeys(Status.values, 0)
    rows = [(c, status_bars(c.pk, counts.get(c.pk, empty))) for c in campaigns]
    detail = reverse("campaigns:detail", args=[0])[: -len("0/")]  # /campaigns/<id>/ for each row
    for campaign, chart in rows:
        chart["row_html"] = list_row_html(campaign, chart, f"{detail}{campaign.pk}/")
    context = {
        "rows": rows,
        "can_pause_all": request.user.has_perm(controls.PAUSE_ALL),
        "any_running": any(c.state == Campaign.State.RUNNING for c in campaigns),
        "runners": selectors.live_runners(),
        "status_labels": Status.labels,
    }
    return render(request, "campaigns/campaign_list.html", context)


# The latest state changes on a campaign page (the whole record is in the admin).
STATE_CHANGES_SHOWN = 20


@require_GET
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    # Campaign, assistant, variables and the legal floor in one read (campaigns/page.py: 8 queries in all).
    read = _get_campaign_page_for_user(request, pk)
    campaign = read.campaign
    context = {
        "campaign": campaign,
        "chart": status_bars(campaign.pk, counts_selectors.status_counts(campaign.pk)),
        "variables": read.variables,
        "floor_rules": read.floor,
        **results.chart_context(campaign.pk),
        "controls": [
            (action, controls.TRANSITIONS[action].label)
            for action in controls.available_actions(campaign, request.user)
        ],
        "state_changes": campaign.state_changes.select_related("changed_by")[:STATE_CHANGES_SHOWN],
        "refresh": LIVE_REFRESH_SECONDS,
    }
    return render(request, "campaigns/campaign_detail.html", context)


@csrf_exempt
@login_not_required
@require_POST
def http_callback(request: HttpRequest) -> JsonResponse:
    """The http provider posts call results here, signed (see README: Providers)."""
    status, answer = callbacks.accept_callback(
        request.body,
        request.headers.get(signing.TIMESTAMP_HEADER),
        request.headers.get(signing.SIGNATURE_HEADER),
    )
    return JsonResponse(answer, status=status)


@require_GET
def start_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The "if started now" partial of a campaign page (also loaded on its own with htmx)."""
    access.require(request, "campaigns.view_campaign")  # an outsider gets 403 here, not 404
    campaign = _get_campaign_for_user(request, pk, perm="campaigns.view_campaign")
    return render(
        request,
        "campaigns/_start_preview.html",
        {"campaign": campaign, "preview": preview.preview_start(campaign)},
    )


# --- steering: Start, Pause, Resume, Finish, Pause all (campaigns/controls.py) -----------------------

M_CONTROLLED = "{name} was {done}."


def _get_campaign_for_user(
    request: HttpRequest, pk: int, *, perm: str, variables: bool = False, live_at: dt.datetime | None = None
) -> Campaign:
    """The campaign (with its assistant), 404 for a user who may not see campaigns, 403 without
    ``perm``. ``variables``: with the assistant's variables; ``live_at``: with the live part's
    annotations at that time (``live.with_live``)."""
    campaigns = lead_selectors.campaigns_for_user(request.user).select_related("assistant")
    if variables:
        campaigns = campaigns.prefetch_related("assistant__variables")
    if live_at is not None:
        campaigns = live.with_live(campaigns, live_at)
    return access.get_for_user(request, campaigns, pk, perm=perm)


def _get_campaign_page_for_user(request: HttpRequest, pk: int) -> page.PageCampaign:
    """The campaign page's one read (``page.campaign_for_page``) with ``_get_campaign_for_user``'s
    answers: 404 outside the user's campaigns, then 403 without the view permission."""
    read = page.campaign_for_page(pk, lead_selectors.campaigns_for_user(request.user))
    if read is None:
        raise Http404
    access.require(request, "campaigns.view_campaign")
    return read


def _reason(request: HttpRequest) -> str:
    return request.POST.get("reason", "")[: controls.REASON_MAX_LENGTH]


@require_GET
def control_confirm(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """The confirmation of a control: what it will do, in numbers, and an optional reason."""
    action = controls.Action(action)
    campaign = _get_campaign_for_user(request, pk, perm=controls.TRANSITIONS[action].permission)
    allowed = campaign.state in controls.TRANSITIONS[action].sources
    context = {
        "campaign": campaign,
        "action": action,
        "label": controls.TRANSITIONS[action].label,
        "refusal": None if allowed else controls.refusal(campaign, action),
        "outlook": outlook.control_outlook(campaign, action) if allowed else "",
        "post_url": reverse(f"campaigns:{action.value}", args=[campaign.pk]),
        "reason_max": controls.REASON_MAX_LENGTH,
    }
    return render(request, "campaigns/control_confirm.html", context)


@require_POST
def control(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Apply a control (after its confirmation) and go back to the campaign page with the outcome."""
    action = controls.Action(action)
    campaign = _get_campaign_for_user(request, pk, perm=controls.TRANSITIONS[action].permission)
    try:
        controls.change_state(campaign, action, user=request.user, reason=_reason(request))
    except controls.ControlRefused as refused:
        messages.error(request, refused.message)
    else:
        done = controls.TRANSITIONS[action].done
        messages.success(request, M_CONTROLLED.format(name=campaign.name, done=done))
    return redirect("campaigns:detail", pk=campaign.pk)


M_PAUSED_ALL = "Paused {n} running campaign(s): {names}."
M_NOTHING_RUNNING = "No campaign was running: nothing was paused."


@require_GET
def pause_all_confirm(request: HttpRequest) -> HttpResponse:
    access.require(request, controls.PAUSE_ALL)
    context = {"outlook": outlook.pause_all_outlook(), "reason_max": controls.REASON_MAX_LENGTH}
    return render(request, "campaigns/pause_all_confirm.html", context)


@require_POST
def pause_all(request: HttpRequest) -> HttpResponse:
    access.require(request, controls.PAUSE_ALL)
    changes = controls.pause_all(user=request.user, reason=_reason(request))
    if changes:
        names = ", ".join(
            Campaign.objects.filter(pk__in=[c.campaign_id for c in changes])
            .order_by("name")
            .values_list("name", flat=True)
        )
        messages.success(request, M_PAUSED_ALL.format(n=len(changes), names=names))
    else:
        messages.info(request, M_NOTHING_RUNNING)
    return redirect("campaigns:list")


# --- creating and editing campaigns ----------------------------------------------------------------

M_CAMPAIGN_SAVED = "Campaign {name} saved."


def _campaign_form(request: HttpRequest, campaign: Campaign | None = None) -> HttpResponse:
    form = CampaignForm(request.POST or None, instance=campaign)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, M_CAMPAIGN_SAVED.format(name=saved.name))
        return redirect("campaigns:detail", pk=saved.pk)
    return render(request, "campaigns/campaign_form.html", {"form": form, "campaign": campaign})


@require_http_methods(["GET", "POST"])
def campaign_create(request: HttpRequest) -> HttpResponse:
    access.require(request, "campaigns.add_campaign")
    return _campaign_form(request)


@require_http_methods(["GET", "POST"])
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _campaign_form(request, _get_campaign_for_user(request, pk, perm="campaigns.change_campaign"))


# --- assistants ------------------------------------------------------------------------------------

M_ASSISTANT_SAVED = "Assistant {name} saved."
PREVIEW_LEADS = 3


def _get_assistant_for_user(request: HttpRequest, pk: int, *, perm: str) -> Assistant:
    """The assistant: 403 without ``perm`` (assistants are no secret: no 404 first), then 404."""
    access.require(request, perm)
    return get_object_or_404(Assistant, pk=pk)


@require_GET
def assistant_list(request: HttpRequest) -> HttpResponse:
    access.require(request, "campaigns.view_assistant")
    assistants = Assistant.objects.annotate(
        n_variables=Count("variables", distinct=True), n_campaigns=Count("campaigns", distinct=True)
    ).order_by("name")
    return render(request, "campaigns/assistant_list.html", {"assistants": assistants})


def _assistant_editor(request: HttpRequest, assistant: Assistant) -> HttpResponse:
    """The assistant form and its variables; a change that affects existing leads is confirmed first."""
    form = AssistantForm(request.POST or None, instance=assistant)
    variables = VariableDefinitionFormSet(
        request.POST or None, prefix="vars", initial=None if request.POST else definition_rows(assistant)
    )
    impact: list[str] = []
    if request.method == "POST" and form.is_valid() and variables.is_valid():
        definitions = variables.definitions()
        impact = selectors.assistant_change_impact(assistant, definitions)
        fingerprint = _fingerprint(impact)
        if not impact or request.POST.get("confirmed") == fingerprint:
            assistant = services.assistant_save(assistant=form.save(commit=False), definitions=definitions)
            messages.success(request, M_ASSISTANT_SAVED.format(name=assistant.name))
            return redirect("assistants:assistant_list")
    context = {
        "form": form,
        "variables": variables,
        "assistant": assistant if assistant.pk else None,
        "impact": impact,
        "fingerprint": _fingerprint(impact),
    }
    return render(request, "campaigns/assistant_form.html", context)


def _fingerprint(impact: list[str]) -> str:
    """What the operator confirmed: a different impact (someone changed leads meanwhile) asks again."""
    return hashlib.sha256("\n".join(impact).encode()).hexdigest()[:16] if impact else ""


@require_http_methods(["GET", "POST"])
def assistant_create(request: HttpRequest) -> HttpResponse:
    access.require(request, "campaigns.add_assistant")
    return _assistant_editor(request, Assistant())


@require_http_methods(["GET", "POST"])
def assistant_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _assistant_editor(request, _get_assistant_for_user(request, pk, perm="campaigns.change_assistant"))


@require_GET
def assistant_preview(request: HttpRequest) -> HttpResponse:
    """htmx: the message as typed, rendered for a few real leads of the assistant's campaigns (or its
    defaults alone), with the placeholders no value fills."""
    access.require(request, "campaigns.view_assistant")
    template = request.GET.get("message_template", "")[:10_000]
    defaults = {
        name: row.get("default", "")
        for name, row in _typed_definitions(request.GET).items()
        if lead_variables.is_set(row.get("default"))
    }
    assistant_id = lead_selectors.parse_id(request.GET.get("assistant", ""))
    samples: list[tuple[str, dict]] = []
    if assistant_id is not None:
        leads = Lead.objects.filter(campaign__assistant_id=assistant_id).order_by("-pk")
        samples = [
            (phone, values) for phone, values in leads.values_list("phone", "variables")[:PREVIEW_LEADS]
        ]
    if not samples:
        samples = [("defaults only", {})]
    rendered = [
        (label, lead_variables.render_message(template, defaults | _set_values(values)))
        for label, values in samples
    ]
    return render(request, "campaigns/_assistant_preview.html", {"rendered": rendered})


def _set_values(values: object) -> dict:
    if not isinstance(values, dict):
        return {}
    return {k: v for k, v in values.items() if lead_variables.is_set(v)}


def _typed_definitions(data) -> dict[str, dict]:
    """The variable rows as typed (not yet valid), read straight from the form's fields."""
    return {
        name: {"default": data.get(f"{row}default", "")} for name, row in typed_rows(data, "vars", limit=200)
    }


# --- the live part of a campaign page (htmx polling) ------------------------------------------------

LIVE_REFRESH_SECONDS = 3


@require_GET
def campaign_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The refreshing fragment of a campaign page: leads per status, calls under way, latest attempts,
    next due time and why, what waits and why, runner liveness."""
    now = timezone.now()
    campaign = _get_campaign_for_user(request, pk, perm="campaigns.view_campaign", live_at=now)
    context = {
        "campaign": campaign,
        "chart": status_bars(campaign.pk, counts_selectors.status_counts(campaign.pk)),
        "refresh": LIVE_REFRESH_SECONDS,
        **live.live_context(campaign, now),
    }
    return render(request, "campaigns/_live.html", context)
