"""The project's own pages: health checks (the apps own everything else)."""

from __future__ import annotations

import json
import sys

from django.contrib.auth.decorators import login_not_required
from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults
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


E_DATABASE_BUSY = (
    "The database is busy with a long write (such as a large import) and could not answer in time. "
    "Try again in a moment."
)
# Seconds a client is told to wait before it tries again.
BUSY_RETRY_AFTER = 5


def is_database_busy(exc: BaseException | None) -> bool:
    """SQLite's one writer at a time: a write that waited its busy timeout out behind another."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a write that lost the wait for SQLite's lock is a 503 that says to try again (a
    temporary state, not a bug); every other error is Django's own 500 page.

    The busy page reads nothing from the database (which is what is busy): no base template, no
    user, no permissions."""
    if not is_database_busy(sys.exc_info()[1]):
        return defaults.server_error(request)
    if request.path.startswith("/api/"):
        body = {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": E_DATABASE_BUSY,
        }
        response = HttpResponse(json.dumps(body), status=503, content_type="application/problem+json")
    else:
        response = HttpResponse(render_to_string("503_busy.html", {"message": E_DATABASE_BUSY}), status=503)
    response["Retry-After"] = str(BUSY_RETRY_AFTER)
    return response
