"""Admin classes the apps share (nothing is registered here)."""

from __future__ import annotations

from django.contrib import admin


class RecordAdmin(admin.ModelAdmin):
    """Rows the app writes as a record: listed (and deletable) here, never added or edited by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(RecordAdmin):
    """A record not even deleted here."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
