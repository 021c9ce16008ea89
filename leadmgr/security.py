"""Sign-in protection (django-axes hooks): the client address behind proxies, the lockout page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

LOCKOUT_TEMPLATE = "registration/locked_out.html"


def client_ip(request: HttpRequest) -> str | None:
    """The address failed sign-ins are counted against.

    With ``LEADMGR_PROXY_COUNT = 0`` it is the connection's own address: X-Forwarded-For is ignored,
    since any client can send one. Behind N proxies, each appends the address it received the request
    from, so the N-th entry from the right is the one the outermost proxy saw, and entries to its left
    (written by the client) are never trusted. A request that passed fewer proxies than configured
    did not come through them: its connection address is used.
    """
    remote = request.META.get("REMOTE_ADDR")
    count = settings.LEADMGR_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < count:
        return remote
    return forwarded[-count]


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """The page for a locked-out sign-in (429), the same whether or not the username exists."""
    context = {
        "failure_limit": settings.LEADMGR_LOGIN_FAILURE_LIMIT,
        "minutes": settings.LEADMGR_LOGIN_LOCKOUT_MINUTES,
    }
    return render(request, LOCKOUT_TEMPLATE, context, status=429)
