from __future__ import annotations

from django.contrib import admin

from leadmgr.admin import ReadOnlyAdmin

from .models import CallingRules, CampaignCaps, DoNotCallEntry, Erasure, ExportRecord, RegionRule


@admin.register(CallingRules)
class CallingRulesAdmin(admin.ModelAdmin):
    """The site's one row of rules: the legal hours floor and the frequency caps."""

    list_display = [
        "__str__",
        "floor_start",
        "floor_end",
        "max_dials_per_day",
        "max_dials_per_week",
        "min_gap",
    ]
    fieldsets = [
        ("Legal calling hours (callee's local time)", {"fields": ["floor_days", "floor_start", "floor_end"]}),
        (
            "Frequency caps across campaigns",
            {"fields": ["max_dials_per_day", "max_dials_per_week", "min_gap"]},
        ),
    ]

    def has_add_permission(self, request) -> bool:
        # The migration made the one row (edit it); the app list asks this on every admin page.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CampaignCaps)
class CampaignCapsAdmin(admin.ModelAdmin):
    list_display = ["campaign", "max_dials_per_day", "max_dials_per_week", "min_gap"]


@admin.register(RegionRule)
class RegionRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "country", "days", "start", "end", "source"]
    list_filter = ["country"]
    search_fields = ["name", "prefixes"]


@admin.register(DoNotCallEntry)
class DoNotCallEntryAdmin(ReadOnlyAdmin):
    """Read here; changed on the list pages (/compliance/do-not-call/), where removals are recorded."""

    list_display = ["number", "campaign", "source", "reason", "added_at", "removed_at"]
    list_filter = ["source", ("campaign", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["=number"]
    show_full_result_count = False
    list_select_related = ["campaign"]


@admin.register(Erasure)
class ErasureAdmin(ReadOnlyAdmin):
    list_display = [
        "performed_at",
        "performed_by",
        "channel",
        "leads_deleted",
        "contacts_deleted",
        "calls_scrubbed",
    ]


@admin.register(ExportRecord)
class ExportRecordAdmin(ReadOnlyAdmin):
    list_display = ["at", "user", "channel", "rows", "filters", "columns"]
    list_filter = ["channel"]
