"""System checks for the runner's provider settings: a bad combination stops start-up, not a call."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from .providers.simulated import parse_mix

E_HTTP_URL = "LEADMGR_PROVIDER=http needs LEADMGR_PROVIDER_URL (where call requests are POSTed)."
E_HTTP_SECRET = "LEADMGR_PROVIDER=http needs LEADMGR_PROVIDER_SECRET (signs requests and callbacks)."
E_TIMEOUT = "LEADMGR_PROVIDER_TIMEOUT must be at least 1 second."
E_LEASE = "LEADMGR_RUNNER_LEASE ({lease} s) must be longer than LEADMGR_PROVIDER_TIMEOUT ({timeout} s)."
E_SPEEDUP = "LEADMGR_SIMULATED_SPEEDUP must be 0 (results at once) or more."
W_CALLBACK_HTTP = "LEADMGR_CALLBACK_BASE_URL is not https while DEBUG is off: results would travel in clear."


@checks.register()
def check_provider_settings(app_configs, **kwargs) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    if settings.LEADMGR_PROVIDER == "http":
        if not settings.LEADMGR_PROVIDER_URL:
            errors.append(checks.Error(E_HTTP_URL, id="campaigns.E001"))
        if not settings.LEADMGR_PROVIDER_SECRET:
            errors.append(checks.Error(E_HTTP_SECRET, id="campaigns.E002"))
        if not settings.DEBUG and not settings.LEADMGR_CALLBACK_BASE_URL.startswith("https://"):
            errors.append(checks.Warning(W_CALLBACK_HTTP, id="campaigns.W001"))
    if settings.LEADMGR_PROVIDER_TIMEOUT < 1:
        errors.append(checks.Error(E_TIMEOUT, id="campaigns.E003"))
    if settings.LEADMGR_RUNNER_LEASE <= settings.LEADMGR_PROVIDER_TIMEOUT:
        errors.append(
            checks.Error(
                E_LEASE.format(
                    lease=settings.LEADMGR_RUNNER_LEASE, timeout=settings.LEADMGR_PROVIDER_TIMEOUT
                ),
                id="campaigns.E004",
            )
        )
    try:
        parse_mix(settings.LEADMGR_SIMULATED_MIX)
    except ValueError as exc:
        errors.append(checks.Error(str(exc), id="campaigns.E005"))
    if settings.LEADMGR_SIMULATED_SPEEDUP < 0:
        errors.append(checks.Error(E_SPEEDUP, id="campaigns.E006"))
    return errors
