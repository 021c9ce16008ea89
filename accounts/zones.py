"""Each user's time zone: kept in their profile, carried in their session, active on every request.

The zone is read from the profile once, when the user signs in (``user_logged_in``), and kept in
the session, so a page costs no query for it: the session is read for the sign-in check anyway.
The profile page writes both. Django then shows every time in it (``localtime``, the ``date``
filter) and reads every typed date and time in it (form ``DateTimeField``s).
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.utils import timezone

SESSION_KEY = "leadmgr_time_zone"

E_SCHEDULED_PAST = (
    "{at} ({zone}) is in the past: choose a time from now on (times are read in {zone}, your time zone)."
)


@functools.cache
def known_zones() -> tuple[str, ...]:
    """The IANA zone names this Python knows, sorted (the profile page's choices)."""
    return tuple(sorted(_known()))


@functools.cache
def _known() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def parse(name: object) -> zoneinfo.ZoneInfo | None:
    """The zone of a known name, else None (a session or profile holding a name no longer known)."""
    if not isinstance(name, str) or name not in _known():
        return None
    return zoneinfo.ZoneInfo(name)


def site_zone() -> str:
    return settings.TIME_ZONE


def zone_of(user_id: object) -> str:
    """The zone a user chose, or the site's (one query)."""
    from .models import Profile

    chosen = Profile.objects.filter(user_id=user_id).values_list("time_zone", flat=True).first()
    return chosen if parse(chosen) else site_zone()


def remember(request, name: str) -> None:
    """Keep ``name`` as this session's zone and use it for the rest of the request."""
    request.session[SESSION_KEY] = name
    timezone.activate(zoneinfo.ZoneInfo(name))


@receiver(user_logged_in, dispatch_uid="accounts.time_zone_at_sign_in")
def _at_sign_in(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = zone_of(user.pk)


# --- forms: a time typed in the user's zone ---------------------------------------------------------


def current_name() -> str:
    return timezone.get_current_timezone_name()


def zoned_label(label: str) -> str:
    """'Scheduled at' → 'Scheduled at (Europe/Berlin)': the zone a typed time is read in."""
    return f"{label} ({current_name()})"


def refuse_past(form, field: str, now: dt.datetime | None = None) -> None:
    """Add an error to ``form`` when its cleaned ``field`` is a time before now."""
    at = form.cleaned_data.get(field)
    if at is not None and at < (now or timezone.now()):
        shown = timezone.localtime(at).strftime("%Y-%m-%d %H:%M")
        form.add_error(field, E_SCHEDULED_PAST.format(at=shown, zone=current_name()))
