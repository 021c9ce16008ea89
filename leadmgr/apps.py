from __future__ import annotations

from django.apps import AppConfig
from django.contrib import admin
from django.contrib.admin import apps as admin_apps
from django.contrib.admin.checks import check_admin_app, check_dependencies
from django.core import checks


class LeadmgrConfig(AppConfig):
    name = "leadmgr"
    default = True  # the app's config; AdminConfig below is named in INSTALLED_APPS for the admin

    def ready(self) -> None:
        from leadmgr import checks  # noqa: F401  (registers the system checks)
        from leadmgr.adaptations import remember_render_signatures

        remember_render_signatures()  # library adaptations: leadmgr/adaptations.py


def check_discovered_admin(app_configs, **kwargs):
    """The admin's own checks of every ModelAdmin, after the admin modules are imported."""
    admin.autodiscover()
    return check_admin_app(app_configs, **kwargs)


class AdminConfig(admin_apps.SimpleAdminConfig):
    """Django's admin with its ``admin.py`` modules imported by the URLconf (``leadmgr/urls.py``),
    not at start-up: a process that serves no page (``import_leads``, ``export_leads``, the
    runner) does not pay for them. The admin modules pull in django-import-export, tablib,
    openpyxl and PyYAML: an eighth of a second of every command's start. The admin's system
    checks discover first, so ``manage.py check`` still checks every ModelAdmin."""

    def ready(self) -> None:
        checks.register(check_dependencies, checks.Tags.admin)
        checks.register(check_discovered_admin, checks.Tags.admin)
