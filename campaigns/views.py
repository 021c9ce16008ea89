"""Campaign pages (the list and one campaign, with leads per status and the start preview) and the
http provider's callback endpoint."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from leads import selectors
from leads.models import Status
from leads.tables import STATUS_BADGES

from . import runner
from .models import Campaign
from .providers import signing


def status_bars(campaign_id: int, counts: dict[str, int]) -> dict:
    """The chart's data: one bar per status with its share and a link into the leads table."""
    total = sum(counts.values())
    bars = [
        {
            "status": status,
            "label": Status(status).label,
            "n": n,
            "percent": round(100 * n / total, 1) if total else 0,
            "badge": STATUS_BADGES[status],
            "url": "/leads/?" + urlencode({"campaign": campaign_id, "status": status}),
        }
        for status, n in counts.items()
    ]
    return {"total": total, "bars": bars, "url": "/leads/?" + urlencode({"campaign": campaign_id})}


@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("campaigns.view_campaign"):
        raise PermissionDenied
    campaigns = list(selectors.campaigns_for_user(request.user).select_related("assistant"))
    counts = selectors.status_counts_by_campaign()
    empty = dict.fromkeys(Status.values, 0)
    rows = [(c, status_bars(c.pk, counts.get(c.pk, empty))) for c in campaigns]
    return render(request, "campaigns/campaign_list.html", {"rows": rows})


@require_GET
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(
        selectors.campaigns_for_user(request.user)
        .select_related("assistant")
        .prefetch_related("assistant__variables"),
        pk=pk,
    )
    context = {
        "campaign": campaign,
        "chart": status_bars(campaign.pk, selectors.status_counts(campaign)),
        "variables": campaign.assistant.variables.all(),
    }
    return render(request, "campaigns/campaign_detail.html", context)


@csrf_exempt
@login_not_required
@require_POST
def http_callback(request: HttpRequest) -> JsonResponse:
    """The http provider posts call results here, signed (see README: Providers)."""
    status, answer = runner.accept_callback(
        request.body,
        request.headers.get(signing.TIMESTAMP_HEADER),
        request.headers.get(signing.SIGNATURE_HEADER),
    )
    return JsonResponse(answer, status=status)


@require_GET
@permission_required("campaigns.view_campaign", raise_exception=True)
def start_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The "if started now" partial of a campaign page (also loaded on its own with htmx)."""
    campaign = get_object_or_404(Campaign, pk=pk)
    return render(
        request,
        "campaigns/_start_preview.html",
        {"campaign": campaign, "preview": runner.preview_start(campaign)},
    )
