"""Activate the signed-in user's time zone for the whole request (accounts/zones.py)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import SESSION_KEY as USER_KEY
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from . import zones


class TimeZoneMiddleware:
    """The session's zone (set at sign-in) is active while the view and its templates run; a
    session from before zones were kept reads the profile once and keeps the answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = None
        session = getattr(request, "session", None)
        if session is not None and session.session_key:
            name = session.get(zones.SESSION_KEY)
            if name is None and session.get(USER_KEY) is not None:
                name = session[zones.SESSION_KEY] = zones.zone_of(session[USER_KEY])
            zone = zones.parse(name)
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
