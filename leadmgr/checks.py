"""System checks that refuse unsafe or inconsistent settings before the server starts."""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.core import checks

# settings.py raises these at import too (a WSGI server runs no checks); the checks still catch
# settings changed after import (override_settings, a settings module of one's own).
E_DEV_SECRET = (
    "SECRET_KEY is not set, or is the development key, while DEBUG is off: set SECRET_KEY to a long "
    "random string (or DEBUG=1 on a laptop)."
)
E_NO_HOSTS = "ALLOWED_HOSTS is empty while DEBUG is off: set ALLOWED_HOSTS to the site's host names."
E_BAD_REGION = "LEADMGR_DEFAULT_REGION {region!r} is not a region phonenumbers knows (try US, GB, DE)."


@checks.register(checks.Tags.security, deploy=False)
def check_production_settings(app_configs, **kwargs) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    if not settings.DEBUG and settings.SECRET_KEY == settings.DEVELOPMENT_SECRET_KEY:
        errors.append(checks.Error(E_DEV_SECRET, id="leadmgr.E001"))
    if not settings.DEBUG and not settings.ALLOWED_HOSTS:
        errors.append(checks.Error(E_NO_HOSTS, id="leadmgr.E002"))
    return errors


@checks.register()
def check_default_region(app_configs, **kwargs) -> list[checks.CheckMessage]:
    region = settings.LEADMGR_DEFAULT_REGION
    if region and region not in phonenumbers.SUPPORTED_REGIONS:
        return [checks.Error(E_BAD_REGION.format(region=region), id="leadmgr.E003")]
    return []
