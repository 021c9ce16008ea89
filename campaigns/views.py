from __future__ import annotations

from django.contrib.auth.decorators import login_not_required, permission_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from . import runner
from .models import Campaign
from .providers import signing


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
