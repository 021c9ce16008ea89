"""The admin's records: what the app writes is listed there, never added or edited by hand."""

from __future__ import annotations

from django.contrib import admin

from campaigns.models import RunnerDecision, TestCall
from compliance.models import DoNotCallEntry, Erasure, ExportRecord
from leadmgr.apps import check_discovered_admin


def permissions(model, request) -> tuple[bool, bool, bool]:
    admin.autodiscover()  # as the URLconf does (leadmgr/apps.py): the registry fills on first use
    model_admin = admin.site._registry[model]
    return (
        model_admin.has_add_permission(request),
        model_admin.has_change_permission(request),
        model_admin.has_delete_permission(request),
    )


def test_records_are_never_added_or_changed_and_some_never_deleted(rf, admin_user):
    request = rf.get("/admin/")
    request.user = admin_user
    for model in (RunnerDecision, TestCall):
        assert permissions(model, request) == (False, False, True), model
    for model in (DoNotCallEntry, Erasure, ExportRecord):
        assert permissions(model, request) == (False, False, False), model


def test_the_admin_checks_discover_the_admin_modules_first():
    """The admin modules load with the URLconf, not at start-up (leadmgr/apps.py); the admin's
    system checks import them before checking, so a broken ModelAdmin is still reported."""

    class Broken(admin.ModelAdmin):
        list_display = ["no_such_field"]

    site = admin.AdminSite(name="broken")
    site.register(TestCall, Broken)
    errors = check_discovered_admin(None)
    assert [e.id for e in errors if e.obj is Broken] == ["admin.E108"]
    assert TestCall in admin.site._registry  # the site's own registrations are there too


def test_each_app_has_its_own_config():
    """leadmgr/apps.py holds two configs: the project's (its checks, its library adaptations) and
    the admin's; neither may take the other's place."""
    from django.apps import apps

    from leadmgr.apps import AdminConfig, LeadmgrConfig

    assert type(apps.get_app_config("leadmgr")) is LeadmgrConfig
    assert type(apps.get_app_config("admin")) is AdminConfig
