"""The project's own pages: health checks (the apps own everything else)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from leadmgr import health


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """200 when the database answers, else 503; says nothing else to the anonymous caller."""
    if health.database_reachable():
        return HttpResponse("ok\n", content_type="text/plain")
    return HttpResponse("unavailable\n", content_type="text/plain", status=503)


@never_cache
@require_GET
def healthz_detail(request: HttpRequest) -> JsonResponse:
    if not request.user.is_superuser:
        raise Http404
    checks = health.run_detail_checks()
    ok = all(check.ok for check in checks)
    return JsonResponse(
        {"status": "ok" if ok else "failing", "checks": [check.as_dict() for check in checks]},
        status=200 if ok else 503,
    )
