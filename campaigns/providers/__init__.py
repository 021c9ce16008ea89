"""Telephony providers behind one interface (``base.Provider``), chosen by ``LEADMGR_PROVIDER``."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .base import OUTCOMES, SUCCESS, CallRequest, CallResult, Placement, Provider
from .http import HttpProvider
from .simulated import SimulatedProvider, parse_mix

E_HTTP_NEEDS = "LEADMGR_PROVIDER=http needs LEADMGR_PROVIDER_URL and LEADMGR_PROVIDER_SECRET."

__all__ = ["OUTCOMES", "SUCCESS", "CallRequest", "CallResult", "Placement", "Provider", "get_provider"]


def get_provider() -> Provider:
    """The provider the settings choose, configured from them."""
    if settings.LEADMGR_PROVIDER == "http":
        if not settings.LEADMGR_PROVIDER_URL or not settings.LEADMGR_PROVIDER_SECRET:
            raise ImproperlyConfigured(E_HTTP_NEEDS)
        return HttpProvider(
            url=settings.LEADMGR_PROVIDER_URL,
            secret=settings.LEADMGR_PROVIDER_SECRET,
            timeout=settings.LEADMGR_PROVIDER_TIMEOUT,
        )
    try:
        mix = parse_mix(settings.LEADMGR_SIMULATED_MIX)
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None
    return SimulatedProvider(
        mix=mix, seed=settings.LEADMGR_SIMULATED_SEED, speedup=settings.LEADMGR_SIMULATED_SPEEDUP
    )
