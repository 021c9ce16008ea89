"""The admin's records: what the app writes is listed there, never added or edited by hand."""

from __future__ import annotations

from django.contrib import admin

from campaigns.models import RunnerDecision, TestCall
from compliance.models import DoNotCallEntry, Erasure, ExportRecord


def permissions(model, request) -> tuple[bool, bool, bool]:
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
